"""The messages of the shown conversation as a list model; a streaming reply changes one row."""
from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

MessageRole = Qt.ItemDataRole.UserRole + 1


class TranscriptModel(QAbstractListModel):
    """Rows are message dicts as `desktop.store.conversations.transcript` returns them."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[dict] = []

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        message = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return message["content"]
        if role == MessageRole:
            return message
        return None

    def message(self, row: int) -> dict:
        return self._rows[row]

    def messages(self) -> list[dict]:
        return list(self._rows)

    def row_of(self, message_id: int) -> int | None:
        for row, message in enumerate(self._rows):
            if message["id"] == message_id:
                return row
        return None

    def set_messages(self, messages: list[dict]) -> None:
        self.beginResetModel()
        self._rows = [dict(m) for m in messages]
        self.endResetModel()

    def _changed(self, row: int) -> None:
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)

    def append_text(self, row: int, text: str) -> None:
        self._rows[row]["content"] += text
        self._changed(row)

    def update(self, row: int, **changes) -> None:
        self._rows[row].update(changes)
        self._changed(row)

    def add_notice(self, row: int, text: str) -> None:
        message = self._rows[row]
        message["notices"] = list(message.get("notices") or []) + [text]
        self._changed(row)
