"""The results table: one row per document, as a Qt model, with a sorting and filtering proxy."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont

COLUMNS = ("Document", "Label", "Confidence", "Runner-up", "Status")
DOCUMENT, LABEL, CONFIDENCE, RUNNER_UP, STATUS = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
ERROR_COLOUR = QColor("#b00020")


def shown_label(row: dict) -> str:
    return row.get("corrected_label") or row.get("label") or ""


def status_text(row: dict) -> str:
    if row["status"] == "error":
        return row.get("error") or "could not be read"
    if row.get("corrected_label"):
        if row["corrected_label"] != row["label"]:
            return f"your label (the classifier says {row['label']})"
        return "your label"
    if (row.get("windows") or 1) > 1:
        return f"{row['windows']} windows"
    return ""


class ResultsTableModel(QAbstractTableModel):
    """Rows are result dicts from desktop.store.classifiers; the Label column is editable."""

    label_changed = Signal(int, str)  # document id, the label the user chose

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []
        self.labels: list[str] = []
        self._by_document: dict[int, int] = {}

    # -- filling -----------------------------------------------------------------------------
    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self._by_document = {row["document_id"]: i for i, row in enumerate(self.rows)}
        self.endResetModel()

    def upsert_rows(self, rows: list[dict]) -> None:
        """Update rows already shown (same document), append the others."""
        new = []
        for row in rows:
            index = self._by_document.get(row["document_id"])
            if index is None:
                new.append(row)
            else:
                self.rows[index] = row
                self.dataChanged.emit(self.index(index, 0), self.index(index, len(COLUMNS) - 1))
        if new:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for offset, row in enumerate(new):
                self._by_document[row["document_id"]] = first + offset
            self.rows.extend(new)
            self.endInsertRows()

    def row_for_document(self, document_id: int) -> dict | None:
        index = self._by_document.get(document_id)
        return None if index is None else self.rows[index]

    def set_corrected(self, document_id: int, label: str) -> None:
        index = self._by_document.get(document_id)
        if index is not None:
            self.rows[index] = dict(self.rows[index], corrected_label=label)
            self.dataChanged.emit(self.index(index, 0), self.index(index, len(COLUMNS) - 1))

    # -- Qt model ----------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def flags(self, index):
        flags = super().flags(index)
        if index.isValid() and index.column() == LABEL and self.rows[index.row()]["status"] == "done":
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == ROW_ROLE:
            return row
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return self._display(row, column)
        if role == SORT_ROLE:
            if column == CONFIDENCE:
                return row["score"] if row["score"] is not None else -1.0
            if column == RUNNER_UP:
                return row["runner_up_score"] if row["runner_up_score"] is not None else -1.0
            return (self._display(row, column) or "").lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS and row["status"] == "error":
            return QBrush(ERROR_COLOUR)
        if role == Qt.ItemDataRole.FontRole and column == LABEL and row.get("corrected_label"):
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _display(self, row: dict, column: int):
        if column == DOCUMENT:
            return row["name"]
        if column == LABEL:
            return shown_label(row)
        if column == CONFIDENCE:
            return "" if row["score"] is None else f"{row['score']:.0%}"
        if column == RUNNER_UP:
            if not row["runner_up"]:
                return ""
            return f"{row['runner_up']} ({row['runner_up_score']:.0%})"
        return status_text(row)

    def _tooltip(self, row: dict, column: int):
        if column == DOCUMENT:
            return row["source"] + (f" (row {row['row_key']})" if row["row_key"] else "")
        if column == LABEL and row.get("corrected_label") and row["corrected_label"] != row["label"]:
            return f"Corrected by you; the classifier said {row['label']}"
        if column == LABEL and row["status"] == "done":
            return "Double-click to correct the label; corrections teach the classifier"
        if column == STATUS and row["status"] == "error":
            return row["error"]
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole):
        if role != Qt.ItemDataRole.EditRole or index.column() != LABEL or not value:
            return False
        row = self.rows[index.row()]
        if value not in self.labels or value == shown_label(row) and row.get("corrected_label"):
            return False
        self.label_changed.emit(row["document_id"], value)
        return True


class ResultsFilterProxy(QSortFilterProxyModel):
    """Sorts by real values (confidence as a number) and filters by text and by label or state."""

    ALL, ERRORS, CORRECTED, UNSURE = "All", "Errors", "Corrected", "Unsure (< 50%)"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._text = ""
        self._choice = self.ALL

    def _refilter(self, change) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.10 and later
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_text", text.strip().lower()))

    def set_choice(self, choice: str) -> None:
        self._refilter(lambda: setattr(self, "_choice", choice or self.ALL))

    def filterAcceptsRow(self, source_row, source_parent):
        row = self.sourceModel().rows[source_row]
        if self._text and self._text not in row["name"].lower() and self._text not in shown_label(row).lower():
            return False
        choice = self._choice
        if choice == self.ALL:
            return True
        if choice == self.ERRORS:
            return row["status"] == "error"
        if choice == self.CORRECTED:
            return bool(row.get("corrected_label"))
        if choice == self.UNSURE:
            return row["status"] == "done" and (row["score"] or 0) < 0.5
        return shown_label(row) == choice
