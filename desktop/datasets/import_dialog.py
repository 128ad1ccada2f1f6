"""Import a file or a labelled folder: the detected format, a preview, the malformed lines with
their numbers, and the choice to skip them or cancel, all before anything is written."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QListWidget, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from desktop.background import BackgroundOp
from desktop.datasets.operations import default_name, read_source
from desktop.datasets.table_model import COLUMNS, _cells
from models.datasets.formats import JSON_FORMATS, ParseResult

PREVIEW_ROWS = 100
FORMAT_CHOICES = {"auto": "Detect automatically", **JSON_FORMATS, "csv": "CSV table", "tsv": "TSV table"}
FORMAT_NAMES = {**JSON_FORMATS, "csv": "CSV table", "tsv": "TSV table", "folder": "Folder (sub-folders are labels)"}
ROW_SHAPES = {"classification": "Text and label", "single-turn": "Prompt and response (chat)",
              "messages": "Messages as JSON (chat)"}
SHAPE_PARTS = {"classification": ("text", "label"), "single-turn": ("prompt", "response", "system"),
               "messages": ("messages",)}


class ImportDialog(QDialog):
    def __init__(self, path: Path | None = None, existing: dict[str, dict] | None = None, parent=None):
        """`existing`: the datasets there are, by name (kind, row_count), to say when rows are added to one."""
        super().__init__(parent)
        self.existing = existing or {}
        self.setWindowTitle("Import data")
        self.resize(900, 640)
        self.path: Path | None = None
        self.parsed: ParseResult | None = None
        self.skip_bad_lines = False
        self.op: BackgroundOp | None = None
        self._parse_generation = 0

        self.path_edit = QLineEdit()
        self.path_edit.setReadOnly(True)
        self.path_edit.setPlaceholderText("Choose a JSONL, JSON, CSV or TSV file, or a folder of labelled sub-folders")
        choose_file = QPushButton("File…")
        choose_folder = QPushButton("Folder…")
        choose_file.clicked.connect(self.choose_file)
        choose_folder.clicked.connect(self.choose_folder)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(choose_file)
        path_row.addWidget(choose_folder)

        self.format_combo = QComboBox()
        for key, text in FORMAT_CHOICES.items():
            self.format_combo.addItem(text, key)
        self.format_combo.currentIndexChanged.connect(lambda _: self.reparse(keep_mapping=False))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Dataset name (an existing dataset of the same kind is added to)")
        self.name_edit.textChanged.connect(lambda _: self._update_target())
        self.target_note = QLabel()

        # Column mapping, shown for tables only.
        self.table_options = QWidget()
        self.header_check = QCheckBox("The first row names the columns")
        self.header_check.toggled.connect(lambda _: self.reparse(keep_mapping=False))
        self.shape_combo = QComboBox()
        for key, text in ROW_SHAPES.items():
            self.shape_combo.addItem(text, key)
        self.shape_combo.currentIndexChanged.connect(self._shape_changed)
        self.column_combos: dict[str, QComboBox] = {}
        mapping_form = QFormLayout(self.table_options)
        mapping_form.setContentsMargins(0, 0, 0, 0)
        mapping_form.addRow("", self.header_check)
        mapping_form.addRow("Rows are", self.shape_combo)
        for part in ("text", "label", "prompt", "response", "system", "messages"):
            combo = QComboBox()
            combo.currentIndexChanged.connect(lambda _: self.reparse(keep_mapping=True))
            self.column_combos[part] = combo
            mapping_form.addRow(f"{part.capitalize()} column", combo)
        self.mapping_form = mapping_form
        self.table_options.hide()

        form = QFormLayout()
        form.addRow("Source", path_row)
        form.addRow("Format", self.format_combo)
        form.addRow(self.table_options)
        form.addRow("Dataset", self.name_edit)
        form.addRow("", self.target_note)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.preview = QTableWidget()
        self.preview.verticalHeader().hide()
        self.preview.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.bad_title = QLabel()
        self.bad_title.setStyleSheet("color: #b00020;")
        self.bad_list = QListWidget()
        self.bad_list.setMaximumHeight(130)
        self.bad_title.hide()
        self.bad_list.hide()

        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.skip_button = QPushButton("Skip bad lines and import")
        self.cancel_button = QPushButton("Cancel")
        self.import_button.clicked.connect(lambda: self._finish(skip=False))
        self.skip_button.clicked.connect(lambda: self._finish(skip=True))
        self.cancel_button.clicked.connect(self.reject)
        self.import_button.setEnabled(False)
        self.skip_button.hide()
        buttons = QHBoxLayout()
        buttons.addStretch()
        for button in (self.skip_button, self.import_button, self.cancel_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.bad_title)
        layout.addWidget(self.bad_list)
        layout.addLayout(buttons)
        if path is not None:
            self.load(path)

    # -- choosing --------------------------------------------------------------------------------
    def choose_file(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "Import data", filter="Data files (*.jsonl *.json *.ndjson *.csv *.tsv *.txt);;All files (*)"
        )
        if file:
            self.load(Path(file))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder whose sub-folders are labels")
        if folder:
            self.load(Path(folder))

    def load(self, path: Path) -> BackgroundOp:
        self.path = Path(path)
        self.path_edit.setText(str(self.path))
        if not self.name_edit.text().strip():
            self.name_edit.setText(default_name(self.path))
        self.format_combo.setEnabled(not self.path.is_dir())
        return self.reparse(keep_mapping=False, guess_header=True)

    # -- parsing ---------------------------------------------------------------------------------
    def _mapping(self) -> dict | None:
        shape = self.shape_combo.currentData()
        mapping = {}
        for part in SHAPE_PARTS[shape]:
            column = self.column_combos[part].currentData()
            if column:
                mapping[part] = column
        return mapping or None

    def reparse(self, keep_mapping: bool = True, guess_header: bool = False) -> BackgroundOp | None:
        if self.path is None:
            return None
        fmt = self.format_combo.currentData()
        mapping = self._mapping() if keep_mapping and not self.table_options.isHidden() else None
        header = None if guess_header or self.table_options.isHidden() else self.header_check.isChecked()
        self._parse_generation += 1
        generation = self._parse_generation
        self.parsed = None
        self.import_button.setEnabled(False)
        self.skip_button.hide()
        self.progress.show()
        self.summary.setText(f"Reading {self.path.name}…")

        def done(parsed: ParseResult):
            if generation == self._parse_generation:
                self.progress.hide()
                self.show_parsed(parsed)

        def failed(message: str):
            if generation == self._parse_generation:
                self.progress.hide()
                self.show_error(message)

        from models.datasets.formats import parse_file

        path = self.path
        work = (lambda: read_source(path)) if path.is_dir() else (lambda: parse_file(path, fmt, mapping, header))
        self.op = BackgroundOp(work).success(done).failure(failed).run_in_background()
        return self.op

    def show_error(self, message: str) -> None:
        self.summary.setStyleSheet("color: #b00020;")
        self.summary.setText(message)
        self.preview.setRowCount(0)
        self.bad_title.hide()
        self.bad_list.hide()

    def show_parsed(self, parsed: ParseResult) -> None:
        self.parsed = parsed
        self.summary.setStyleSheet("")
        is_table = parsed.format in ("csv", "tsv")
        self.table_options.setVisible(is_table)
        if is_table:
            self._show_mapping(parsed)
        bad = len(parsed.bad_lines)
        unit = parsed.bad_lines[0].unit if bad else "line"
        text = (f"<b>{FORMAT_NAMES.get(parsed.format, parsed.format)}</b> → a <b>{parsed.kind}</b> dataset: "
                f"{len(parsed.rows):,} row{'s' if len(parsed.rows) != 1 else ''}")
        if bad:
            text += f", <span style='color:#b00020'>{bad:,} malformed {unit}{'s' if bad != 1 else ''}</span>"
        self.summary.setText(text + ".")
        self._fill_preview(parsed)
        self.bad_list.clear()
        self.bad_list.addItems([str(b) for b in parsed.bad_lines[:1000]])
        if bad > 1000:
            self.bad_list.addItem(f"… and {bad - 1000:,} more")
        self.bad_title.setText(
            f"These {unit}s cannot be read. Nothing has been written: skip them and import the rest, or cancel "
            "and fix the file." if bad else ""
        )
        self.bad_title.setVisible(bool(bad))
        self.bad_list.setVisible(bool(bad))
        self.skip_button.setText(f"Skip {bad:,} bad {unit}{'s' if bad != 1 else ''} and import")
        self._update_target()

    def _update_target(self) -> None:
        """Say whether the rows make a new dataset or are added to one, and refuse a kind mismatch."""
        parsed, name = self.parsed, self.dataset_name()
        target = self.existing.get(name)
        fits = target is None or parsed is None or target["kind"] == parsed.kind
        if target is None:
            self.target_note.setText("A new dataset." if name else "")
        elif fits:
            self.target_note.setText(f"The rows are added to the existing dataset {name!r} ({target['row_count']:,} rows).")
        else:
            self.target_note.setText(f"<span style='color:#b00020'>{name!r} holds {target['kind']} rows; these are "
                                     f"{parsed.kind} rows. Choose another name.</span>")
        ready = parsed is not None and bool(parsed.rows) and fits and bool(name)
        self.import_button.setEnabled(ready and not parsed.bad_lines)
        self.skip_button.setVisible(ready and bool(parsed.bad_lines))
        self.skip_button.setEnabled(ready)

    def _show_mapping(self, parsed: ParseResult) -> None:
        widgets = [self.header_check, self.shape_combo, *self.column_combos.values()]
        for widget in widgets:
            widget.blockSignals(True)
        self.header_check.setChecked(parsed.header)
        mapping = parsed.mapping
        shape = "messages" if "messages" in mapping else ("single-turn" if "prompt" in mapping else "classification")
        self.shape_combo.setCurrentIndex(self.shape_combo.findData(shape))
        for part, combo in self.column_combos.items():
            combo.clear()
            if part == "system":
                combo.addItem("(none)", None)
            for column in parsed.columns:
                combo.addItem(column, column)
            chosen = mapping.get(part)
            if isinstance(chosen, list):
                chosen = chosen[0]
            if chosen is not None:
                combo.setCurrentIndex(combo.findData(chosen))
        for widget in widgets:
            widget.blockSignals(False)
        self._show_parts(shape)

    def _show_parts(self, shape: str) -> None:
        for part, combo in self.column_combos.items():
            self.mapping_form.setRowVisible(combo, part in SHAPE_PARTS[shape])

    def _shape_changed(self) -> None:
        self._show_parts(self.shape_combo.currentData())
        self.reparse(keep_mapping=True)

    def _fill_preview(self, parsed: ParseResult) -> None:
        columns = COLUMNS[parsed.kind][1:-1]
        self.preview.clear()
        self.preview.setColumnCount(len(columns))
        self.preview.setHorizontalHeaderLabels(columns)
        rows = parsed.rows[:PREVIEW_ROWS]
        self.preview.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(_cells(parsed.kind, {"row": row, "split": None})[:-1]):
                item = QTableWidgetItem(str(value))
                item.setToolTip(str(value)[:1000])
                self.preview.setItem(r, c, item)
        header = self.preview.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        if parsed.kind == "chat":
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(len(columns) - 1, QHeaderView.ResizeMode.ResizeToContents)

    # -- result ----------------------------------------------------------------------------------
    def dataset_name(self) -> str:
        return self.name_edit.text().strip()

    def _finish(self, skip: bool) -> None:
        if self.parsed is None or not self.parsed.rows:
            return
        if not self.dataset_name():
            self.summary.setStyleSheet("color: #b00020;")
            self.summary.setText("Give the dataset a name.")
            return
        self.skip_bad_lines = skip
        self.accept()

