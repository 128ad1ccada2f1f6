"""Which files to read: the dropped files themselves, and every supported file under dropped folders."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from models.documents.reader import SUPPORTED_SUFFIXES


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """"1 file", "3 files"."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


@dataclass
class FoundDocuments:
    files: list[Path] = field(default_factory=list)
    unsupported: int = 0          # files of other types found in folders, left alone
    unreadable_folders: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [counted(len(self.files), "document")]
        if self.unsupported:
            parts.append(f"{counted(self.unsupported, 'file')} of other types skipped")
        if self.unreadable_folders:
            parts.append(f"{counted(len(self.unreadable_folders), 'folder')} could not be opened")
        if self.missing:
            parts.append(f"{counted(len(self.missing), 'path')} not found")
        return ", ".join(parts)


def find_documents(paths: Iterable[str | os.PathLike], cancelled: Callable[[], bool] = lambda: False,
                   suffixes: tuple[str, ...] = SUPPORTED_SUFFIXES) -> FoundDocuments:
    """Files named directly are kept whatever their type (the reader then says what is wrong);
    folders are walked recursively for supported files, in name order, without following links."""
    found = FoundDocuments()
    seen: set[Path] = set()

    def add(file: Path) -> None:
        if file not in seen:
            seen.add(file)
            found.files.append(file)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            def unreadable(error: OSError) -> None:
                found.unreadable_folders.append(str(error.filename or error))

            for folder, dirs, files in os.walk(path, onerror=unreadable):
                if cancelled():
                    return found
                dirs.sort()
                for name in sorted(files):
                    file = Path(folder) / name
                    if file.suffix.lower() in suffixes and not name.startswith("~$"):
                        add(file)
                    else:
                        found.unsupported += 1
        elif path.exists() or path.is_symlink():
            add(path)
        else:
            found.missing.append(str(path))
    return found
