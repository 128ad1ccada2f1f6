"""Real documents of every supported kind, written by the tests themselves (PDF, DOCX, e-mail ...)."""
from __future__ import annotations

from pathlib import Path


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(path: Path, lines: list[str], password: str | None = None) -> Path:
    """A one-page PDF with a real text layer (Helvetica), optionally encrypted with a password."""
    from pypdf import PdfWriter
    from pypdf.generic import (
        ContentStream, DecodedStreamObject, DictionaryObject, NameObject,
    )

    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"), NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    })
    page[NameObject("/Resources")] = DictionaryObject({
        NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)}),
    })
    commands = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        commands += [f"({_pdf_escape(line)}) Tj", "T*"]
    commands.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(commands).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    if password:
        writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


def make_docx(path: Path, paragraphs: list[str], table: list[list[str]] | None = None) -> Path:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.save(path)
    return path


def make_eml(path: Path, subject: str, body: str, html: bool = False) -> Path:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "reporter@example.org"
    message["To"] = "desk@example.org"
    message["Subject"] = subject
    if html:
        message.set_content(f"<html><body><p>{body}</p><script>var x = 1;</script></body></html>", subtype="html")
    else:
        message.set_content(body)
    path.write_bytes(bytes(message))
    return path


SPORTS = "The striker scored twice in the final and the fans celebrated the cup victory in the stadium."
BUSINESS = "Shares of the bank fell after it cut its profit forecast; investors sold stocks across the market."
SCIENCE = "Astronomers used a new telescope to discover a planet orbiting a distant star."
WORLD = "The prime minister met foreign leaders to negotiate a ceasefire between the two countries at war."


def make_mixed_folder(folder: Path) -> dict[str, str]:
    """A folder of real documents (and broken ones); returns {relative name: expected topic or 'error'}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nested").mkdir()
    make_pdf(folder / "report.pdf", [BUSINESS, "Quarterly earnings disappointed analysts."])
    make_docx(folder / "match.docx", [SPORTS, "The coach praised the goalkeeper."])
    (folder / "space.txt").write_text(SCIENCE + "\n", encoding="utf-8")
    (folder / "nested" / "talks.md").write_text(f"# Talks\n\n{WORLD}\n", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<>> broken beyond repair")
    (folder / "photo.txt").write_bytes(bytes(range(256)) * 20)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "notes.xyz").write_text("an unsupported type, counted and skipped")
    return {
        "report.pdf": "Business", "match.docx": "Sports", "space.txt": "Sci/Tech", "nested/talks.md": "World",
        "broken.pdf": "error", "photo.txt": "error", "empty.txt": "error",
    }
