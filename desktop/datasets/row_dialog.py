"""Add or edit one row by hand: a text and a label, or a list of messages."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
    QScrollArea, QVBoxLayout, QWidget,
)

from models.datasets.rows import ROLES, RowError, check_row


class MessageEditor(QWidget):
    def __init__(self, role: str, content: str, on_remove, parent=None):
        super().__init__(parent)
        self.role = QComboBox()
        self.role.addItems(ROLES)
        self.role.setCurrentText(role)
        self.content = QPlainTextEdit(content)
        self.content.setMinimumHeight(70)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: on_remove(self))
        side = QVBoxLayout()
        side.addWidget(self.role)
        side.addWidget(remove)
        side.addStretch()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(side)
        layout.addWidget(self.content, 1)

    def message(self) -> dict:
        return {"role": self.role.currentText(), "content": self.content.toPlainText()}


class RowDialog(QDialog):
    def __init__(self, kind: str, row: dict | None = None, labels: list[str] | None = None, parent=None):
        super().__init__(parent)
        self.kind = kind
        self.setWindowTitle("Edit row" if row else "Add row")
        self.resize(640, 480)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        layout = QVBoxLayout(self)
        if kind == "classification":
            row = row or {"text": "", "label": ""}
            self.text = QPlainTextEdit(row["text"])
            self.label = QComboBox()
            self.label.setEditable(True)
            self.label.addItems(labels or [])
            self.label.setCurrentText(row["label"])
            form = QFormLayout()
            form.addRow("Text", self.text)
            form.addRow("Label", self.label)
            layout.addLayout(form)
        else:
            row = row or {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]}
            self.editors: list[MessageEditor] = []
            self.messages_box = QVBoxLayout()
            holder = QWidget()
            holder.setLayout(self.messages_box)
            self.messages_box.addStretch()
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(holder)
            for message in row["messages"]:
                self.add_message(message["role"], message["content"])
            add = QPushButton("Add message")
            add.clicked.connect(self._add_next)
            layout.addWidget(scroll, 1)
            layout.addWidget(add)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def add_message(self, role: str, content: str) -> MessageEditor:
        editor = MessageEditor(role, content, self._remove)
        self.editors.append(editor)
        self.messages_box.insertWidget(self.messages_box.count() - 1, editor)
        return editor

    def _add_next(self) -> None:
        last = self.editors[-1].role.currentText() if self.editors else "assistant"
        self.add_message("assistant" if last == "user" else "user", "")

    def _remove(self, editor: MessageEditor) -> None:
        self.editors.remove(editor)
        editor.deleteLater()

    def row(self) -> dict:
        if self.kind == "classification":
            return {"text": self.text.toPlainText(), "label": self.label.currentText().strip()}
        return {"messages": [editor.message() for editor in self.editors]}

    def accept(self) -> None:
        try:
            row = check_row(self.kind, self.row())
        except RowError as exc:
            self.error.setText(str(exc))
            return
        if self.kind == "classification" and not row["label"]:
            self.error.setText("a row needs a label")
            return
        super().accept()
