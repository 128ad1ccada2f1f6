"""The Datasets page in the real window, on the real database of a fresh data home."""
import json

import pytest
from PySide6.QtCore import Qt

from desktop.store import datasets as store

ROWS = [{"text": "The match ended in a draw.", "label": "sports"},
        {"text": "Shares fell sharply on Monday.", "label": "business"},
        {"text": "The match ended in a draw!", "label": "sports"},
        {"text": "Call me at +44 20 7946 0958 about the game.", "label": "sports"},
        {"text": "Rates were cut by the central bank.", "label": "business"}]


@pytest.fixture
def page(main_window):
    return main_window.show_page("Datasets")


def load(page, name="news", rows=ROWS, kind="classification"):
    dataset = store.import_rows(page.db, name, kind, rows)
    page.refresh_datasets(dataset["id"])
    return dataset


def texts(page):
    return [page.rows_model.index(r, 1).data() for r in range(page.rows_model.rowCount())]


def test_empty_page_invites_an_import(page):
    assert "No dataset yet" in page.header.text()
    assert not page.add_row_button.isEnabled() and page.import_button.isEnabled()


def test_import_dialog_reports_bad_lines_and_skip_imports_the_rest(page, qtbot, tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}) + "\n"
        + "{broken\n"
        + json.dumps({"messages": [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "See you"}]})
        + "\n", encoding="utf-8")
    dialog = page.open_import_dialog(path)
    qtbot.waitUntil(lambda: dialog.parsed is not None, timeout=10_000)
    assert "OpenAI chat" in dialog.summary.text() and "1 malformed line" in dialog.summary.text()
    assert dialog.bad_list.item(0).text().startswith("line 2: not valid JSON")
    assert not dialog.import_button.isEnabled() and not dialog.skip_button.isHidden()
    assert dialog.preview.rowCount() == 2 and dialog.preview.item(1, 1).text() == "See you"
    assert store.list_datasets(page.db) == []  # nothing written before the choice
    dialog.name_edit.setText("greetings")
    qtbot.mouseClick(dialog.skip_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.dataset is not None and page.dataset["name"] == "greetings", timeout=10_000)
    assert page.rows_model.rowCount() == 2 and page.rows_model.index(0, 1).data() == "Hi"
    assert "1 malformed left out" in page.message.text()


def test_cancelling_a_malformed_import_writes_nothing(page, qtbot, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\ngood,a\ntoo,many,fields\n", encoding="utf-8")
    dialog = page.open_import_dialog(path)
    qtbot.waitUntil(lambda: dialog.parsed is not None, timeout=10_000)
    assert not dialog.table_options.isHidden()
    assert dialog.column_combos["text"].currentText() == "text"
    assert dialog.bad_list.item(0).text() == "line 3: has 3 fields; expected 2"
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert store.list_datasets(page.db) == [] and page.dataset is None


def test_changing_the_column_mapping_parses_again(page, qtbot, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("title,body,topic\nA,First body,x\nB,Second body,y\n", encoding="utf-8")
    dialog = page.open_import_dialog(path)
    qtbot.waitUntil(lambda: dialog.parsed is not None, timeout=10_000)
    assert dialog.parsed.rows[0] == {"text": "First body", "label": "x"}
    dialog.column_combos["text"].setCurrentText("title")
    qtbot.waitUntil(lambda: dialog.parsed is not None and dialog.parsed.rows[0]["text"] == "A", timeout=10_000)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.dataset is not None, timeout=10_000)
    assert list(store.iter_rows(page.db, page.dataset["id"]))[1] == {"text": "B", "label": "y"}


def test_search_edit_add_and_delete_rows(page, qtbot):
    load(page)
    assert page.rows_model.rowCount() == 5 and "5 rows" in page.count_label.text()
    qtbot.keyClicks(page.search_edit, "match")
    qtbot.waitUntil(lambda: page.rows_model.rowCount() == 2, timeout=5_000)
    assert "2 of 5 rows match" in page.count_label.text()

    dialog = page.edit_row(1)
    assert dialog.text.toPlainText() == "The match ended in a draw!"
    dialog.text.setPlainText("The match was cancelled.")
    dialog.accept()
    assert texts(page) == ["The match ended in a draw.", "The match was cancelled."]

    page.search_edit.clear()
    qtbot.waitUntil(lambda: page.rows_model.rowCount() == 5, timeout=5_000)
    dialog = page.add_row()
    dialog.text.setPlainText("A new row")
    dialog.label.setCurrentText("")
    dialog.accept()
    assert dialog.error.text() == "a row needs a label" and dialog.isVisible()
    dialog.label.setCurrentText("other")
    dialog.accept()
    assert page.rows_model.rowCount() == 6 and texts(page)[-1] == "A new row"

    page.table.selectRow(0)
    page.table.selectionModel().select(page.rows_model.index(5, 0), page.table.selectionModel().SelectionFlag.Select
                                       | page.table.selectionModel().SelectionFlag.Rows)
    page.delete_selected_rows()
    qtbot.waitUntil(lambda: page.rows_model.rowCount() == 4, timeout=5_000)
    assert "Deleted 2 rows" in page.message.text()
    assert store.get_dataset(page.db, "news")["row_count"] == 4


def test_chat_rows_are_edited_message_by_message(page):
    load(page, "chats", [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]}],
         kind="chat")
    assert page.rows_model.headerData(1, Qt.Orientation.Horizontal) == "First question"
    dialog = page.edit_row(0)
    dialog._add_next()
    dialog.editors[-1].content.setPlainText("And you?")
    dialog.accept()
    (row,) = store.iter_rows(page.db, page.dataset["id"])
    assert [(m["role"], m["content"]) for m in row["messages"]] == [("user", "Hi"), ("assistant", "Hey"),
                                                                    ("user", "And you?")]


def test_cleaning_is_previewed_before_it_is_applied(page, qtbot):
    load(page)
    dialog = page.open_cleaning("near-duplicates")
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=10_000)
    assert "1 of 5 rows would be removed" in dialog.summary.text()
    assert dialog.examples.item(0, 0).text() == "3" and "same as row 1" in dialog.examples.item(0, 2).text()
    assert store.get_dataset(page.db, "news")["row_count"] == 5  # a preview changes nothing

    dialog.action_combo.setCurrentIndex(dialog.action_combo.findData("pii"))
    assert not dialog.apply_button.isEnabled()  # the old preview no longer counts
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=10_000)
    assert dialog.examples.item(0, 2).text() == "Call me at [PHONE] about the game."
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.applied is not None, timeout=10_000)
    assert "[PHONE]" in texts(page)[3]
    assert "changed 1" in page.message.text()


def test_split_freeze_and_versions(page, qtbot):
    load(page)
    page.split(0.4, seed=3)
    qtbot.waitUntil(lambda: "Split: 3 train, 2 validation" in page.message.text(), timeout=10_000)
    assert "3 train" in page.header.text() and "2 validation" in page.header.text()
    assert set(page.rows_model.index(r, 3).data() for r in range(5)) == {"train", "validation"}
    page.tabs.setCurrentWidget(page.versions_view)
    assert page.versions_view.tree.isHidden()
    page.freeze_version()
    qtbot.waitUntil(lambda: page.versions_view.tree.topLevelItemCount() == 1, timeout=10_000)
    item = page.versions_view.tree.topLevelItem(0)
    assert item.text(1) == "5" and item.text(3) == "—"


def test_statistics_show_labels_and_token_lengths_with_the_context(page, qtbot):
    import pyqtgraph as pg

    load(page, rows=ROWS + [{"text": "word " * 600, "label": "long"}])
    page.tabs.setCurrentWidget(page.stats_holder)
    view = page.stats_view
    assert view.model_combo.currentText() == "all-MiniLM-L6-v2"
    qtbot.waitUntil(lambda: view.stats is not None, timeout=60_000)
    assert view.stats.label_counts == {"sports": 3, "business": 2, "long": 1}
    assert "1 row would be truncated" in view.summary.text()
    bars = [item for item in view.labels_plot.getPlotItem().items if isinstance(item, pg.BarGraphItem)]
    assert len(bars) == 1 and list(bars[0].opts["height"]) == [3, 2, 1]
    lines = [item for item in view.tokens_plot.getPlotItem().items if isinstance(item, pg.InfiniteLine)]
    assert [line.value() for line in lines] == [512]


def test_export_writes_the_chosen_format(page, qtbot, tmp_path):
    load(page)
    page.export_to(tmp_path / "news.csv", "csv")
    qtbot.waitUntil(lambda: "Exported 5 rows" in page.message.text(), timeout=10_000)
    assert (tmp_path / "news.csv").read_text(encoding="utf-8").splitlines()[:2] == [
        "text,label", "The match ended in a draw.,sports"]


def test_token_length_cleaning_uses_the_chosen_models_tokenizer(page, qtbot):
    load(page, rows=ROWS + [{"text": "word " * 600, "label": "long"}])
    dialog = page.open_cleaning("token-length")
    assert not dialog.token_options.isHidden() and dialog.plan is None  # waits for the model to be chosen
    dialog.model_combo.setCurrentText("all-MiniLM-L6-v2")
    dialog.min_tokens.setValue(9)  # "Shares fell sharply on Monday." is 8 tokens with [CLS] and [SEP]
    dialog.preview()  # the maximum defaults to the model's context (512)
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=60_000)
    assert dialog.plan.details == {"too long": 1, "too short": 1}
    assert dialog.examples.item(1, 2).text() == "(removed: 602 tokens, too long)"
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.rows_model.rowCount() == 4, timeout=10_000)


def test_import_dialog_says_where_rows_go(page, qtbot, tmp_path):
    load(page)
    path = tmp_path / "more.csv"
    path.write_text("text,label\nA late goal won it,sports\n", encoding="utf-8")
    dialog = page.open_import_dialog(path)
    qtbot.waitUntil(lambda: dialog.parsed is not None, timeout=10_000)
    assert dialog.target_note.text() == "A new dataset." and dialog.import_button.isEnabled()
    dialog.name_edit.setText("news")
    assert "added to the existing dataset 'news' (5 rows)" in dialog.target_note.text()
    chats = store.import_rows(page.db, "chats", "chat", [{"messages": [{"role": "user", "content": "hi"}]}])
    dialog.existing["chats"] = chats
    dialog.name_edit.setText("chats")
    assert "holds chat rows; these are classification rows" in dialog.target_note.text()
    assert not dialog.import_button.isEnabled()
    dialog.name_edit.setText("news")
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Imported 1 row into 'news'" in page.message.text(), timeout=10_000)
    assert page.dataset["name"] == "news" and page.rows_model.rowCount() == 6
    assert "6 rows" in page.header.text()


def test_keyboard_deletes_the_selected_rows(page, qtbot):
    load(page)
    page.table.setFocus()
    page.table.selectRow(1)
    qtbot.keyClick(page.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: page.rows_model.rowCount() == 4, timeout=5_000)
    assert "Shares fell sharply on Monday." not in texts(page)


def test_deleting_a_dataset(page, qtbot):
    load(page)
    load(page, "other")
    page.select_dataset("news")
    page.delete_current(confirm=False)
    qtbot.waitUntil(lambda: "Deleted 'news'" in page.message.text(), timeout=10_000)
    assert [d["name"] for d in store.list_datasets(page.db)] == ["other"]
    assert page.dataset["name"] == "other" and page.dataset_list.count() == 1
