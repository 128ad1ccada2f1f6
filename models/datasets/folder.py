"""A folder whose sub-folders are labels and whose files are the texts of that label.

    reviews/
        positive/  great.txt  loved-it.md
        negative/  broken.pdf

Files are read with the document reader (models.documents) when it is installed, which knows
PDF, Word and more; otherwise plain-text files (.txt, .md) are read here and others are reported.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from models.datasets.errors import DatasetError
from models.datasets.formats import BadLine, ParseResult
from models.datasets.textfile import read_text_file

PLAIN_SUFFIXES = (".txt", ".md", ".markdown", ".text")


def _plain_reader(path: Path) -> str:
    if path.suffix.lower() not in PLAIN_SUFFIXES:
        raise DatasetError(f"{path.suffix or 'this kind of'} files cannot be read here (only .txt and .md)")
    return read_text_file(path)


def default_reader() -> Callable[[Path], str]:
    """The document reader's text extraction if available, else the plain-text one."""
    try:
        from models.documents import DocumentError, read_document
    except ImportError:
        return _plain_reader

    def read(path: Path) -> str:
        try:
            return read_document(path).text
        except DocumentError as exc:
            raise DatasetError(str(exc)) from None

    return read


def parse_folder(folder: Path, reader: Callable[[Path], str] | None = None) -> ParseResult:
    """Classification rows from a labelled folder; unreadable files become BadLines (numbered
    in sorted order, with the file named in the message)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    read = reader or default_reader()
    result = ParseResult(format="folder", kind="classification")
    labels = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not labels:
        raise DatasetError(f"{folder}: no sub-folders; each sub-folder's name is the label of the files in it")
    number = 0
    for label_dir in labels:
        for path in sorted(p for p in label_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
            number += 1
            try:
                text = read(path)
            except (DatasetError, OSError) as exc:
                result.bad_lines.append(BadLine(number, f"{path.relative_to(folder)}: {exc}", unit="file"))
                continue
            result.rows.append({"text": text.strip(), "label": label_dir.name})
    if number == 0:
        raise DatasetError(f"{folder}: the label folders hold no files")
    return result
