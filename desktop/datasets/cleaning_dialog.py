"""Clean a dataset: choose a tool, see what it would change and how many rows, then apply."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox, QDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QSpinBox,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from desktop.background import BackgroundOp
from desktop.datasets.operations import CLEANING_ACTIONS, TokenizerCache, plan_cleaning
from desktop.datasets.table_model import one_line
from desktop.store import Database
from desktop.store import datasets as store
from models.datasets.cleaning import CleaningPlan


class CleaningDialog(QDialog):
    def __init__(self, db: Database, dataset: dict, tokenizers: TokenizerCache, action: str = "duplicates",
                 parent=None):
        super().__init__(parent)
        self.db, self.dataset, self.tokenizers = db, dataset, tokenizers
        self.plan: CleaningPlan | None = None
        self.applied: tuple[int, int] | None = None
        self.op: BackgroundOp | None = None
        self.setWindowTitle(f"Clean {dataset['name']}")
        self.resize(960, 620)

        self.action_combo = QComboBox()
        for key, text in CLEANING_ACTIONS.items():
            self.action_combo.addItem(text, key)
        self.action_combo.setCurrentIndex(self.action_combo.findData(action))
        self.action_combo.currentIndexChanged.connect(self._action_changed)

        self.token_options = QWidget()
        self.model_combo = QComboBox()
        self.model_combo.addItems(tokenizers.model_names(dataset["kind"]))
        self.min_tokens = QSpinBox()
        self.min_tokens.setRange(0, 1_000_000)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(0, 1_000_000)
        self.max_tokens.setSpecialValueText("the model's context")
        token_form = QFormLayout(self.token_options)
        token_form.setContentsMargins(0, 0, 0, 0)
        token_form.addRow("Tokenizer of", self.model_combo)
        token_form.addRow("At least (tokens)", self.min_tokens)
        token_form.addRow("At most (tokens)", self.max_tokens)
        for widget in (self.model_combo, self.min_tokens, self.max_tokens):
            signal = widget.currentIndexChanged if isinstance(widget, QComboBox) else widget.valueChanged
            signal.connect(self._invalidate)

        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.summary = QLabel("Choose a cleaning and preview it; nothing changes until you apply it.")
        self.summary.setWordWrap(True)
        self.examples = QTableWidget(0, 3)
        self.examples.setHorizontalHeaderLabels(["Row", "Now", "After"])
        self.examples.verticalHeader().hide()
        self.examples.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.examples.setWordWrap(True)
        header = self.examples.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        self.apply_button = QPushButton("Apply")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)

        top = QHBoxLayout()
        top.addWidget(QLabel("Cleaning"))
        top.addWidget(self.action_combo, 1)
        top.addWidget(self.preview_button)
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.token_options)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.examples, 1)
        layout.addLayout(buttons)
        self._action_changed()

    def action(self) -> str:
        return self.action_combo.currentData()

    def _action_changed(self) -> None:
        self.token_options.setVisible(self.action() == "token-length")
        self._invalidate()

    def _invalidate(self) -> None:
        self.plan = None
        self.apply_button.setEnabled(False)
        self.examples.setRowCount(0)

    def _busy(self, busy: bool) -> None:
        self.progress.setValue(0)
        self.progress.setVisible(busy)
        self.preview_button.setEnabled(not busy)
        self.action_combo.setEnabled(not busy)
        if busy:
            self.apply_button.setEnabled(False)

    def preview(self) -> BackgroundOp:
        """Work out the plan off the GUI thread and show it; nothing is written."""
        action, db, dataset_id = self.action(), self.db, self.dataset["id"]
        model, low, high = self.model_combo.currentText(), self.min_tokens.value(), self.max_tokens.value()
        tokenizers = self.tokenizers
        self._invalidate()
        self._busy(True)
        self.summary.setText("Looking at every row…")

        def work(op):
            tokenizer = None
            maximum = high or None
            if action == "token-length":
                tokenizer, context = tokenizers.get(model, op.progress)
                maximum = high or context
            return plan_cleaning(db, dataset_id, action, tokenizer=tokenizer, min_tokens=low, max_tokens=maximum,
                                 progress=op.progress, cancelled=op.cancelled)

        def progressed(fraction, text):
            self.progress.setValue(int(fraction * 100))
            if text:
                self.summary.setText(text)

        self.op = BackgroundOp(work).success(self.show_plan).failure(self._failed).on_progress(progressed)
        return self.op.run_in_background()

    def show_plan(self, plan: CleaningPlan) -> None:
        self._busy(False)
        self.plan = plan
        self.summary.setStyleSheet("")
        shown = f" Showing the first {len(plan.examples)}." if plan.changes > len(plan.examples) else ""
        self.summary.setText(f"<b>{plan.summary()}</b>{shown}")
        self.examples.setRowCount(len(plan.examples))
        for r, (number, before, after) in enumerate(plan.examples):
            for c, text in enumerate((str(number), one_line(before, 400), one_line(after, 400) if after else "(removed)")):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.examples.setItem(r, c, item)
        self.examples.resizeRowsToContents()
        self.apply_button.setEnabled(plan.changes > 0)
        self.apply_button.setText(f"Apply to {plan.changes:,} rows" if plan.changes else "Apply")

    def _failed(self, message: str) -> None:
        self._busy(False)
        self.summary.setStyleSheet("color: #b00020;")
        self.summary.setText(message)

    def apply(self) -> BackgroundOp | None:
        if self.plan is None:
            return None
        plan, db, dataset_id = self.plan, self.db, self.dataset["id"]
        self._busy(True)
        self.progress.setRange(0, 0)
        self.summary.setText(f"Applying to {plan.changes:,} rows…")

        def done(result):
            self.progress.setRange(0, 100)
            self._busy(False)
            self.applied = result
            self.accept()

        def failed(message):
            self.progress.setRange(0, 100)
            self._failed(message)

        self.op = BackgroundOp(store.apply_plan, db, dataset_id, plan).success(done).failure(failed)
        return self.op.run_in_background()

    def reject(self) -> None:
        if self.op is not None:
            self.op.cancel()
        super().reject()
