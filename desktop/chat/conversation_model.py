"""The conversation list (most recent first, or search hits) as a list model; titles edit in place."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

IdRole = Qt.ItemDataRole.UserRole + 1
SubtitleRole = Qt.ItemDataRole.UserRole + 2


def when(stamp: str, now: datetime | None = None) -> str:
    """'14:02' today, 'Mon 14:02' this week, '3 Mar' this year, else '3 Mar 2024' (local time)."""
    try:
        moment = datetime.fromisoformat(stamp).astimezone()
    except ValueError:
        return ""
    now = (now or datetime.now(timezone.utc)).astimezone()
    if moment.date() == now.date():
        return moment.strftime("%H:%M")
    if (now - moment).days < 6:
        return moment.strftime("%a %H:%M")
    if moment.year == now.year:
        return f"{moment.day} {moment.strftime('%b')}"
    return f"{moment.day} {moment.strftime('%b %Y')}"


class ConversationListModel(QAbstractListModel):
    def __init__(self, rename: Callable[[int, str], bool], parent=None):
        super().__init__(parent)
        self._rows: list[dict] = []
        self._rename = rename

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return row["title"]
        if role == IdRole:
            return row["id"]
        if role == SubtitleRole:
            return row.get("snippet") or when(row["updated"])
        if role == Qt.ItemDataRole.ToolTipRole:
            return row["title"]
        return None

    def flags(self, index):
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsEditable if index.isValid() else flags

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole):
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        return self._rename(self._rows[index.row()]["id"], str(value))

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def ids(self) -> list[int]:
        return [row["id"] for row in self._rows]

    def row_of(self, conversation_id: int) -> int | None:
        ids = self.ids()
        return ids.index(conversation_id) if conversation_id in ids else None
