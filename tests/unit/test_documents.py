"""The document reader on real files of every supported kind, and on every kind of bad input."""
import os

import pytest

from models.documents import (
    MAX_DOCUMENT_BYTES, DocumentError, find_documents, guess_text_column, read_document, read_table, table_columns,
)
from tests.classify_files import make_docx, make_eml, make_pdf


def test_plain_text_in_utf8_latin1_and_utf16(tmp_path):
    (tmp_path / "a.txt").write_text("Café crème — déjà vu\n", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes("Le café était très chaud, déjà à midi, ça alors.".encode("latin-1"))
    (tmp_path / "c.txt").write_text("Grüße aus Köln", encoding="utf-16")
    (tmp_path / "d.txt").write_bytes("Привет, как дела? Всё хорошо, спасибо.".encode("cp1251"))
    a, b, c, d = (read_document(tmp_path / n) for n in ("a.txt", "b.txt", "c.txt", "d.txt"))
    assert d.text == "Привет, как дела? Всё хорошо, спасибо."
    assert a.text == "Café crème — déjà vu" and a.encoding == "utf-8"
    assert "café" in b.text and "très" in b.text and b.encoding != "utf-8"
    assert c.text == "Grüße aus Köln" and c.encoding == "utf-16"


def test_markdown_and_html_become_plain_text(tmp_path):
    (tmp_path / "n.md").write_text("# Title here\n\nSome **bold** words and a [link](http://x).\n")
    (tmp_path / "p.html").write_text(
        "<html><head><title>Page title</title><style>p{color:red}</style></head>"
        "<body><h1>Head</h1><p>First&nbsp;para &amp; more</p><script>alert(1)</script><p>Second</p></body></html>")
    md = read_document(tmp_path / "n.md")
    assert md.text.splitlines()[0] == "Title here" and "Some bold words and a link." in md.text
    assert md.title == "Title here" and "**" not in md.text
    page = read_document(tmp_path / "p.html")
    assert page.title == "Page title"
    assert page.text.splitlines() == ["Head", "", "First para & more", "", "Second"] or (
        "First para & more" in page.text and "alert" not in page.text and "color" not in page.text)
    assert "alert" not in page.text and "color:red" not in page.text


def test_pdf_docx_and_email(tmp_path):
    pdf = read_document(make_pdf(tmp_path / "r.pdf", ["Profits rose (a lot) this year.", "Second line."]))
    assert pdf.format == "pdf" and pdf.pages == 1
    assert pdf.text == "Profits rose (a lot) this year.\nSecond line."
    word = read_document(make_docx(tmp_path / "w.docx", ["Hello from Word."], table=[["cell one", "cell two"]]))
    assert "Hello from Word." in word.text and "cell one" in word.text and word.format == "docx"
    mail = read_document(make_eml(tmp_path / "m.eml", "Match report", "The home side won 3-1."))
    assert mail.title == "Match report" and mail.text == "Match report\n\nThe home side won 3-1."
    html_mail = read_document(make_eml(tmp_path / "h.eml", "News", "Rates went up.", html=True))
    assert "Rates went up." in html_mail.text and "var x" not in html_mail.text


def _reason(path) -> str:
    with pytest.raises(DocumentError) as caught:
        read_document(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return caught.value.reason


def test_bad_inputs_give_one_line_reasons(tmp_path):
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 40)
    assert "not a text file" in _reason(tmp_path / "binary.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    assert _reason(tmp_path / "empty.txt") == "is empty"
    (tmp_path / "blank.md").write_text("   \n\n  ")
    assert _reason(tmp_path / "blank.md") == "is empty"
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    assert "not a readable PDF" in _reason(tmp_path / "broken.pdf")
    assert "password-protected" in _reason(make_pdf(tmp_path / "locked.pdf", ["secret"], password="pw"))
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a readable Word document" in _reason(tmp_path / "broken.docx")
    assert "no longer exists" in _reason(tmp_path / "gone.txt")
    (tmp_path / "folder.txt").mkdir()
    assert "folder" in _reason(tmp_path / "folder.txt")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    assert "unsupported type" in _reason(tmp_path / "image.png")


def test_pdf_without_text_layer(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with open(tmp_path / "scan.pdf", "wb") as handle:
        writer.write(handle)
    assert "no text layer" in _reason(tmp_path / "scan.pdf")


def test_a_200_mb_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "huge.txt"
    with open(big, "wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: no disk used, no time spent
    assert big.stat().st_size > MAX_DOCUMENT_BYTES
    assert _reason(big) == "is too large (200 MB; documents up to 64 MB are read)"


def test_unreadable_permission(tmp_path, monkeypatch):
    locked = tmp_path / "locked.txt"
    locked.write_text("private")
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make the operating system's refusal happen anyway
        from models.documents import reader

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(locked))

        monkeypatch.setattr(reader, "open", refuse, raising=False)
    assert _reason(locked) == "cannot be read: permission denied"


def test_tables_row_by_row(tmp_path):
    (tmp_path / "t.csv").write_text('id,text,label\n7,"Goal in the last minute, again",Sports\n8,Rates are up,Business\n\n')
    (tmp_path / "t.tsv").write_text("num\tbody\n1\tfirst row text\n2\tsecond row, with a comma\n")
    assert table_columns(tmp_path / "t.csv") == ["id", "text", "label"]
    rows = read_table(tmp_path / "t.csv", text_column="text", id_column="id")
    assert [(r.id, r.text) for r in rows] == [("7", "Goal in the last minute, again"), ("8", "Rates are up")]
    tsv = read_table(tmp_path / "t.tsv")  # text column guessed: the longest values
    assert [(r.id, r.text) for r in tsv] == [("1", "first row text"), ("2", "second row, with a comma")]
    assert guess_text_column(["a", "Body"], [["x", "long text here"]]) == "Body"
    with pytest.raises(DocumentError, match="has no column 'nope'"):
        read_table(tmp_path / "t.csv", text_column="nope")
    whole = read_document(tmp_path / "t.csv")
    assert "Goal in the last minute" in whole.text and "Rates are up" in whole.text


def test_find_documents_walks_folders_and_counts_the_rest(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.txt").write_text("x")
    (tmp_path / "a" / "b" / "two.PDF").write_bytes(b"%PDF")
    (tmp_path / "a" / "b" / "image.jpg").write_bytes(b"x")
    (tmp_path / "a" / ".hidden").write_text("x")
    (tmp_path / "single.bin").write_bytes(b"x")
    found = find_documents([tmp_path / "a", tmp_path / "single.bin", tmp_path / "missing.txt"])
    names = [p.name for p in found.files]
    assert names == ["one.txt", "two.PDF", "single.bin"]  # a file named directly is kept whatever its type
    assert found.unsupported == 2 and found.missing == [str(tmp_path / "missing.txt")]
    assert "2 files of other types skipped" in found.summary()


def test_ten_thousand_files(tmp_path):
    folder = tmp_path / "many"
    for group in range(10):
        (folder / f"g{group}").mkdir(parents=True)
        for index in range(1000):
            (folder / f"g{group}" / f"{index:04d}.txt").write_bytes(b"a short note")
    found = find_documents([folder])
    assert len(found.files) == 10_000 and found.unsupported == 0
    assert found.files[0].name == "0000.txt" and found.files[-1].parent.name == "g9"
