"""A table model over a dataset's rows in SQLite that stays smooth at hundreds of thousands of rows.

On (re)load it reads only the ids of the matching rows (one integer each, a few milliseconds for
100,000 rows), so the row count and the scroll bar are exact at once. The rows themselves are read
in windows of PAGE rows when the view first asks for one of them, and a bounded number of windows
is kept, so scrolling anywhere touches at most one small query.
"""
from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from desktop.store import Database
from desktop.store import datasets as store

PAGE = 200
KEPT_PAGES = 50
CELL_CHARS = 300
TOOLTIP_CHARS = 2000
COLUMNS = {
    "classification": ("#", "Text", "Label", "Split"),
    "chat": ("#", "First question", "Last reply", "Messages", "Split"),
}


def one_line(text: str, limit: int = CELL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cells(kind: str, record: dict) -> tuple:
    row, split = record["row"], record["split"] or ""
    if kind == "classification":
        return one_line(row["text"]), row["label"], split
    messages = row["messages"]
    first_user = next((m["content"] for m in messages if m["role"] == "user"), "")
    last_reply = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), "")
    return one_line(first_user), one_line(last_reply), len(messages), split


def _tooltip(kind: str, record: dict) -> str:
    row = record["row"]
    if kind == "classification":
        text = f"{row['text'][:TOOLTIP_CHARS]}\n\nlabel: {row['label']}"
    else:
        text = "\n\n".join(f"{m['role']}: {m['content']}" for m in row["messages"])[:TOOLTIP_CHARS]
    return f"row {record['id']}\n{text}"


class DatasetRowsModel(QAbstractTableModel):
    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db
        self.dataset_id: int | None = None
        self.kind = "classification"
        self.search = ""
        self.ids: list[int] = []
        self._pages: OrderedDict[int, list[dict]] = OrderedDict()
        self.pages_read = 0  # how many windows were read from the database (for tests and benchmarks)

    # -- loading -------------------------------------------------------------------------------
    def set_dataset(self, dataset_id: int | None, kind: str = "classification", search: str = "") -> None:
        self.dataset_id, self.kind, self.search = dataset_id, kind, search
        self.reload()

    def set_search(self, search: str) -> None:
        if search != self.search:
            self.search = search
            self.reload()

    def reload(self) -> None:
        """Read the matching ids again (after an edit, an import, a cleaning)."""
        self.beginResetModel()
        self._pages.clear()
        self.ids = store.row_ids(self.db, self.dataset_id, self.search) if self.dataset_id is not None else []
        self.endResetModel()

    def _page(self, number: int) -> list[dict]:
        page = self._pages.get(number)
        if page is None:
            page = store.rows_by_ids(self.db, self.ids[number * PAGE:(number + 1) * PAGE])
            self.pages_read += 1
            self._pages[number] = page
            while len(self._pages) > KEPT_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        return page

    def record(self, row: int) -> dict | None:
        """{"id", "row", "split"} of the row at this position, or None if it was deleted meanwhile."""
        if not 0 <= row < len(self.ids):
            return None
        page = self._page(row // PAGE)
        offset = row % PAGE
        if offset < len(page) and page[offset]["id"] == self.ids[row]:
            return page[offset]
        return next((r for r in page if r["id"] == self.ids[row]), None)

    def row_id(self, row: int) -> int:
        return self.ids[row]

    def position_of(self, row_id: int) -> int | None:
        from bisect import bisect_left

        position = bisect_left(self.ids, row_id)
        return position if position < len(self.ids) and self.ids[position] == row_id else None

    # -- Qt model ------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS[self.kind])

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[self.kind][section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == 0:
                return index.row() + 1
            record = self.record(index.row())
            return _cells(self.kind, record)[index.column() - 1] if record else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            record = self.record(index.row())
            return _tooltip(self.kind, record) if record else None
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
