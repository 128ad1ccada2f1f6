"""The Classify page in the real window: drop a folder of real files, correct, retrain, export, sort."""
import csv
import warnings

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop.classify.results_model import CONFIDENCE, LABEL, ROW_ROLE
from desktop.store import classifiers as store
from tests.classify_files import make_mixed_folder

RUN_TIMEOUT = 180_000


def drop(widget, paths) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # newer Qt prefers a QPointF here, older needs QPoint
        enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    accepted = enter.isAccepted()
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return accepted and event.isAccepted()


def wait_idle(qtbot, page):
    qtbot.waitUntil(lambda: not page.busy() and page.job is None, timeout=RUN_TIMEOUT)


def rows_by_name(page) -> dict:
    return {row["name"]: row for row in page.table_model.rows}


@pytest.fixture
def page(main_window):
    return main_window.show_page("Classify")


def test_drop_correct_retrain(page, qtbot, tmp_path, monkeypatch):
    expected = make_mixed_folder(tmp_path / "docs")
    table = tmp_path / "headlines.csv"
    table.write_text("id,headline,source\nh1,The goalkeeper saved two penalties in the shoot-out,wire\n"
                     "h2,The central bank raised interest rates again,wire\n", encoding="utf-8")
    asked = []
    monkeypatch.setattr(page, "ask_text_column", lambda path, columns, guess: asked.append((columns, guess)) or "headline")
    assert page.classifier_combo.currentText() == "News topics"

    assert drop(page, [tmp_path / "docs", table])
    assert asked == [(["id", "headline", "source"], "headline")]
    assert page.progress_box.isVisible() and page.cancel_button.isEnabled()
    wait_idle(qtbot, page)
    assert not page.progress_box.isVisible()

    rows = rows_by_name(page)
    assert len(rows) == len(expected) + 2
    for name, topic in expected.items():
        row = rows[f"docs/{name}"]
        if topic == "error":
            assert row["status"] == "error" and row["error"], name
        else:
            assert row["status"] == "done" and row["label"] in ("World", "Sports", "Business", "Sci/Tech"), name
    assert rows["docs/photo.txt"]["error"].startswith("is not a text file")
    assert rows["docs/empty.txt"]["error"] == "is empty"
    assert rows["headlines.csv · h1"]["status"] == "done"
    assert "3 could not be read" in page.message.text() and "1 file of other types skipped" in page.message.text()
    correct = sum(rows[f"docs/{n}"]["label"] == t for n, t in expected.items() if t != "error")
    print(f"zero-shot on the dropped files: {correct} of 4 right")
    assert correct >= 3

    # sorting by confidence uses the numbers, filtering by a label keeps only its rows
    page.table.sortByColumn(CONFIDENCE, Qt.SortOrder.DescendingOrder)
    scores = [page.proxy.index(r, CONFIDENCE).data(ROW_ROLE)["score"] for r in range(page.proxy.rowCount())]
    shown = [s for s in scores if s is not None]
    assert shown == sorted(shown, reverse=True)
    page.filter_choice.setCurrentText("Errors")
    assert page.proxy.rowCount() == 3
    page.filter_choice.setCurrentText("All")
    page.filter_edit.setText("report")
    assert page.proxy.rowCount() == 1
    page.filter_edit.clear()

    # a correction in the table is stored as an example
    classifier_id = page.classifier_id
    target = rows["docs/space.txt"]
    other = "World" if target["label"] != "World" else "Business"
    row = next(r for r in range(page.proxy.rowCount())
               if page.proxy.index(r, 0).data(ROW_ROLE)["name"] == "docs/space.txt")
    assert page.proxy.setData(page.proxy.index(row, LABEL), other)
    examples = store.classifier_examples(page.db, classifier_id)
    assert [(e["label"], e["source"]) for e in examples] == [(other, "correction")]
    assert examples[0]["text"].startswith("Astronomers used a new telescope")
    assert page.proxy.index(row, LABEL).data() == other
    assert page.retrain_button.isEnabled() and "Retrain" in page.method_info.text()

    # retrain: few-shot on the correction, every document scored again
    before = {r["document_id"]: r["scores"] for r in page.table_model.rows if r["status"] == "done"}
    page.retrain_button.click()
    wait_idle(qtbot, page)
    assert "Retrained: few-shot on 1 example." in page.message.text(), page.message.text()
    after = {r["document_id"]: r["scores"] for r in page.table_model.rows if r["status"] == "done"}
    space_id = target["document_id"]
    assert after[space_id][other] > before[space_id][other]
    assert store.get_classifier(page.db, classifier_id)["method"] == "few-shot"
    assert page.method_combo.currentText() == "Few-shot" and "Few-shot" in page.method_info.text()
    assert page.table_model.row_for_document(space_id)["corrected_label"] == other


def test_explanation_export_sort_and_restart(page, qtbot, tmp_path, main_window):
    from desktop.app import build_context
    from desktop.main_window import MainWindow

    make_mixed_folder(tmp_path / "docs")
    page.add_paths([str(tmp_path / "docs")])
    wait_idle(qtbot, page)

    # selecting a row shows its text with the deciding words highlighted
    row = next(r for r in range(page.proxy.rowCount())
               if page.proxy.index(r, 0).data(ROW_ROLE)["name"] == "docs/match.docx")
    page.table.selectRow(row)
    qtbot.waitUntil(lambda: "Strongest" in page.explanation.legend.text(), timeout=60_000)
    assert "docs/match.docx" in page.explanation.header.text()
    assert "background-color" in page.explanation.browser.toHtml()
    assert "striker" in page.explanation.browser.toPlainText()

    assert page.export_to(tmp_path / "results.csv") == 7
    exported = list(csv.DictReader(open(tmp_path / "results.csv", encoding="utf-8")))
    assert {r["document"] for r in exported} >= {"docs/report.pdf", "docs/broken.pdf"}

    target = tmp_path / "sorted"
    label = page.table_model.row_for_document(
        next(r["document_id"] for r in page.table_model.rows if r["name"] == "docs/space.txt"))["label"]
    (target / label.replace("/", "-")).mkdir(parents=True)
    (target / label.replace("/", "-") / "space.txt").write_text("do not overwrite me")
    page.sort_to(target, move=False)
    wait_idle(qtbot, page)
    assert (target / label.replace("/", "-") / "space.txt").read_text() == "do not overwrite me"
    assert (target / label.replace("/", "-") / "space (2).txt").read_text().startswith("Astronomers")
    assert page.message.text().startswith("Copied 4 files into")
    assert "1 renamed" in page.message.text() and "3 without a label skipped" in page.message.text()
    assert (tmp_path / "docs" / "space.txt").exists()

    # everything survives a restart
    count = page.table_model.rowCount()
    again = MainWindow(build_context())
    qtbot.addWidget(again)
    assert again.pages["Classify"].table_model.rowCount() == count
    again.close()


def test_cancel_stops_without_an_error(page, qtbot, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(300):
        (folder / f"{index:03d}.txt").write_text(f"note {index} about the match and the market")
    page.add_paths([str(folder)])
    qtbot.waitUntil(lambda: page.table_model.rowCount() > 0, timeout=RUN_TIMEOUT)  # the first rows are in
    assert page.busy()
    page.cancel_button.click()
    wait_idle(qtbot, page)
    assert page.message.text().startswith("Stopped after"), page.message.text()
    assert "color: #b00020" not in page.message.styleSheet()
    assert 0 < page.table_model.rowCount() < 300
