"""Rows of a .csv or .tsv file as documents: the user chooses which column holds the text."""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from models.documents.errors import DocumentError

csv.field_size_limit(16 * 1024 * 1024)


@dataclass
class TableRow:
    id: str          # the id column's value, or the row number (1 = first row after the header)
    text: str
    row_number: int


def _dialect(path: Path, sample: str):
    if path.suffix.lower() == ".tsv":
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff(sample[:64 * 1024], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def rows_from_bytes(path: Path, data: bytes) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV/TSV file's bytes."""
    from models.documents.reader import decode

    text, _ = decode(path, data)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), _dialect(path, text))
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DocumentError(path, f"is not a readable {path.suffix[1:].upper()} file ({exc})") from None
    if not rows:
        raise DocumentError(path, "has no rows")
    header = [name.strip() for name in rows[0]]
    return header, rows[1:]


def _load(path: str | os.PathLike) -> tuple[Path, list[str], list[list[str]]]:
    from models.documents.reader import read_bytes

    path = Path(path)
    header, rows = rows_from_bytes(path, read_bytes(path))
    return path, header, rows


def table_columns(path: str | os.PathLike) -> list[str]:
    """The header of a CSV/TSV file."""
    return _load(path)[1]


def guess_text_column(header: list[str], rows: list[list[str]]) -> str:
    """The column most likely to hold the text: a familiar name, else the longest values on average."""
    lowered = [name.lower() for name in header]
    for name in ("text", "content", "body", "document", "description", "message", "sentence"):
        if name in lowered:
            return header[lowered.index(name)]
    sample = rows[:200]

    def average_length(index: int) -> float:
        return sum(len(row[index]) for row in sample if index < len(row)) / max(1, len(sample))

    return header[max(range(len(header)), key=average_length)]


def _column_index(path: Path, header: list[str], name: str) -> int:
    if name in header:
        return header.index(name)
    if name.isdigit() and 0 < int(name) <= len(header):  # 1-based column number
        return int(name) - 1
    raise DocumentError(path, f"has no column {name!r} (columns: {', '.join(header)})")


def read_table(path: str | os.PathLike, text_column: str | None = None,
               id_column: str | None = None) -> list[TableRow]:
    """Each row of a CSV/TSV as a document. Without text_column the likeliest column is taken;
    without id_column a column named "id" is, else the row number."""
    path, header, rows = _load(path)
    text_index = _column_index(path, header, text_column or guess_text_column(header, rows))
    if id_column is None:  # a column called "id" names the rows without being asked
        id_column = next((name for name in header if name.lower() == "id"), None)
    id_index = _column_index(path, header, id_column) if id_column else None
    table = []
    for number, row in enumerate(rows, start=1):
        text = row[text_index].strip() if text_index < len(row) else ""
        row_id = row[id_index] if id_index is not None and id_index < len(row) else str(number)
        table.append(TableRow(id=row_id, text=text, row_number=number))
    return table
