"""100,000 rows: one bulk import, and a table that reads only the windows it shows."""
from PySide6.QtWidgets import QTableView

from desktop.datasets.table_model import PAGE, DatasetRowsModel
from desktop.store import Database
from desktop.store import datasets as store

ROWS = 100_000


def test_hundred_thousand_rows_import_and_page(qtbot, tmp_path):
    db = Database(tmp_path / "fireside.db")
    rows = ({"text": f"row {i} about {'cats' if i % 10 == 0 else 'dogs'}", "label": f"l{i % 4}"} for i in range(ROWS))
    dataset = store.import_rows(db, "big", "classification", rows)
    assert dataset["row_count"] == ROWS

    model = DatasetRowsModel(db)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(800, 600)
    model.set_dataset(dataset["id"], "classification")
    view.show()
    qtbot.waitExposed(view)
    assert model.rowCount() == ROWS
    qtbot.waitUntil(lambda: model.pages_read >= 1, timeout=5_000)
    first_reads = model.pages_read
    assert first_reads <= 2  # only the visible window was read

    view.scrollToBottom()
    qtbot.wait(50)
    assert model.index(ROWS - 1, 1).data() == f"row {ROWS - 1} about dogs"
    assert model.index(ROWS // 2, 2).data() == f"l{(ROWS // 2) % 4}"
    assert model.pages_read - first_reads <= 3
    assert len(model._pages) <= 50

    model.set_search("cats")
    assert model.rowCount() == ROWS // 10
    assert model.index(1, 1).data() == "row 10 about cats"
    assert model.record(PAGE + 5)["row"]["text"] == f"row {(PAGE + 5) * 10} about cats"

    store.delete_rows(db, [model.row_id(0)])
    model.reload()
    assert model.rowCount() == ROWS // 10 - 1
    db.close()
