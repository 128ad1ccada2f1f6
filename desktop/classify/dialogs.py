"""Dialogs of the Classify page: a classifier's name and labels, and a table's text column."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QInputDialog, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout,
)


def parse_label_lines(text: str) -> tuple[list[str], dict[str, str]]:
    """'Label: description' per line (the description is optional) -> (labels, descriptions)."""
    labels, descriptions = [], {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, description = line.partition(":")
        name = name.strip()
        labels.append(name)
        descriptions[name] = description.strip()
    return labels, descriptions


def label_lines(labels: list[str], descriptions: dict[str, str]) -> str:
    return "\n".join(f"{label}: {descriptions[label]}" if descriptions.get(label) else label for label in labels)


class ClassifierDialog(QDialog):
    """Name and labels of a new classifier, or of one being edited."""

    def __init__(self, parent=None, name: str = "", labels: list[str] | None = None,
                 descriptions: dict[str, str] | None = None, title: str = "New classifier"):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.name_edit = QLineEdit(name)
        self.name_edit.setPlaceholderText("e.g. Invoices, Support tickets, News topics")
        self.labels_edit = QPlainTextEdit(label_lines(labels or [], descriptions or {}))
        self.labels_edit.setPlaceholderText("One label per line, optionally with a description:\n"
                                            "Sports: games, matches, teams and athletes\nBusiness: companies and markets")
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Labels", self.labels_edit)
        hint = QLabel("A short description after a colon helps zero-shot: it is what the documents are compared with.")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(520, 360)

    def values(self) -> tuple[str, list[str], dict[str, str]]:
        labels, descriptions = parse_label_lines(self.labels_edit.toPlainText())
        return self.name_edit.text().strip(), labels, descriptions

    def _check(self) -> None:
        name, labels, _ = self.values()
        if not name:
            self.error.setText("Give the classifier a name.")
        elif len(labels) < 2:
            self.error.setText("Give at least two labels, one per line.")
        elif len(set(labels)) != len(labels):
            self.error.setText("Each label must appear once.")
        else:
            self.accept()


def ask_text_column(parent, path: str, columns: list[str], guess: str) -> str | None:
    """Which column of a dropped table holds the text; None if the user cancels."""
    current = columns.index(guess) if guess in columns else 0
    column, ok = QInputDialog.getItem(parent, "Which column holds the text?",
                                      f"Each row of {path} is a document. Text column:", columns, current, False)
    return column if ok else None
