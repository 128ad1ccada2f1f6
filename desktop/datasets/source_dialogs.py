"""Make rows from what the user already did: chat conversations, a classifier's corrections."""
from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QListWidget, QListWidgetItem,
    QVBoxLayout,
)

from desktop.datasets.operations import rows_text
from desktop.store import Database
from desktop.store import datasets as store
from models.datasets.sources import CHAT_MODES


def _target_combo(names: list[str], default: str) -> QComboBox:
    combo = QComboBox()
    combo.setEditable(True)
    combo.addItems(names)
    combo.setCurrentText(default)
    combo.setToolTip("A new name makes a new dataset; an existing one is added to")
    return combo


class FromChatDialog(QDialog):
    """Pick conversations and what to take from them; rows() gives the chat rows."""

    def __init__(self, db: Database, default_target: str = "From chat", parent=None):
        super().__init__(parent)
        self.db = db
        self.setWindowTitle("Add from chat")
        self.resize(560, 520)
        self.conversations = QListWidget()
        for conversation in store.conversations(db):
            item = QListWidgetItem(f"{conversation['title'] or 'Untitled'}  ·  {str(conversation['updated'])[:16]}")
            item.setData(Qt.ItemDataRole.UserRole, conversation["id"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.conversations.addItem(item)
        self.conversations.itemChanged.connect(self.update_count)
        self.mode = QComboBox()
        for key, text in CHAT_MODES.items():
            self.mode.addItem(text, key)
        self.mode.currentIndexChanged.connect(self.update_count)
        chat_names = [d["name"] for d in store.list_datasets(db) if d["kind"] == "chat"]
        self.target = _target_combo(chat_names, default_target)
        self.count = QLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add rows")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Take", self.mode)
        form.addRow("Into dataset", self.target)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Conversations"))
        layout.addWidget(self.conversations, 1)
        layout.addLayout(form)
        layout.addWidget(self.count)
        layout.addWidget(self.buttons)
        self.update_count()

    def checked_ids(self) -> list[int]:
        return [
            self.conversations.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.conversations.count())
            if self.conversations.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_checked(self, conversation_ids: list[int]) -> None:
        for i in range(self.conversations.count()):
            item = self.conversations.item(i)
            wanted = item.data(Qt.ItemDataRole.UserRole) in conversation_ids
            item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)

    def rows(self) -> list[dict]:
        mode = self.mode.currentData()
        return [row for cid in self.checked_ids() for row in store.rows_from_conversation(self.db, cid, mode)]

    def update_count(self, *_) -> None:
        rows = self.rows()
        chosen = len(self.checked_ids())
        self.count.setText(f"{rows_text(len(rows))} from {chosen} conversation{'' if chosen == 1 else 's'}.")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(rows) and bool(self.target_name()))

    def target_name(self) -> str:
        return self.target.currentText().strip()


class FromClassifierDialog(QDialog):
    """Pick a classifier and which of its examples to take; rows() gives text/label rows."""

    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db
        self.setWindowTitle("Add from a classifier")
        self.resize(480, 260)
        self.classifier = QComboBox()
        for classifier in store.classifiers(db):
            self.classifier.addItem(classifier["name"], classifier["id"])
        self.corrections = QCheckBox("Corrections you made")
        self.examples = QCheckBox("Examples you gave")
        self.corrections.setChecked(True)
        self.examples.setChecked(True)
        names = [d["name"] for d in store.list_datasets(db) if d["kind"] == "classification"]
        self.target = _target_combo(names, self.classifier.currentText() or "From classify")
        self.count = QLabel()
        self.count.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add rows")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for signal in (self.classifier.currentIndexChanged, self.corrections.toggled, self.examples.toggled):
            signal.connect(self.update_count)
        self.classifier.currentIndexChanged.connect(lambda _: self.target.setCurrentText(self.classifier.currentText()))
        form = QFormLayout()
        form.addRow("Classifier", self.classifier)
        form.addRow("Take", self.corrections)
        form.addRow("", self.examples)
        form.addRow("Into dataset", self.target)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.count)
        layout.addWidget(self.buttons)
        self.update_count()

    def sources(self) -> tuple[str, ...]:
        return tuple(s for s, box in (("correction", self.corrections), ("example", self.examples)) if box.isChecked())

    def rows(self) -> list[dict]:
        if self.classifier.currentData() is None or not self.sources():
            return []
        return store.rows_from_classifier(self.db, self.classifier.currentData(), self.sources())

    def update_count(self, *_) -> None:
        rows = self.rows()
        labels = Counter(r["label"] for r in rows)
        detail = ", ".join(f"{label} {n}" for label, n in labels.most_common(8))
        self.count.setText(rows_text(len(rows)) + (f" ({detail})" if detail else "") + ".")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(rows) and bool(self.target_name()))

    def target_name(self) -> str:
        return self.target.currentText().strip()
