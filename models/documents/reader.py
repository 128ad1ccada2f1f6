"""read_document(path): the text of one file, whatever its format, or a DocumentError saying why not."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from models.documents.encoding import NotText, decode_bytes
from models.documents.errors import DocumentError
from models.documents.html_text import html_to_text, tidy

# Larger files are refused rather than read: a classifier only looks at the first few thousand
# tokens anyway, and reading hundreds of megabytes would stall the run for nothing.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
TEXT_SUFFIXES = (".txt", ".text", ".log")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
TABLE_SUFFIXES = (".csv", ".tsv")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + MARKDOWN_SUFFIXES + HTML_SUFFIXES + (".pdf", ".docx", ".eml") + TABLE_SUFFIXES


@dataclass
class Document:
    text: str
    path: str
    format: str  # "text", "markdown", "html", "pdf", "docx", "table", "email"
    title: str | None = None
    encoding: str | None = None
    pages: int | None = None
    size_bytes: int = 0


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


def read_bytes(path: Path, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The file's bytes, with every operating-system problem turned into a DocumentError."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise DocumentError(path, "is a folder, not a file")
        if size > max_bytes:
            raise DocumentError(path, f"is too large ({_mb(size)}; documents up to {_mb(max_bytes)} are read)")
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise DocumentError(path, "no longer exists (moved or deleted)") from None
    except PermissionError:
        raise DocumentError(path, "cannot be read: permission denied") from None
    except IsADirectoryError:
        raise DocumentError(path, "is a folder, not a file") from None
    except OSError as exc:
        raise DocumentError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise DocumentError(path, "is empty")
    return data


def decode(path: Path, data: bytes) -> tuple[str, str]:
    try:
        return decode_bytes(data)
    except NotText:
        raise DocumentError(path, f"is not a text file (binary content) although it is named {path.suffix}") from None


def _read_text(path: Path, data: bytes) -> Document:
    text, encoding = decode(path, data)
    return Document(text=tidy(text), path=str(path), format="text", encoding=encoding)


def _read_markdown(path: Path, data: bytes) -> Document:
    import markdown

    source, encoding = decode(path, data)
    text, _ = html_to_text(markdown.markdown(source))
    title = next((line.lstrip("# ").strip() for line in source.splitlines() if line.startswith("#")), None)
    return Document(text=text, path=str(path), format="markdown", encoding=encoding, title=title)


def _read_html(path: Path, data: bytes) -> Document:
    source, encoding = decode(path, data)
    text, title = html_to_text(source)
    return Document(text=text, path=str(path), format="html", encoding=encoding, title=title)


def _read_pdf(path: Path, data: bytes) -> Document:
    import io

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files are reported once, as our error
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty password
            except Exception:  # noqa: BLE001 - pypdf raises several kinds, e.g. for AES without cryptography
                opened = 0
            if not opened:
                raise DocumentError(path, "is a password-protected PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf's failure modes on broken files are many and unlisted
        raise DocumentError(path, f"is not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    text = tidy("\n\n".join(pages))
    if not text:
        raise DocumentError(path, "has no text layer (a scanned PDF? Fireside reads only the text in a PDF)")
    return Document(text=text, path=str(path), format="pdf", pages=len(pages), title=str(title) if title else None)


def _read_docx(path: Path, data: bytes) -> Document:
    import io

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises zip, XML and key errors for broken files
        raise DocumentError(path, f"is not a readable Word document ({exc.__class__.__name__})") from None
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append("\t".join(cell.text for cell in row.cells))
    title = document.core_properties.title or None
    return Document(text=tidy("\n".join(parts)), path=str(path), format="docx", title=title)


def _read_email(path: Path, data: bytes) -> Document:
    import email
    from email import policy

    try:
        message = email.message_from_bytes(data, policy=policy.default)
        subject = str(message.get("subject") or "").strip() or None
        body = message.get_body(preferencelist=("plain", "html"))
        content = body.get_content() if body is not None else ""
        if body is not None and body.get_content_type() == "text/html":
            content, _ = html_to_text(content)
    except Exception as exc:  # noqa: BLE001 - the e-mail parser's errors on damaged messages vary
        raise DocumentError(path, f"is not a readable e-mail ({exc.__class__.__name__}: {exc})") from None
    text = tidy("\n\n".join(part for part in (subject, content) if part))
    return Document(text=text, path=str(path), format="email", title=subject)


def _read_table_whole(path: Path, data: bytes) -> Document:
    from models.documents.tables import rows_from_bytes

    header, rows = rows_from_bytes(path, data)
    text = "\n".join("\t".join(row) for row in [header, *rows])
    return Document(text=tidy(text), path=str(path), format="table")


READERS = {
    **{suffix: _read_text for suffix in TEXT_SUFFIXES},
    **{suffix: _read_markdown for suffix in MARKDOWN_SUFFIXES},
    **{suffix: _read_html for suffix in HTML_SUFFIXES},
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".eml": _read_email,
    **{suffix: _read_table_whole for suffix in TABLE_SUFFIXES},
}


def read_document(path: str | os.PathLike, max_bytes: int = MAX_DOCUMENT_BYTES) -> Document:
    """The text of one file. Raises DocumentError (one line) for anything that cannot be read.

    A .csv/.tsv read this way is one document (all its rows); read_table gives one per row.
    """
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DocumentError(path, f"has an unsupported type ({path.suffix or 'no extension'}); "
                                  f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    data = read_bytes(path, max_bytes)
    document = reader(path, data)
    if not document.text.strip():
        raise DocumentError(path, "contains no text")
    document.size_bytes = len(data)
    return document
