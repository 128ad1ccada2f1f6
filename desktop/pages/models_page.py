"""The Models page: the registry as a table, with import, download and remove."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QMessageBox, QProgressBar,
    QPushButton, QTableView, QVBoxLayout, QWidget,
)

from desktop.background import BackgroundOp
from desktop.context import AppContext
from desktop.format import human_count, human_size
from desktop.store.settings import PROMPT_LOOKUP_KEY, prompt_lookup, set_setting
from desktop.widgets.record_table import RecordTableModel
from desktop.widgets.server_panel import ServerPanel
from models.registry import ModelEntry

COLUMNS = ("Name", "Kind", "Architecture", "Parameters", "Size", "Source", "Base model", "Created")


class ModelTableModel(RecordTableModel):
    """Registry entries (models.registry.ModelEntry), one a row."""

    def __init__(self, parent=None):
        super().__init__(COLUMNS, parent)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        entry = self.records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                entry.name, entry.kind, entry.architecture, human_count(entry.parameters),
                human_size(entry.size_bytes), entry.source, entry.base_model or "", entry.created[:16].replace("T", " "),
            )[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.path
        return None


class ModelsPage(QWidget):
    title = "Models"

    def __init__(self, context: AppContext, parent=None):
        super().__init__(parent)
        self.context = context
        self.table_model = ModelTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()

        self.import_folder_button = QPushButton("Import folder…")
        self.import_gguf_button = QPushButton("Import GGUF…")
        self.download_button = QPushButton("Download…")
        self.export_button = QPushButton("Export GGUF…")
        self.export_button.setToolTip("Write the selected chat model as one GGUF file, with an Ollama Modelfile "
                                      "beside it, for LM Studio, Ollama or llama.cpp")
        self.remove_button = QPushButton("Remove")
        self.import_folder_button.clicked.connect(self.choose_folder)
        self.import_gguf_button.clicked.connect(self.choose_gguf)
        self.download_button.clicked.connect(self.ask_download)
        self.export_button.clicked.connect(self.ask_export)
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        for button in (self.import_folder_button, self.import_gguf_button, self.download_button, self.export_button,
                       self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch()
        self.prompt_lookup = QCheckBox("Speculative decoding (prompt lookup)")
        self.prompt_lookup.setToolTip(
            "Speeds up replies that repeat their prompt (rewrites, summaries, code edits): the words that "
            "followed the same words earlier are checked as a guess, several at once, and kept where the model "
            "chooses them itself. Where two words nearly tie, a reply can come out slightly different from one "
            "written without it, and replies that repeat nothing can be slower. Applies from the next reply.")
        self.prompt_lookup.setChecked(prompt_lookup(context.db))
        self.prompt_lookup.toggled.connect(self.save_prompt_lookup)
        buttons.addWidget(self.prompt_lookup)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h2>Models</h2>"))
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        self.server_panel = ServerPanel(context)
        layout.addWidget(self.server_panel)
        self.refresh()

    def save_prompt_lookup(self, on: bool) -> None:
        set_setting(self.context.db, PROMPT_LOOKUP_KEY, on)
        self.show_message(f"Speculative decoding (prompt lookup) {'on' if on else 'off'}, from the next reply.")

    def refresh(self) -> None:
        self.table_model.set_records(self.context.registry.list())

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)

    def selected_entry(self) -> ModelEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.records[rows[0].row()] if rows else None

    # -- actions -----------------------------------------------------------------------------
    def _run(self, description: str, fn, *args, done_message=None) -> BackgroundOp:
        self.progress.setValue(0)
        self.progress.show()
        self.show_message(description)

        def done(result):
            self.progress.hide()
            self.refresh()
            self.show_message(done_message(result) if done_message else f"Added {result.name} ({result.kind}).")

        def failed(message):
            self.progress.hide()
            self.show_message(message, error=True)

        def progressed(fraction, text):
            self.progress.setValue(int(fraction * 100))
            if text:
                self.show_message(text)

        return BackgroundOp(fn, *args).success(done).failure(failed).on_progress(progressed).run_in_background()

    def import_folder(self, path: Path, allow_pickle: bool = False) -> BackgroundOp:
        registry = self.context.registry

        def work(op):
            return registry.import_folder(Path(path), None, allow_pickle, progress=op.progress)

        return self._run(f"Importing {path}…", work)

    def import_gguf(self, path: Path) -> BackgroundOp:
        registry = self.context.registry

        def work(op):
            return registry.import_gguf(Path(path), progress=op.progress)

        return self._run(f"Checking {Path(path).name}…", work)

    def export(self, name: str, out_file: Path, quant: str) -> BackgroundOp:
        from desktop.format import human_size
        from models.chat.settings import ChatSettings
        from models.convert.export import export_registered

        registry = self.context.registry

        def work(op):
            return export_registered(registry, name, Path(out_file), quant, settings=ChatSettings().to_dict(),
                                     progress=op.progress)

        def exported(result) -> str:
            return (f"Exported {name} as {result.gguf_file} ({result.quant}, {human_size(result.size_bytes)}), "
                    f"with an Ollama Modelfile beside it.")

        return self._run(f"Exporting {name} as {quant}…", work, done_message=exported)

    def ask_export(self) -> None:
        from models.convert.quantize import QUANTS

        entry = self.selected_entry()
        if entry is None or entry.kind != "chat":
            self.show_message("Select a chat model to export.", error=True)
            return
        quant, ok = QInputDialog.getItem(self, "Export GGUF", "Quantization (Q4_K_M: smallest; Q8_0: closest to "
                                         "the original; F16: unquantized):", list(QUANTS), 0, False)
        if not ok:
            return
        file, _ = QFileDialog.getSaveFileName(self, "Export as GGUF", f"{entry.name}.{quant}.gguf",
                                              filter="GGUF models (*.gguf)")
        if file:
            self.export(entry.name, Path(file), quant)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a Hugging Face model folder")
        if folder:
            self.import_folder(Path(folder))

    def choose_gguf(self) -> None:
        file, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", filter="GGUF models (*.gguf)")
        if file:
            self.import_gguf(Path(file))

    def ask_download(self) -> None:
        hub_id, ok = QInputDialog.getText(
            self, "Download a model", "Hugging Face model id (this goes online):", text="HuggingFaceTB/SmolLM2-360M-Instruct"
        )
        if ok and hub_id.strip():
            self._run(f"Downloading {hub_id}…", self.context.registry.download, hub_id.strip())

    def remove_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        if entry.bundled:
            self.show_message(f"{entry.name} is bundled with Fireside and cannot be removed.", error=True)
            return
        answer = QMessageBox.question(self, "Remove model", f"Remove {entry.name} from Fireside?")
        if answer == QMessageBox.StandardButton.Yes:
            self.context.registry.remove(entry.name)
            self.refresh()
            self.show_message(f"Removed {entry.name}.")

    def shutdown(self) -> None:
        self.server_panel.shutdown()
