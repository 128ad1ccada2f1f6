"""Dependencies point one way: desktop -> models, never back, and models never imports Qt."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "desktop", "sqlite3", "sqlite_utils")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_models_imports_neither_qt_nor_desktop_nor_sql():
    offenders = []
    for path in sorted((ROOT / "models").rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_scan_sees_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom PySide6.QtCore import Qt\ndef f():\n    import desktop.store\n")
    assert {"os", "PySide6.QtCore", "desktop.store"} <= imported_modules(sample)


def test_trust_remote_code_is_never_passed():
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("models", "desktop")
        for path in (ROOT / folder).rglob("*.py")
        if "trust_remote_code=True" in path.read_text(encoding="utf-8")
    ]
    assert not offenders
