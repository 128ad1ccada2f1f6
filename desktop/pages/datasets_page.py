"""The Datasets page: the user's training data, kept in SQLite, browsed, cleaned, split, versioned."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QDoubleSpinBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGridLayout,
    QHBoxLayout, QHeaderView, QInputDialog, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu, QMessageBox,
    QProgressBar, QPushButton, QSpinBox, QSplitter, QTableView, QTabWidget, QVBoxLayout, QWidget,
)

from desktop.background import BackgroundOp
from desktop.context import AppContext
from desktop.datasets.operations import (
    CLEANING_ACTIONS, TokenizerCache, default_name, export_dataset, import_parsed, read_source, rows_text,
)
from desktop.datasets.table_model import DatasetRowsModel
from desktop.datasets.versions_view import VersionsView
from desktop.store import datasets as store

SEARCH_DELAY_MS = 250
NO_CHAT = "Needs the chat conversation store, which this version of Fireside does not have"
NO_CLASSIFY = "Needs the classifier store, which this version of Fireside does not have"


class SplitDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Train / validation split")
        self.share = QDoubleSpinBox()
        self.share.setRange(1, 50)
        self.share.setValue(10)
        self.share.setSuffix(" %")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        form = QFormLayout(self)
        form.addRow(QLabel("Rows are drawn at random (the same seed gives the same split), "
                           "keeping each label's share in both parts."))
        form.addRow("Validation share", self.share)
        form.addRow("Seed", self.seed)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class DatasetsPage(QWidget):
    title = "Datasets"

    def __init__(self, context: AppContext, parent=None):
        super().__init__(parent)
        self.context = context
        self.db = context.db
        self.tokenizers = TokenizerCache(context.registry)
        self.dataset: dict | None = None
        self.ops: list[BackgroundOp] = []
        self.dialog: QDialog | None = None
        self.stats_view = None  # made on first view: pyqtgraph takes a second to import

        # -- the list of datasets ---------------------------------------------------------------
        self.dataset_list = QListWidget()
        self.dataset_list.setSpacing(3)
        self.dataset_list.currentItemChanged.connect(self._dataset_chosen)
        self.new_button = QPushButton("New…")
        self.import_button = QPushButton("Import…")
        self.from_chat_button = QPushButton("From chat…")
        self.from_classify_button = QPushButton("From classify…")
        self.rename_button = QPushButton("Rename…")
        self.delete_dataset_button = QPushButton("Delete")
        self.new_button.clicked.connect(self.ask_new_dataset)
        self.import_button.clicked.connect(lambda: self.open_import_dialog())
        self.from_chat_button.clicked.connect(self.open_from_chat)
        self.from_classify_button.clicked.connect(self.open_from_classify)
        self.rename_button.clicked.connect(self.ask_rename)
        self.delete_dataset_button.clicked.connect(lambda: self.delete_current())
        if not store.chat_source_available():
            self.from_chat_button.setEnabled(False)
            self.from_chat_button.setToolTip(NO_CHAT)
        else:
            self.from_chat_button.setToolTip("Make chat rows from your conversations, thumbs-up replies or ideal answers")
        if not store.classify_source_available():
            self.from_classify_button.setEnabled(False)
            self.from_classify_button.setToolTip(NO_CLASSIFY)
        else:
            self.from_classify_button.setToolTip("Make classification rows from a classifier's corrections and examples")
        grid = QGridLayout()
        for i, button in enumerate((self.new_button, self.import_button, self.from_chat_button,
                                    self.from_classify_button, self.rename_button, self.delete_dataset_button)):
            grid.addWidget(button, i // 2, i % 2)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("<h2>Datasets</h2>"))
        left_layout.addWidget(self.dataset_list, 1)
        left_layout.addLayout(grid)

        # -- the rows of the chosen dataset -----------------------------------------------------
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.rows_model = DatasetRowsModel(self.db, self)
        self.table = QTableView()
        self.table.setModel(self.rows_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.doubleClicked.connect(lambda index: self.edit_row(index.row()))
        QShortcut(QKeySequence.StandardKey.Delete, self.table, activated=self.delete_selected_rows,
                  context=Qt.ShortcutContext.WidgetShortcut)
        QShortcut(QKeySequence(Qt.Key.Key_Return), self.table, activated=lambda: self.edit_row(),
                  context=Qt.ShortcutContext.WidgetShortcut)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search text and labels")
        self.search_edit.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_search)
        self.search_edit.textChanged.connect(lambda _: self._search_timer.start())
        self.add_row_button = QPushButton("Add row…")
        self.edit_row_button = QPushButton("Edit…")
        self.edit_row_button.setToolTip("Edit the selected row (or double-click it, or press Enter)")
        self.delete_rows_button = QPushButton("Delete rows")
        self.delete_rows_button.setToolTip("Delete the selected rows (or press Delete)")
        self.clean_button = QPushButton("Clean")
        clean_menu = QMenu(self.clean_button)
        for action, text in CLEANING_ACTIONS.items():
            clean_menu.addAction(text).triggered.connect(lambda _=False, a=action: self.open_cleaning(a))
        self.clean_button.setMenu(clean_menu)
        self.split_button = QPushButton("Split…")
        self.export_button = QPushButton("Export…")
        self.add_row_button.clicked.connect(lambda: self.add_row())
        self.edit_row_button.clicked.connect(lambda: self.edit_row())
        self.delete_rows_button.clicked.connect(lambda: self.delete_selected_rows())
        self.split_button.clicked.connect(self.open_split)
        self.export_button.clicked.connect(self.ask_export)
        tools = QHBoxLayout()
        tools.addWidget(self.search_edit, 1)
        for widget in (self.add_row_button, self.edit_row_button, self.delete_rows_button, self.clean_button,
                       self.split_button, self.export_button):
            tools.addWidget(widget)
        self.count_label = QLabel()
        rows_tab = QWidget()
        rows_layout = QVBoxLayout(rows_tab)
        rows_layout.addLayout(tools)
        rows_layout.addWidget(self.table, 1)
        rows_layout.addWidget(self.count_label)

        self.versions_view = VersionsView(self.db)
        self.versions_view.freeze_button.clicked.connect(lambda: self.freeze_version())
        self.tabs = QTabWidget()
        self.tabs.addTab(rows_tab, "Rows")
        self.stats_holder = QWidget()
        QVBoxLayout(self.stats_holder).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(self.stats_holder, "Statistics")
        self.tabs.addTab(self.versions_view, "Versions")
        self.tabs.currentChanged.connect(self._tab_changed)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.header)
        right_layout.addWidget(self.tabs, 1)
        right_layout.addWidget(self.progress)
        right_layout.addWidget(self.message)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.refresh_datasets()

    # -- datasets --------------------------------------------------------------------------------
    def refresh_datasets(self, select_id: int | None = None) -> None:
        keep = select_id if select_id is not None else (self.dataset["id"] if self.dataset else None)
        self.dataset_list.blockSignals(True)
        self.dataset_list.clear()
        chosen = None
        for dataset in store.list_datasets(self.db):
            item = QListWidgetItem(f"{dataset['name']}\n{dataset['kind']} · {rows_text(dataset['row_count'])}")
            item.setData(Qt.ItemDataRole.UserRole, dataset["id"])
            item.setToolTip(dataset.get("source") or "")
            self.dataset_list.addItem(item)
            if dataset["id"] == keep:
                chosen = item
        self.dataset_list.blockSignals(False)
        if chosen is None and self.dataset_list.count():
            chosen = self.dataset_list.item(0)
        if chosen is not None:
            self.dataset_list.setCurrentItem(chosen)
            self._dataset_chosen(chosen, None)
        else:
            self.show_dataset(None)

    def _dataset_chosen(self, item, _previous=None) -> None:
        dataset_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if dataset_id is None:
            self.show_dataset(None)
            return
        changed = self.dataset is None or self.dataset["id"] != dataset_id
        if changed and not self.ops:
            self.show_message("")
        self.show_dataset(store.get_dataset_by_id(self.db, dataset_id), reload_rows=changed)

    def select_dataset(self, name: str) -> dict:
        for i in range(self.dataset_list.count()):
            item = self.dataset_list.item(i)
            if item.text().split("\n")[0] == name:
                self.dataset_list.setCurrentItem(item)
                return self.dataset
        raise KeyError(name)

    def show_dataset(self, dataset: dict | None, reload_rows: bool = True) -> None:
        self.dataset = dataset
        for widget in (self.add_row_button, self.edit_row_button, self.delete_rows_button, self.clean_button,
                       self.split_button, self.export_button, self.search_edit, self.rename_button,
                       self.delete_dataset_button, self.versions_view.freeze_button):
            widget.setEnabled(dataset is not None)
        if dataset is None:
            self.header.setText("<h3>No dataset yet</h3>Import a file or a folder, or make one from your chats "
                                "and classifier corrections.")
            self.rows_model.set_dataset(None)
        else:
            splits = store.split_counts(self.db, dataset["id"])
            split_text = ", ".join(f"{n:,} {p}" for p, n in sorted(splits.items())) if set(splits) - {"unsplit"} else "not split"
            self.header.setText(f"<h3>{dataset['name']}</h3>{dataset['kind']} · {rows_text(dataset['row_count'])} · "
                                f"{split_text}")
            if reload_rows:
                self.search_edit.blockSignals(True)
                self.search_edit.clear()
                self.search_edit.blockSignals(False)
                self.rows_model.set_dataset(dataset["id"], dataset["kind"])
                self._size_columns()
        self._update_count()
        self.versions_view.set_dataset(dataset)
        if self.stats_view is not None:
            self.stats_view.set_dataset(dataset)
            if self.tabs.currentWidget() is self.stats_holder and dataset is not None:
                self.stats_view.compute()

    def _size_columns(self) -> None:
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        columns = self.rows_model.columnCount()
        self.table.setColumnWidth(0, 64)
        if self.rows_model.kind == "classification":
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
            self.table.setColumnWidth(2, 140)
        else:
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
            header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
            self.table.setColumnWidth(3, 80)
        self.table.setColumnWidth(columns - 1, 90)

    def _update_count(self) -> None:
        if self.dataset is None:
            self.count_label.setText("")
            return
        shown = self.rows_model.rowCount()
        if self.rows_model.search:
            self.count_label.setText(f"{shown:,} of {rows_text(self.dataset['row_count'])} match")
        else:
            self.count_label.setText(f"{rows_text(shown)}")

    def refresh_current(self) -> None:
        """After a change: the list's counts, the header, the rows (keeping the search)."""
        if self.dataset is None:
            self.refresh_datasets()
            return
        self.rows_model.reload()
        self.refresh_datasets(self.dataset["id"])
        if self.stats_view is not None:
            self.stats_view.stale = True

    def _show_changed(self, dataset_id: int) -> None:
        """Show a dataset whose rows just changed (re-reading them if it is the one on screen)."""
        if self.dataset is not None and self.dataset["id"] == dataset_id:
            self.refresh_current()
        else:
            self.refresh_datasets(dataset_id)

    def ask_new_dataset(self) -> None:
        name, ok = QInputDialog.getText(self, "New dataset", "Name:")
        if not ok or not name.strip():
            return
        kind, ok = QInputDialog.getItem(self, "New dataset", "Kind of rows:", ["classification", "chat"], 0, False)
        if ok:
            self.create_dataset(name, kind)

    def create_dataset(self, name: str, kind: str) -> int | None:
        try:
            dataset_id = store.create_dataset(self.db, name, kind)
        except ValueError as exc:
            self.show_message(str(exc), error=True)
            return None
        self.refresh_datasets(dataset_id)
        self.show_message(f"Created {name.strip()!r}. Add rows by hand, or import them.")
        return dataset_id

    def ask_rename(self) -> None:
        if self.dataset is None:
            return
        name, ok = QInputDialog.getText(self, "Rename dataset", "New name:", text=self.dataset["name"])
        if ok and name.strip() and name.strip() != self.dataset["name"]:
            try:
                store.rename_dataset(self.db, self.dataset["id"], name)
            except ValueError as exc:
                self.show_message(str(exc), error=True)
                return
            self.refresh_current()

    def delete_current(self, confirm: bool = True) -> None:
        if self.dataset is None:
            return
        dataset = self.dataset
        if confirm:
            answer = QMessageBox.question(
                self, "Delete dataset", f"Delete {dataset['name']!r} and its {rows_text(dataset['row_count'])}? "
                "Models already trained from it keep their own frozen copy.")
            if answer != QMessageBox.StandardButton.Yes:
                return

        def done(_):
            self.dataset = None
            self.refresh_datasets()
            self.show_message(f"Deleted {dataset['name']!r}.")

        self._run(f"Deleting {dataset['name']!r}…", store.delete_dataset, self.db, dataset["id"], done=done, busy=True)

    # -- background work -------------------------------------------------------------------------
    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)

    def _run(self, description: str, fn, *args, done=None, busy: bool = False) -> BackgroundOp:
        self.progress.setRange(0, 0 if busy else 100)
        self.progress.setValue(0)
        self.progress.show()
        self.show_message(description)
        op = BackgroundOp(fn, *args)

        def finished(result):
            self._forget(op)
            if done:
                done(result)

        def failed(message):
            self._forget(op)
            self.show_message(message, error=True)

        def progressed(fraction, text):
            self.progress.setValue(int(fraction * 100))
            if text:
                self.show_message(text)

        self.ops.append(op)
        return op.success(finished).failure(failed).on_progress(progressed).run_in_background()

    def _forget(self, op: BackgroundOp) -> None:
        if op in self.ops:
            self.ops.remove(op)
        if not self.ops:
            self.progress.hide()

    # -- getting data in -------------------------------------------------------------------------
    def open_import_dialog(self, path: Path | None = None):
        from desktop.datasets.import_dialog import ImportDialog

        existing = {d["name"]: d for d in store.list_datasets(self.db)}
        dialog = ImportDialog(path, existing, self)
        if self.dataset is not None and path is None:
            dialog.name_edit.setPlaceholderText(f"Dataset name (for example {self.dataset['name']} to add to it)")
        dialog.accepted.connect(lambda: self.start_import(dialog.parsed, dialog.dataset_name(), dialog.skip_bad_lines,
                                                          str(dialog.path)))
        self.dialog = dialog
        dialog.open()
        return dialog

    def start_import(self, parsed, name: str, skip_bad_lines: bool = False, source: str | None = None) -> BackgroundOp:
        """Write parsed rows (one transaction) and show the dataset."""
        db = self.db

        def done(dataset):
            self._show_changed(dataset["id"])
            left_out = f"; {len(parsed.bad_lines):,} malformed left out" if parsed.bad_lines else ""
            self.show_message(f"Imported {rows_text(len(parsed.rows))} into {dataset['name']!r}{left_out}.")

        return self._run(f"Importing {rows_text(len(parsed.rows))}…", import_parsed, db, parsed, name, skip_bad_lines,
                         source, done=done, busy=True)

    def import_path(self, path: Path, name: str | None = None, skip_bad_lines: bool = False) -> BackgroundOp:
        """Read and import a file or folder without the dialog (what the CLI's import does)."""
        db = self.db
        name = name or default_name(path)

        def work():
            parsed = read_source(path)
            return parsed, import_parsed(db, parsed, name, skip_bad_lines, str(path))

        def done(result):
            parsed, dataset = result
            self._show_changed(dataset["id"])
            self.show_message(f"Imported {rows_text(len(parsed.rows))} into {dataset['name']!r}.")

        return self._run(f"Importing {Path(path).name}…", work, done=done, busy=True)

    def add_rows_to(self, name: str, kind: str, rows: list[dict], source: str) -> BackgroundOp:
        def done(dataset):
            self._show_changed(dataset["id"])
            self.show_message(f"Added {rows_text(len(rows))} to {dataset['name']!r}.")

        return self._run(f"Adding {rows_text(len(rows))}…", store.import_rows, self.db, name, kind, rows, source,
                         done=done, busy=True)

    def open_from_chat(self):
        from desktop.datasets.source_dialogs import FromChatDialog

        default = self.dataset["name"] if self.dataset and self.dataset["kind"] == "chat" else "From chat"
        try:
            dialog = FromChatDialog(self.db, default, self)
        except Exception as exc:  # noqa: BLE001 - the chat store is another feature's; report, don't crash
            self.show_message(f"Conversations cannot be read: {exc}", error=True)
            return None
        dialog.accepted.connect(lambda: self.add_rows_to(dialog.target_name(), "chat", dialog.rows(), "chat"))
        self.dialog = dialog
        dialog.open()
        return dialog

    def open_from_classify(self):
        from desktop.datasets.source_dialogs import FromClassifierDialog

        try:
            dialog = FromClassifierDialog(self.db, self)
        except Exception as exc:  # noqa: BLE001 - the classifier store is another feature's
            self.show_message(f"Classifiers cannot be read: {exc}", error=True)
            return None
        dialog.accepted.connect(lambda: self.add_rows_to(dialog.target_name(), "classification", dialog.rows(),
                                                         f"classifier {dialog.classifier.currentText()}"))
        self.dialog = dialog
        dialog.open()
        return dialog

    # -- rows ------------------------------------------------------------------------------------
    def apply_search(self) -> None:
        self.rows_model.set_search(self.search_edit.text())
        self._update_count()

    def selected_positions(self) -> list[int]:
        return sorted({index.row() for index in self.table.selectionModel().selectedRows()})

    def _labels(self) -> list[str]:
        return list(store.label_counts(self.db, self.dataset["id"])) if self.dataset else []

    def add_row(self, row: dict | None = None):
        """Open the row editor (or, given a row, add it at once)."""
        if self.dataset is None:
            return None
        if row is not None:
            return self._save_row(None, row)
        from desktop.datasets.row_dialog import RowDialog

        dialog = RowDialog(self.dataset["kind"], None, self._labels(), self)
        dialog.accepted.connect(lambda: self._save_row(None, dialog.row()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def edit_row(self, position: int | None = None):
        if self.dataset is None:
            return None
        if position is None:
            selected = self.selected_positions()
            if not selected:
                self.show_message("Choose a row to edit.")
                return None
            position = selected[0]
        record = self.rows_model.record(position)
        if record is None:
            return None
        from desktop.datasets.row_dialog import RowDialog

        dialog = RowDialog(self.dataset["kind"], record["row"], self._labels(), self)
        dialog.accepted.connect(lambda: self._save_row(record["id"], dialog.row()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _save_row(self, row_id: int | None, row: dict) -> int | None:
        try:
            if row_id is None:
                row_id = store.add_row(self.db, self.dataset["id"], row)
                message = "Added a row."
            else:
                store.update_row(self.db, row_id, row)
                message = "Saved the row."
        except ValueError as exc:
            self.show_message(str(exc), error=True)
            return None
        self.refresh_current()
        position = self.rows_model.position_of(row_id)
        if position is not None:
            self.table.selectRow(position)
            self.table.scrollTo(self.rows_model.index(position, 0))
        self.show_message(message)
        return row_id

    def delete_selected_rows(self) -> BackgroundOp | None:
        positions = self.selected_positions()
        if not positions:
            self.show_message("Choose the rows to delete (click, shift-click, ctrl-click).")
            return None
        ids = [self.rows_model.row_id(p) for p in positions]

        def done(removed):
            self.table.clearSelection()
            self.refresh_current()
            self.show_message(f"Deleted {rows_text(removed)}.")

        return self._run(f"Deleting {rows_text(len(ids))}…", store.delete_rows, self.db, ids, done=done, busy=True)

    # -- cleaning, splitting, export -------------------------------------------------------------
    def open_cleaning(self, action: str = "duplicates"):
        if self.dataset is None:
            return None
        from desktop.datasets.cleaning_dialog import CleaningDialog

        dialog = CleaningDialog(self.db, self.dataset, self.tokenizers, action, self)

        def applied():
            removed, changed = dialog.applied
            self.refresh_current()
            self.show_message(f"{dialog.plan.title}: removed {rows_text(removed)}, changed {changed:,}.")

        dialog.accepted.connect(applied)
        self.dialog = dialog
        dialog.open()
        if action != "token-length":
            dialog.preview()
        return dialog

    def open_split(self) -> None:
        if self.dataset is None:
            return
        dialog = SplitDialog(self)
        dialog.accepted.connect(lambda: self.split(dialog.share.value() / 100, dialog.seed.value()))
        self.dialog = dialog
        dialog.open()

    def split(self, validation_fraction: float, seed: int = 0) -> BackgroundOp | None:
        if self.dataset is None:
            return None

        def done(counts):
            self.refresh_current()
            self.show_message(f"Split: {counts['train']:,} train, {counts['validation']:,} validation (seed {seed}).")

        return self._run("Splitting…", store.split_dataset, self.db, self.dataset["id"], validation_fraction, seed,
                         done=done, busy=True)

    def ask_export(self) -> None:
        if self.dataset is None:
            return
        filters = {"JSON Lines (*.jsonl)": "jsonl", "CSV (*.csv)": "csv", "TSV (*.tsv)": "tsv"}
        path, chosen = QFileDialog.getSaveFileName(self, "Export dataset", f"{self.dataset['name']}.jsonl",
                                                   ";;".join(filters))
        if path:
            fmt = filters.get(chosen) or Path(path).suffix.lstrip(".").lower()
            self.export_to(Path(path), fmt if fmt in ("jsonl", "csv", "tsv") else "jsonl")

    def export_to(self, path: Path, fmt: str) -> BackgroundOp:
        db, dataset_id = self.db, self.dataset["id"]

        def work():
            with open(path, "w", encoding="utf-8", newline="") as handle:
                return export_dataset(db, dataset_id, fmt, handle)

        return self._run(f"Exporting to {path.name}…", work, busy=True,
                         done=lambda count: self.show_message(f"Exported {rows_text(count)} to {path}."))

    def freeze_version(self) -> BackgroundOp | None:
        if self.dataset is None:
            return None

        def done(version):
            self.versions_view.refresh()
            self.show_message(f"Froze version {version['snapshot_hash'][:16]} ({rows_text(version['row_count'])}).")

        return self._run("Freezing a version…", store.freeze_version, self.db, self.dataset["id"], done=done, busy=True)

    # -- statistics ------------------------------------------------------------------------------
    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.stats_holder:
            self.ensure_stats_view()
            if self.dataset is not None and self.stats_view.stale:
                self.stats_view.compute()
        elif self.tabs.widget(index) is self.versions_view:
            self.versions_view.refresh()

    def ensure_stats_view(self):
        if self.stats_view is None:
            from desktop.datasets.stats_view import StatsView

            self.stats_view = StatsView(self.db, self.tokenizers)
            self.stats_holder.layout().addWidget(self.stats_view)
            self.stats_view.set_dataset(self.dataset)
        return self.stats_view

    def shutdown(self) -> None:
        for op in list(self.ops):
            op.cancel()
        if self.stats_view is not None and self.stats_view.op is not None:
            self.stats_view.op.cancel()
