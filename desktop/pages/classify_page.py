"""The Classify page: drop documents, get labels, correct them, retrain, export or sort the files."""
from __future__ import annotations

import threading
from pathlib import Path
from queue import Empty, SimpleQueue

from PySide6.QtCore import Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox,
    QProgressBar, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget,
)

from desktop.background import BackgroundOp
from desktop.classify import engine
from desktop.classify.delegates import ConfidenceBarDelegate, LabelDelegate
from desktop.classify.dialogs import ClassifierDialog, ask_text_column
from desktop.classify.explanation_view import ExplanationView
from desktop.classify.results_model import (
    CONFIDENCE, DOCUMENT, LABEL, ROW_ROLE, RUNNER_UP, ResultsFilterProxy, ResultsTableModel, shown_label,
)
from desktop.context import AppContext
from desktop.store import classifiers as store

TABLE_SUFFIXES = (".csv", ".tsv")
METHOD_NAMES = {"zero-shot": "Zero-shot", "few-shot": "Few-shot", "fine-tuned": "Fine-tuned"}
CACHE_SERVICE = "classify.classifiers"


class ClassifyPage(QWidget):
    title = "Classify"

    def __init__(self, context: AppContext, parent=None):
        super().__init__(parent)
        self.context = context
        self.db = context.db
        self.cache: engine.ClassifierCache = context.services.setdefault(
            CACHE_SERVICE, engine.ClassifierCache(context.registry))
        self.job: BackgroundOp | None = None          # the one long task at a time: classify, retrain, sort
        self.job_finished = threading.Event()
        self.job_finished.set()
        self._on_job_success = lambda result: None
        self.explain_op: BackgroundOp | None = None
        self.finished_ids: SimpleQueue = SimpleQueue()
        self.pending: list[tuple[list[str], dict[str, str]]] = []
        self.setAcceptDrops(True)
        self._build()
        self.refresh_classifiers()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.classifier_combo = QComboBox()
        self.classifier_combo.setMinimumWidth(220)
        self.classifier_combo.currentIndexChanged.connect(self._classifier_chosen)
        self.new_button = QPushButton("New…")
        self.edit_button = QPushButton("Edit labels…")
        self.delete_button = QPushButton("Delete")
        self.new_button.clicked.connect(self.new_classifier)
        self.edit_button.clicked.connect(self.edit_classifier)
        self.delete_button.clicked.connect(self.delete_classifier)
        self.method_combo = QComboBox()
        self.method_combo.setToolTip("How this classifier decides")
        self.method_combo.activated.connect(self._method_chosen)
        self.retrain_button = QPushButton("Retrain")
        self.retrain_button.setToolTip("Train few-shot on your corrections and examples, then score every document again")
        self.retrain_button.clicked.connect(self.retrain)
        top = QHBoxLayout()
        top.addWidget(QLabel("Classifier"))
        top.addWidget(self.classifier_combo)
        for widget in (self.new_button, self.edit_button, self.delete_button):
            top.addWidget(widget)
        top.addSpacing(16)
        top.addWidget(QLabel("Method"))
        top.addWidget(self.method_combo)
        top.addWidget(self.retrain_button)
        top.addStretch()

        self.method_info = QLabel()
        self.method_info.setWordWrap(True)
        self.method_info.setObjectName("methodInfo")

        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.rerun_button = QPushButton("Score again")
        self.rerun_button.setToolTip("Classify this classifier's documents again with its current method")
        self.export_button = QPushButton("Export…")
        self.sort_button = QPushButton("Sort into folders…")
        self.clear_button = QPushButton("Clear results")
        self.add_files_button.clicked.connect(self.choose_files)
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.rerun_button.clicked.connect(self.rescore)
        self.export_button.clicked.connect(self.choose_export)
        self.sort_button.clicked.connect(self.choose_sort)
        self.clear_button.clicked.connect(self.clear_results)
        actions = QHBoxLayout()
        for widget in (self.add_files_button, self.add_folder_button, self.rerun_button, self.export_button,
                       self.sort_button, self.clear_button):
            actions.addWidget(widget)
        actions.addStretch()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name or label")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_choice = QComboBox()
        actions.addWidget(self.filter_edit)
        actions.addWidget(self.filter_choice)

        self.drop_hint = QLabel("Drop files or folders anywhere on this page (.txt .md .html .pdf .docx .csv .tsv .eml); "
                                "folders are read with everything inside them.")
        self.drop_hint.setWordWrap(True)
        self.drop_hint.setStyleSheet("color: #666666;")

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.progress_box.hide()

        self.table_model = ResultsTableModel(self)
        self.table_model.label_changed.connect(self.correct)
        self.proxy = ResultsFilterProxy(self)
        self.proxy.setSourceModel(self.table_model)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.filter_choice.currentTextChanged.connect(self.proxy.set_choice)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.SelectedClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.confidence_delegate = ConfidenceBarDelegate(self.table)
        self.label_delegate = LabelDelegate(lambda: list(self.table_model.labels), self.table)
        self.table.setItemDelegateForColumn(CONFIDENCE, self.confidence_delegate)
        self.table.setItemDelegateForColumn(LABEL, self.label_delegate)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in ((DOCUMENT, 220), (LABEL, 100), (CONFIDENCE, 150), (RUNNER_UP, 130)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().currentRowChanged.connect(self._row_selected)

        self.explanation = ExplanationView()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.explanation)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([760, 440])

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h2>Classify</h2>"))
        layout.addLayout(top)
        layout.addWidget(self.method_info)
        layout.addLayout(actions)
        layout.addWidget(self.drop_hint)
        layout.addWidget(self.progress_box)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.message)

    # -- state -------------------------------------------------------------------------------
    @property
    def classifier_id(self) -> int | None:
        return self.classifier_combo.currentData()

    def classifier(self) -> dict | None:
        return store.get_classifier(self.db, self.classifier_id) if self.classifier_id is not None else None

    def busy(self) -> bool:
        return not self.job_finished.is_set()

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)

    def refresh_classifiers(self, select: int | None = None) -> None:
        store.ensure_default_classifier(self.db)
        select = select if select is not None else self.classifier_id
        self.classifier_combo.blockSignals(True)
        self.classifier_combo.clear()
        for classifier in store.list_classifiers(self.db):
            self.classifier_combo.addItem(classifier["name"], classifier["id"])
        position = self.classifier_combo.findData(select) if select is not None else 0
        self.classifier_combo.setCurrentIndex(max(0, position))
        self.classifier_combo.blockSignals(False)
        self._classifier_chosen()

    def _classifier_chosen(self, *_):
        classifier = self.classifier()
        if classifier is None:
            return
        self.table_model.labels = list(classifier["labels"])
        self.table_model.set_rows(store.results(self.db, classifier["id"]))
        self.explanation.clear()
        current = self.filter_choice.currentText()
        self.filter_choice.blockSignals(True)
        self.filter_choice.clear()
        self.filter_choice.addItems([ResultsFilterProxy.ALL, *classifier["labels"], ResultsFilterProxy.UNSURE,
                                     ResultsFilterProxy.CORRECTED, ResultsFilterProxy.ERRORS])
        self.filter_choice.setCurrentIndex(max(0, self.filter_choice.findText(current)))
        self.filter_choice.blockSignals(False)
        self.proxy.set_choice(self.filter_choice.currentText())
        self._update_method(classifier)

    def fine_tuned_models(self, labels: list[str]) -> list[str]:
        """Registry classifiers that know exactly these labels."""
        return [e.name for e in self.context.registry.list("classifier") if set(e.labels) == set(labels)]

    def _update_method(self, classifier: dict | None = None) -> None:
        classifier = classifier or self.classifier()
        if classifier is None:
            return
        method, examples = classifier["method"], classifier["examples"]
        self.method_combo.clear()
        self.method_combo.addItem("Zero-shot", ("zero-shot", None))
        self.method_combo.addItem("Few-shot", ("few-shot", None))
        if not examples:
            self.method_combo.model().item(1).setEnabled(False)
        for name in self.fine_tuned_models(classifier["labels"]):
            self.method_combo.addItem(f"Fine-tuned: {name}", ("fine-tuned", name))
        current = (method, classifier["fine_tuned_model"] if method == "fine-tuned" else None)
        for index in range(self.method_combo.count()):
            if self.method_combo.itemData(index) == current:
                self.method_combo.setCurrentIndex(index)
        self.retrain_button.setEnabled(examples > 0 and not self.busy())
        self.method_info.setText(self.method_text(classifier))

    @staticmethod
    def method_text(classifier: dict) -> str:
        method, examples, corrections = classifier["method"], classifier["examples"], classifier["corrections"]
        count = f"{examples} example{'s' if examples != 1 else ''}"
        if method == "fine-tuned":
            return (f"<b>Fine-tuned</b> · model {classifier['fine_tuned_model']}. Corrections you make are kept as "
                    "examples for the next fine-tuning run.")
        if method == "few-shot":
            trained = classifier["trained_examples"] or 0
            accuracy = classifier["accuracy"]
            estimate = (f"estimated accuracy <b>{accuracy:.0%}</b> ({classifier['accuracy_folds']}-fold cross-validation)"
                        if accuracy is not None else "too few examples a label to estimate its accuracy")
            newer = f" {examples - trained} new since: Retrain to use them." if examples > trained else ""
            return (f"<b>Few-shot</b> · trained on {trained} examples, {estimate}.{newer} Next step: with a few hundred "
                    "examples, fine-tune a model (Datasets → from a classifier, then Fine-tune).")
        if examples:
            return (f"<b>Zero-shot</b> · labels compared with each document; you have {count} "
                    f"({corrections} corrections). Next step: <b>Retrain</b> to learn from them (few-shot).")
        return ("<b>Zero-shot</b> · each document is compared with the labels' names and descriptions. Next step: "
                "correct a few labels in the table (double-click a label), then Retrain to learn from them (few-shot).")

    # -- drops and choosing files --------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(paths)

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Choose documents",
            filter="Documents (*.txt *.md *.markdown *.html *.htm *.pdf *.docx *.csv *.tsv *.eml);;All files (*)")
        if files:
            self.add_paths(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of documents")
        if folder:
            self.add_paths([folder])

    def table_columns_for(self, paths: list[str]) -> dict[str, str] | None:
        """Ask which column holds the text of each table dropped directly; None if the user cancels."""
        from models.documents import DocumentError, guess_text_column
        from models.documents.reader import read_bytes
        from models.documents.tables import rows_from_bytes

        chosen = {}
        for path in paths:
            if Path(path).suffix.lower() not in TABLE_SUFFIXES or not Path(path).is_file():
                continue
            try:
                header, rows = rows_from_bytes(Path(path), read_bytes(Path(path)))
            except DocumentError:
                continue  # the run reports it as a row with the reason
            if len(header) == 1:
                chosen[path] = header[0]
                continue
            column = self.ask_text_column(path, header, guess_text_column(header, rows))
            if column is None:
                return None
            chosen[path] = column
        return chosen

    def ask_text_column(self, path: str, columns: list[str], guess: str) -> str | None:
        return ask_text_column(self, path, columns, guess)

    def add_paths(self, paths: list[str]) -> None:
        columns = self.table_columns_for(paths)
        if columns is None:
            self.show_message("Nothing added: no text column chosen.")
            return
        if self.busy():
            self.pending.append((list(paths), columns))
            self.show_message(f"{len(paths)} more item(s) will be classified when the current run ends.")
            return
        self._start_run(list(paths), columns)

    # -- background jobs -----------------------------------------------------------------------
    def _start_job(self, description: str, fn, *args, on_success) -> BackgroundOp:
        self.job_finished.clear()
        self.progress.setValue(0)
        self.progress_label.setText(description)
        self.progress_box.show()
        self.cancel_button.setEnabled(True)
        self._set_actions_enabled(False)
        self.show_message("")
        self._on_job_success = on_success
        finished = self.job_finished

        def work(*call_args, op):
            try:
                return fn(*call_args, op=op)
            finally:
                finished.set()

        # Bound methods, not closures: Qt drops the connection if the page is gone before the result.
        self.job = (BackgroundOp(work, *args).on_progress(self._job_progress).success(self._job_succeeded)
                    .failure(self._job_failed).run_in_background())
        return self.job

    def _job_succeeded(self, result) -> None:
        self._job_ended()
        self._on_job_success(result)

    def _job_failed(self, message: str) -> None:
        self._job_ended()
        self.show_message(message, error=True)

    def _job_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        if text:
            self.progress_label.setText(text)
        self.drain_finished()

    def _job_ended(self) -> None:
        self.drain_finished()
        self.progress_box.hide()
        self.job = None
        self._set_actions_enabled(True)
        self._update_method()

    def _set_actions_enabled(self, enabled: bool) -> None:
        for widget in (self.retrain_button, self.rerun_button, self.sort_button, self.clear_button,
                       self.classifier_combo, self.method_combo, self.new_button, self.edit_button,
                       self.delete_button):
            widget.setEnabled(enabled)

    def drain_finished(self) -> None:
        """Show the results the worker has stored since the last look."""
        ids: list[int] = []
        while True:
            try:
                ids += self.finished_ids.get_nowait()
            except Empty:
                break
        if ids and self.classifier_id is not None:
            self.table_model.upsert_rows(store.results_for_documents(self.db, self.classifier_id, ids))
            self._refresh_selected()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Stopping…")
        self.pending.clear()

    def _start_run(self, paths: list[str], columns: dict[str, str]) -> BackgroundOp:
        classifier_id = self.classifier_id
        return self._start_job(
            f"Reading {len(paths)} item(s)…", engine.classify_paths, self.db, self.cache, classifier_id, paths,
            columns, self.finished_ids, on_success=self._run_finished,
        )

    def _run_finished(self, summary) -> None:
        self.show_message(summary.text())
        if self.pending:
            paths, columns = self.pending.pop(0)
            self._start_run(paths, columns)

    def retrain(self) -> BackgroundOp | None:
        if self.busy() or self.classifier_id is None:
            return None

        def done(result):
            description, summary = result
            state = " (stopped before every document was scored again)" if summary.cancelled else ""
            self.show_message(f"Retrained: {description}. Scored {summary.classified:,} documents again{state}.")

        return self._start_job("Training…", engine.retrain, self.db, self.cache, self.classifier_id,
                               self.finished_ids, on_success=done)

    def rescore(self) -> BackgroundOp | None:
        if self.busy() or self.classifier_id is None:
            return None
        return self._start_job("Scoring again…", engine.rescore, self.db, self.cache, self.classifier_id,
                               self.finished_ids, on_success=lambda summary: self.show_message(summary.text()))

    # -- corrections and methods ---------------------------------------------------------------
    def correct(self, document_id: int, label: str) -> None:
        classifier_id = self.classifier_id
        store.correct_result(self.db, classifier_id, document_id, label)
        self.table_model.set_corrected(document_id, label)
        classifier = self.classifier()
        self._update_method(classifier)
        self.show_message(f"Stored “{label}” as an example ({classifier['examples']} in all). "
                          "Retrain when you have corrected a few.")

    def _method_chosen(self, index: int) -> None:
        method, model = self.method_combo.itemData(index)
        classifier = self.classifier()
        if classifier is None or (method, model) == (classifier["method"], classifier["fine_tuned_model"]
                                                    if classifier["method"] == "fine-tuned" else None):
            return
        if method == "few-shot":
            self.retrain()
            return
        store.set_method(self.db, classifier["id"], method, model)
        self._update_method()
        self.rescore()

    # -- classifiers ---------------------------------------------------------------------------
    def new_classifier(self) -> None:
        dialog = ClassifierDialog(self)
        if dialog.exec():
            name, labels, descriptions = dialog.values()
            try:
                classifier_id = store.create_classifier(self.db, name, labels, descriptions)
            except ValueError as exc:
                self.show_message(str(exc), error=True)
                return
            self.refresh_classifiers(select=classifier_id)
            self.show_message(f"Created {name}. Drop documents to classify them.")

    def edit_classifier(self) -> None:
        classifier = self.classifier()
        if classifier is None:
            return
        dialog = ClassifierDialog(self, classifier["name"], classifier["labels"], classifier["descriptions"],
                                  title="Edit classifier")
        if dialog.exec():
            name, labels, descriptions = dialog.values()
            try:
                store.rename_classifier(self.db, classifier["id"], name)
                store.set_labels(self.db, classifier["id"], labels, descriptions)
            except ValueError as exc:
                self.show_message(str(exc), error=True)
                return
            self.refresh_classifiers(select=classifier["id"])
            self.show_message("Labels saved. Use “Score again” to classify the documents with them.")

    def delete_classifier(self) -> None:
        classifier = self.classifier()
        if classifier is None:
            return
        answer = QMessageBox.question(self, "Delete classifier",
                                      f"Delete {classifier['name']} with its results and {classifier['examples']} examples?")
        if answer == QMessageBox.StandardButton.Yes:
            store.delete_classifier(self.db, classifier["id"])
            self.refresh_classifiers(select=-1)

    def clear_results(self) -> None:
        if self.classifier_id is None or not self.table_model.rows:
            return
        answer = QMessageBox.question(self, "Clear results",
                                      "Remove every result from this table? Your examples and corrections stay.")
        if answer == QMessageBox.StandardButton.Yes:
            store.clear_results(self.db, self.classifier_id)
            self._classifier_chosen()

    # -- explanation ---------------------------------------------------------------------------
    def selected_row(self) -> dict | None:
        index = self.table.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    def _row_selected(self, current, _previous=None) -> None:
        row = current.data(ROW_ROLE) if current.isValid() else None
        if row is None:
            self.explanation.clear()
            return
        self.explain_row(row)

    def _refresh_selected(self) -> None:
        row = self.selected_row()
        if row is not None and row["document_id"] == self.explanation.document_id:
            self.explain_row(row)

    def explain_row(self, row: dict) -> BackgroundOp | None:
        text = store.document_text(self.db, row["document_id"])
        label = shown_label(row)
        self.explanation.show_row(row, text, label)
        if row["status"] != "done" or not text:
            return None
        start, end = row.get("evidence_start"), row.get("evidence_end")
        window = text[start:end] if start is not None and end is not None and end > start else text[:4000]
        spec = store.spec_of(self.db, self.classifier())
        if self.explain_op is not None:
            self.explain_op.cancel()
        self.explain_op = (
            BackgroundOp(engine.explain_document, self.cache, spec, row["document_id"], window, label)
            .success(self._explained).failure(self._explain_failed).run_in_background()
        )
        return self.explain_op

    def _explained(self, result) -> None:
        document_id, explanation = result
        self.explanation.show_weights(document_id, explanation.spans, explanation.label, explanation.top_words())

    def _explain_failed(self, message: str) -> None:
        if self.explanation.document_id is not None:
            self.explanation.show_failure(self.explanation.document_id, message)

    # -- export and sorting --------------------------------------------------------------------
    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export results", "results.csv",
                                              "CSV (*.csv);;JSON Lines (*.jsonl)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> int:
        from desktop.classify.export import export_results

        classifier = self.classifier()
        try:
            count = export_results(path, store.results(self.db, classifier["id"]), classifier["labels"])
        except OSError as exc:
            self.show_message(f"Could not write {path}: {exc.strerror or exc}", error=True)
            return 0
        self.show_message(f"Exported {count:,} results to {path}.")
        return count

    def choose_sort(self) -> None:
        if not self.table_model.rows:
            self.show_message("Nothing to sort yet: drop some documents first.")
            return
        target = QFileDialog.getExistingDirectory(self, "Sort the files into sub-folders of…")
        if not target:
            return
        box = QMessageBox(self)
        box.setWindowTitle("Sort into folders")
        box.setText(f"Put each file into a sub-folder of {target} named after its label.\n"
                    "Copy leaves the originals where they are; Move takes them out of their folders. "
                    "Existing files are never overwritten.")
        copy = box.addButton("Copy", QMessageBox.ButtonRole.AcceptRole)
        move = box.addButton("Move…", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is copy:
            self.sort_to(Path(target), move=False)
        elif box.clickedButton() is move:
            files = sum(1 for r in self.table_model.rows if not r["row_key"] and shown_label(r))
            answer = QMessageBox.warning(
                self, "Move files", f"Move {files:,} files out of their folders into {target}?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer == QMessageBox.StandardButton.Yes:
                self.sort_to(Path(target), move=True)

    def sort_to(self, target: Path, move: bool = False) -> BackgroundOp | None:
        """Copy (or move: the caller has asked the user) every labelled file into target/<label>/."""
        from desktop.classify.sorting import SortItem

        if self.busy():
            return None
        items = [SortItem(r["document_id"], r["source"], shown_label(r) if r["status"] == "done" else None,
                          is_file=not r["row_key"]) for r in self.table_model.rows]

        def done(report):
            self.show_message(report.text(), error=bool(report.failed))
            if move:
                self._classifier_chosen()

        return self._start_job("Moving files…" if move else "Copying files…", engine.sort_files, self.db, items,
                               target, move, on_success=done)

    def shutdown(self) -> None:
        self.pending.clear()
        if self.job is not None:
            self.job.cancel()
        if self.explain_op is not None:
            self.explain_op.cancel()
        self.job_finished.wait(10)
