"""The start form: what to improve, from which model and data; the automatic settings and the
estimate shown at once; an Advanced section to override any setting; Start.

The form only collects choices (`JobRequest`) and shows plans; the page computes the plan in the
background and starts the job.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QButtonGroup, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame, QGroupBox,
    QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton, QRadioButton, QScrollArea,
    QSpinBox,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from desktop.finetune.sources import BASE_KINDS, TASK_TITLES, TASKS, DataSource

TASK_HINTS = {
    "chat": "answers like the conversations of a chat dataset (or a JSONL file of them)",
    "classifier": "a classification dataset, a classifier's examples and corrections, or a CSV/JSONL "
                  "file with text and label",
    "pretrain": "a folder of PDF, Word or text files: the model learns your domain's words",
}
FILE_FILTER = "Training data (*.csv *.tsv *.jsonl *.json);;All files (*)"
CHOOSE_FILE, CHOOSE_FOLDER = "__file__", "__folder__"
# What the Advanced combo boxes mean to the plan.
COMBO_VALUES = {"full": False, "lora": True, "on": True, "off": False}


def tidy_advice(text: str) -> str:
    """The engine's advice without its command-line spellings, as a sentence."""
    text = re.sub(r"\s*\(--[^)]*\)", "", text).strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@dataclass
class JobRequest:
    task: str
    base_model: str
    source: DataSource | None
    output_name: str
    overrides: dict = field(default_factory=dict)


class StartForm(QWidget):
    changed = Signal()  # any choice changed: the page re-plans
    start_requested = Signal(object)  # JobRequest

    def __init__(self, parent=None):
        super().__init__(parent)
        self._models: dict[str, list[str]] = {}
        self.stored_sources: list[DataSource] = []
        self._picked: DataSource | None = None
        self._name_edited = False
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(300)
        self.debounce.timeout.connect(self.changed)

        # -- what to improve ------------------------------------------------------------------
        self.task_group = QButtonGroup(self)
        task_rows = QGridLayout()
        task_rows.setColumnStretch(1, 1)
        for index, task in enumerate(TASKS):
            button = QRadioButton(TASK_TITLES[task])
            button.setProperty("task", task)
            self.task_group.addButton(button, index)
            hint = QLabel(TASK_HINTS[task])
            hint.setWordWrap(True)
            hint.setStyleSheet("color: #6b7280;")
            task_rows.addWidget(button, index, 0)
            task_rows.addWidget(hint, index, 1)
        self.task_group.button(0).setChecked(True)

        self.base_combo = QComboBox()
        self.data_combo = QComboBox()
        self.data_combo.setMinimumContentsLength(30)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("name of the new model")
        self.name_edit.textEdited.connect(self._on_name_edited)

        choices = QFormLayout()
        choices.addRow("Base model", self.base_combo)
        choices.addRow("Data", self.data_combo)
        choices.addRow("New model's name", self.name_edit)

        # -- the automatic settings and the estimate ------------------------------------------
        self.busy = QProgressBar()  # planning loads a tokenizer and probes the device: seconds
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(6)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.estimate_label = QLabel("Choose a model and data to see the settings and the estimate.")
        self.estimate_label.setObjectName("estimate")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextFormat(Qt.TextFormat.RichText)
        self.settings_table = QTableWidget(0, 3)
        self.settings_table.setHorizontalHeaderLabels(["Setting", "Value", "Why"])
        self.settings_table.verticalHeader().hide()
        self.settings_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.settings_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.settings_table.setWordWrap(True)
        header = self.settings_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.settings_table.setMinimumHeight(180)

        # -- will not fit: why, and one-click fixes --------------------------------------------
        self.fix_box = QFrame()
        self.fix_box.setObjectName("fixBox")
        self.fix_box.setStyleSheet("QFrame#fixBox { background: #fdecea; border: 1px solid #f5c2bd; border-radius: 4px; }")
        self.fix_reason = QLabel()
        self.fix_reason.setWordWrap(True)
        self.fix_buttons = {
            "batch": QPushButton("Smaller batch"),
            "lora": QPushButton("Use LoRA"),
            "max_length": QPushButton("Shorter max length"),
            "checkpointing": QPushButton("Gradient checkpointing"),
            "cpu": QPushButton("Train on the CPU"),
        }
        fixes = QHBoxLayout()
        fixes.addWidget(QLabel("Fix it:"))
        for key, button in self.fix_buttons.items():
            button.clicked.connect(lambda _=False, k=key: self.apply_fix(k))
            fixes.addWidget(button)
        fixes.addStretch()
        fix_layout = QVBoxLayout(self.fix_box)
        fix_layout.addWidget(self.fix_reason)
        fix_layout.addLayout(fixes)
        self.fix_box.hide()

        # -- advanced overrides ----------------------------------------------------------------
        self.advanced_toggle = QPushButton("Advanced: override the automatic settings ▸")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setFlat(True)
        self.advanced_toggle.setStyleSheet("text-align: left; color: #2f6fb3;")
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        self.advanced = QGroupBox()
        self.advanced.hide()
        self.override_widgets: dict[str, QWidget] = {}
        self._build_advanced()

        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.start_button.setStyleSheet(
            "QPushButton#primary { background: #e8743b; color: white; font-weight: bold; padding: 7px 28px; "
            "border-radius: 4px; } QPushButton#primary:disabled { background: #e6c2b0; }"
        )
        self.start_button.setEnabled(False)
        self.start_button.clicked.connect(self._request_start)
        self.message = QLabel()
        self.message.setWordWrap(True)
        start_row = QHBoxLayout()
        start_row.addWidget(self.start_button)
        start_row.addWidget(self.message, 1)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(QLabel("<b>What to improve</b>"))
        layout.addLayout(task_rows)
        layout.addSpacing(4)
        layout.addLayout(choices)
        layout.addSpacing(6)
        layout.addWidget(QLabel("<b>Automatic settings</b>"))
        layout.addWidget(self.busy)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.fix_box)
        layout.addWidget(self.settings_table, 1)
        layout.addWidget(self.advanced_toggle)
        layout.addWidget(self.advanced)
        layout.addLayout(start_row)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.task_group.idToggled.connect(self._on_task_toggled)
        self.base_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.data_combo.activated.connect(self._on_data_activated)

    # -- building ----------------------------------------------------------------------------
    def _build_advanced(self) -> None:
        form = QFormLayout(self.advanced)

        def spin(name, label, maximum, decimals=None, step=1):
            widget = QDoubleSpinBox() if decimals is not None else QSpinBox()
            if decimals is not None:
                widget.setDecimals(decimals)
                widget.setSingleStep(step)
            widget.setRange(0, maximum)
            widget.setSpecialValueText("auto")  # the minimum (0) means: let Fireside choose
            widget.valueChanged.connect(self._on_choice_changed)
            self.override_widgets[name] = widget
            form.addRow(label, widget)

        def combo(name, label, items):
            widget = QComboBox()
            widget.addItem("auto", None)
            for text, value in items:
                widget.addItem(text, value)
            widget.currentIndexChanged.connect(self._on_choice_changed)
            self.override_widgets[name] = widget
            form.addRow(label, widget)

        combo("lora", "Method", (("full fine-tuning", "full"), ("LoRA adapters", "lora")))
        spin("epochs", "Epochs", 100, decimals=1, step=0.5)
        spin("learning_rate", "Learning rate", 0.1, decimals=6, step=0.00001)
        spin("batch_size", "Batch size", 1024)
        spin("gradient_accumulation", "Gradient accumulation", 256)
        spin("max_length", "Max length (tokens)", 32768)
        spin("validation_split", "Validation share", 0.5, decimals=2, step=0.05)
        spin("lora_r", "LoRA rank", 256)
        combo("gradient_checkpointing", "Gradient checkpointing", (("on", "on"), ("off", "off")))
        combo("device", "Device", (("GPU (CUDA)", "cuda"), ("Apple GPU (MPS)", "mps"), ("CPU", "cpu")))
        reset = QPushButton("Back to automatic")
        reset.clicked.connect(self.reset_overrides)
        form.addRow("", reset)

    # -- filling -----------------------------------------------------------------------------
    @property
    def task(self) -> str:
        return self.task_group.checkedButton().property("task")

    def set_task(self, task: str) -> None:
        self.task_group.button(TASKS.index(task)).setChecked(True)

    def set_models(self, models_by_kind: dict[str, list[str]]) -> None:
        """Registered model names by kind ('chat', 'encoder', 'classifier')."""
        self._models = models_by_kind
        self._fill_base()
        if not self._name_edited:
            self.name_edit.setText(self.suggested_name())

    def set_sources(self, sources: list[DataSource]) -> None:
        self.stored_sources = sources
        self._fill_data()
        if not self._name_edited:
            self.name_edit.setText(self.suggested_name())

    def _fill_base(self) -> None:
        current = self.base_combo.currentText()
        self.base_combo.blockSignals(True)
        self.base_combo.clear()
        for kind in BASE_KINDS[self.task]:
            for name in self._models.get(kind, []):
                self.base_combo.addItem(name, kind)
        index = self.base_combo.findText(current)
        self.base_combo.setCurrentIndex(max(index, 0))
        self.base_combo.blockSignals(False)

    def _fill_data(self) -> None:
        self.data_combo.blockSignals(True)
        self.data_combo.clear()
        self.data_combo.addItem("Choose data…", None)
        for source in self.stored_sources:
            self.data_combo.addItem(source.title, source)
        if self._picked is not None:
            self.data_combo.addItem(self._picked.title, self._picked)
        if self.task == "pretrain":
            self.data_combo.addItem("A folder of documents…", CHOOSE_FOLDER)
        self.data_combo.addItem("A file (CSV or JSONL)…", CHOOSE_FILE)
        selected = self._picked or (self.stored_sources[0] if self.stored_sources else None)
        for index in range(self.data_combo.count()):
            if self.data_combo.itemData(index) == selected and selected is not None:
                self.data_combo.setCurrentIndex(index)
                break
        else:
            self.data_combo.setCurrentIndex(0)
        self.data_combo.blockSignals(False)

    # -- reading -----------------------------------------------------------------------------
    @property
    def source(self) -> DataSource | None:
        data = self.data_combo.currentData()
        return data if isinstance(data, DataSource) else None

    def overrides(self) -> dict:
        """The settings the user chose in Advanced, by the plan's names (the rest stays automatic)."""
        values = {}
        for name, widget in self.override_widgets.items():
            if isinstance(widget, QComboBox):
                value = widget.currentData()
                if value is not None:
                    values[name] = COMBO_VALUES.get(value, value)
            elif widget.value() > widget.minimum():
                values[name] = widget.value()
        return values

    def request(self) -> JobRequest | None:
        base = self.base_combo.currentText()
        if not base:
            return None
        return JobRequest(self.task, base, self.source, self.name_edit.text().strip(), self.overrides())

    # -- reacting ----------------------------------------------------------------------------
    def _on_task_toggled(self, _id: int, checked: bool) -> None:
        if not checked:
            return
        self._picked = None
        self._fill_base()
        self.changed.emit()  # the page refills the data sources for this task, then re-plans

    def _on_data_activated(self, index: int) -> None:
        data = self.data_combo.itemData(index)
        if data == CHOOSE_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Training data", filter=FILE_FILTER)
            self.pick_path(Path(path), folder=False) if path else self._fill_data()
            return
        if data == CHOOSE_FOLDER:
            path = QFileDialog.getExistingDirectory(self, "A folder of documents")
            self.pick_path(Path(path), folder=True) if path else self._fill_data()
            return
        self._on_choice_changed()

    def pick_path(self, path: Path, folder: bool) -> None:
        """Use a file or folder as the data (also what the file dialogs end in)."""
        kind = "folder" if folder else "file"
        self._picked = DataSource(kind, str(path), f"{'Folder' if folder else 'File'}: {path.name}")
        self._fill_data()
        self._on_choice_changed()

    def select_source(self, source: DataSource) -> None:
        for index in range(self.data_combo.count()):
            if self.data_combo.itemData(index) == source:
                self.data_combo.setCurrentIndex(index)
                self._on_choice_changed()
                return

    def _on_name_edited(self, _text: str) -> None:
        self._name_edited = True

    def _on_choice_changed(self, *_args) -> None:
        if not self._name_edited:
            self.name_edit.setText(self.suggested_name())
        self.start_button.setEnabled(False)
        self.debounce.start()

    def suggested_name(self) -> str:
        """'<base>-<data>', numbered when a model of that name exists."""
        base = self.base_combo.currentText() or "model"
        source = self.source
        if source is None:
            name = f"{base}-tuned"
        else:
            stem = Path(source.ref).stem if source.path else source.title.split(":", 1)[-1].strip().split(" (")[0]
            name = f"{base}-{stem}".replace(" ", "-")
        taken = {model for names in self._models.values() for model in names}
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name}-{number}", number + 1
        return candidate

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        arrow = "▾" if shown else "▸"
        self.advanced_toggle.setText(f"Advanced: override the automatic settings {arrow}")

    def reset_overrides(self) -> None:
        for widget in self.override_widgets.values():
            widget.blockSignals(True)
            if isinstance(widget, QComboBox):
                widget.setCurrentIndex(0)
            else:
                widget.setValue(widget.minimum())
            widget.blockSignals(False)
        self._on_choice_changed()

    def set_override(self, name: str, value) -> None:
        widget = self.override_widgets[name]
        if isinstance(widget, QComboBox):
            index = widget.findData(value)
            widget.setCurrentIndex(max(index, 0))
        else:
            widget.setValue(value)

    # -- plans ---------------------------------------------------------------------------------
    def show_planning(self) -> None:
        self.start_button.setEnabled(False)
        self.busy.show()
        self.estimate_label.setText("<i>Working out the settings…</i>")

    def show_preparing(self, preparing: bool) -> None:
        """Start was clicked: the data is being frozen into the job folder."""
        self.busy.setVisible(preparing)
        self.start_button.setEnabled(not preparing)
        self.message.setText("Preparing the job: freezing a snapshot of the data…" if preparing else "")

    def show_plan(self, view) -> None:
        """`view`: a PlanView (settings rows, estimate text, fits, advice, fixes)."""
        self.busy.hide()
        self.settings_table.setRowCount(len(view.rows))
        for row, (name, value, reason) in enumerate(view.rows):
            for col, text in enumerate((name, value, reason)):
                item = QTableWidgetItem(text)
                item.setToolTip(reason)
                if col == 2:
                    item.setForeground(Qt.GlobalColor.darkGray)
                self.settings_table.setItem(row, col, item)
        self.settings_table.resizeRowsToContents()
        notes = "".join(f"<br><span style='color:#9a6700'>⚠ {html.escape(w)}</span>" for w in view.warnings)
        if view.fits:
            self.estimate_label.setText(f"<span style='color:#1f7a3a'>✔</span> {view.estimate}{notes}")
            self.fix_box.hide()
        else:
            self.estimate_label.setText(f"<span style='color:#b00020'>✘ Will not fit.</span> {view.estimate}{notes}")
            advice = [tidy_advice(a) for a in view.advice] or ["The estimate is above what this device has."]
            self.fix_reason.setText("<ul style='margin: 0'>" + "".join(f"<li>{html.escape(a)}</li>" for a in advice)
                                    + "</ul>")
            for key, button in self.fix_buttons.items():
                button.setVisible(key in view.fixes)
            self.fix_box.show()
        self.start_button.setEnabled(view.fits)
        self.plan_view = view

    def show_plan_error(self, message: str) -> None:
        self.busy.hide()
        self.settings_table.setRowCount(0)
        self.fix_box.hide()
        self.estimate_label.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")
        self.start_button.setEnabled(False)

    def apply_fix(self, key: str) -> None:
        """One click on a fix: set the override it stands for (shown in Advanced) and re-plan."""
        view = getattr(self, "plan_view", None)
        current = view.values if view else {}
        if key == "batch":
            batch = int(current.get("batch_size") or 2)
            accumulation = int(current.get("gradient_accumulation") or 1)
            self.set_override("batch_size", max(1, batch // 2))
            self.set_override("gradient_accumulation", accumulation * 2)
        elif key == "lora":
            self.set_override("lora", "lora")
        elif key == "max_length":
            length = int(current.get("max_length") or 512)
            self.set_override("max_length", max(16, length // 2))
        elif key == "checkpointing":
            self.set_override("gradient_checkpointing", "on")
        elif key == "cpu":
            self.set_override("device", "cpu")
        self.advanced_toggle.setChecked(True)
        self._on_choice_changed()

    def _request_start(self) -> None:
        request = self.request()
        if request is None:
            return
        if not request.output_name:
            self.message.setText("Give the new model a name.")
            return
        self.start_requested.emit(request)
