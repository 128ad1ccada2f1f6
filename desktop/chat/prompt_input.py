"""The message box: Enter sends, Shift+Enter starts a new line; it grows with its text."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QPlainTextEdit

MAX_LINES = 8


class PromptEdit(QPlainTextEdit):
    submitted = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("promptEdit")
        self.setPlaceholderText("Message the model")
        self.setToolTip("Enter sends, Shift+Enter starts a new line")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setTabChangesFocus(True)
        self.document().contentsChanged.connect(self._grow)
        self._grow()

    def keyPressEvent(self, event):
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            return
        super().keyPressEvent(event)

    def _grow(self) -> None:
        line = self.fontMetrics().lineSpacing()
        lines = min(max(self.document().blockCount(), 1), MAX_LINES)
        if self.document().characterCount() > 5000:
            lines = MAX_LINES  # a long paste: do not lay out a megabyte just to measure it
        margins = self.contentsMargins().top() + self.contentsMargins().bottom()
        self.setFixedHeight(lines * line + int(self.document().documentMargin() * 2) + margins + 4)
