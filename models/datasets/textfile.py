"""Read a text file whatever its encoding (UTF-8 first, then the most likely other one)."""
from __future__ import annotations

from pathlib import Path

from models.datasets.errors import DatasetError


def decode_bytes(data: bytes, name: str = "file") -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is None:
        raise DatasetError(f"{name}: not a text file (its bytes match no known text encoding)")
    # Short texts fit several code pages equally well; among equals, Windows' western one is the
    # likeliest (a spreadsheet's CSV export).
    for match in results:
        if (match.encoding == "cp1252" and match.chaos == best.chaos and match.coherence == best.coherence):
            return str(match)
    return str(best)


def read_text_file(path: Path) -> str:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, not a file") from None
    except PermissionError:
        raise DatasetError(f"{path}: permission denied") from None
    return decode_bytes(data, str(path))
