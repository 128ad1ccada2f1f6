from pathlib import Path

from models import bundled
from tests.tiny_models import make_tiny_bert


def test_sidebar_has_the_five_pages(main_window):
    titles = [main_window.sidebar.item(i).text() for i in range(main_window.sidebar.count())]
    assert titles == ["Chat", "Classify", "Datasets", "Fine-tune", "Models"]
    page = main_window.show_page("Models")
    assert main_window.stack.currentWidget() is page


def test_models_page_lists_both_default_models(main_window):
    page = main_window.show_page("Models")
    listed = [page.table_model.index(r, 0).data() for r in range(page.table_model.rowCount())]
    assert bundled.CHAT_NAME in listed and bundled.ENCODER_NAME in listed
    kinds = [page.table_model.index(r, 1).data() for r in range(page.table_model.rowCount())]
    assert {"chat", "encoder"} <= set(kinds)


def test_import_folder_from_page_adds_a_row(main_window, qtbot, tmp_path):
    page = main_window.show_page("Models")
    rows = page.table_model.rowCount()
    op = page.import_folder(make_tiny_bert(tmp_path / "tiny-encoder"))
    qtbot.waitUntil(lambda: page.table_model.rowCount() == rows + 1, timeout=10_000)
    assert "Added tiny-encoder" in page.message.text()
    assert op.cancelled() is False


def test_bad_import_shows_an_error_and_changes_nothing(main_window, qtbot, tmp_path):
    page = main_window.show_page("Models")
    rows = page.table_model.rowCount()
    empty = tmp_path / "empty"
    empty.mkdir()
    page.import_folder(empty)
    qtbot.waitUntil(lambda: "config.json" in page.message.text(), timeout=10_000)
    assert page.table_model.rowCount() == rows
    assert not page.progress.isVisible()


def test_removing_a_bundled_model_is_refused(main_window):
    page = main_window.show_page("Models")
    row = [page.table_model.records[r].name for r in range(page.table_model.rowCount())].index(bundled.CHAT_NAME)
    page.table.selectRow(row)
    page.remove_selected()
    assert "cannot be removed" in page.message.text()
    assert page.table_model.rowCount() == 2


def test_export_from_page_writes_a_gguf_and_a_modelfile(main_window, qtbot, tmp_path):
    from models.gguf_check import read_header

    page = main_window.show_page("Models")
    out = tmp_path / "export" / "smol.Q8_0.gguf"
    page.export(bundled.CHAT_NAME, out, "Q8_0")
    qtbot.waitUntil(lambda: not page.progress.isVisible(), timeout=300_000)
    assert "Exported SmolLM2-135M-Instruct" in page.message.text(), page.message.text()
    assert read_header(out).metadata["general.file_type"] == 7  # Q8_0
    assert "FROM ./smol.Q8_0.gguf" in (out.parent / "Modelfile").read_text()


def test_export_to_a_full_disk_says_so_and_leaves_nothing(main_window, qtbot, tmp_path, monkeypatch):
    import collections
    import shutil

    from models.convert import quantize

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(quantize.shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 4096, 4096))
    page = main_window.show_page("Models")
    out = tmp_path / "export" / "smol.gguf"
    page.export(bundled.CHAT_NAME, out, "Q4_K_M")
    qtbot.waitUntil(lambda: not page.progress.isVisible(), timeout=300_000)
    assert "disk" in page.message.text().lower() or "space" in page.message.text().lower(), page.message.text()
    assert not out.exists() and list(out.parent.glob("*")) == []
    assert shutil.disk_usage(tmp_path)  # the real one again, for the other tests
