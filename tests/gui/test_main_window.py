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
