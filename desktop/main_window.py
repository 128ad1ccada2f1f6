"""The main window: a sidebar of pages, a status bar with background progress."""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QListWidget, QMainWindow, QProgressBar, QStackedWidget, QVBoxLayout, QWidget,
)

from desktop import __version__
from desktop.background import BackgroundOp
from desktop.context import AppContext
from desktop.pages.chat_page import ChatPage
from desktop.pages.classify_page import ClassifyPage
from desktop.pages.datasets_page import DatasetsPage
from desktop.pages.finetune_page import FinetunePage
from desktop.pages.models_page import ModelsPage

PAGES = (ChatPage, ClassifyPage, DatasetsPage, FinetunePage, ModelsPage)


def prepare_default_models() -> str:
    """Import the ML stack, remove the float copy earlier versions made of the default chat model,
    and say which engine chats."""
    from models import bundled
    from models.generation.llama_engine import available

    freed = bundled.remove_legacy_cache()
    _import_libraries()
    done = "Default models ready."
    if freed:
        done += f" {freed / 2**20:,.0f} MB freed: the default chat model now runs from its GGUF file."
    problem = available()
    if problem:
        done += " llama.cpp is not available, so chat runs through PyTorch (slower); run the set-up again to add it."
    return done


def _import_libraries() -> None:
    """Warm the imports so that the first chat or classification does not wait for them, and so
    that neither they nor the garbage collector walking their objects freezes the window later.
    pyqtgraph too: imported on the GUI thread when the first plot is shown, it froze the window
    for about 0.4 s."""
    from models.gc_pauses import collector_paused
    from models.generation.llama_engine import available
    from models.loading import import_model_stack

    import_model_stack()
    available()  # imports llama_cpp where it is installed
    with collector_paused(freeze=True):
        import pyqtgraph  # noqa: F401


class MainWindow(QMainWindow):
    def __init__(self, context: AppContext):
        super().__init__()
        self.context = context
        self.setWindowTitle(f"Fireside {__version__}")
        self.resize(QSize(1200, 800))

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFixedWidth(160)
        self.stack = QStackedWidget()
        self.pages: dict[str, QWidget] = {}
        for page_class in PAGES:
            page = page_class(context)
            self.pages[page_class.title] = page
            self.stack.addWidget(page)
            self.sidebar.addItem(page_class.title)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.sidebar.setCurrentRow(0)

        brand = QLabel("Fireside")
        brand.setObjectName("sidebarTitle")
        brand.setFixedWidth(160)
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(0)
        side.addWidget(brand)
        side.addWidget(self.sidebar, 1)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(side)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.status_label = QLabel()
        self.status_progress = QProgressBar()
        self.status_progress.setMaximumWidth(240)
        self.status_progress.setRange(0, 100)
        self.status_progress.hide()
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.status_progress)
        self.startup_op: BackgroundOp | None = None

    def show_page(self, title: str) -> QWidget:
        index = list(self.pages).index(title)
        self.sidebar.setCurrentRow(index)
        return self.pages[title]

    def start_background_preparation(self) -> BackgroundOp:
        self.status_label.setText("Loading the machine-learning libraries…")
        self.status_progress.setRange(0, 0)  # busy: an import has no measurable progress
        self.status_progress.show()

        def finished(message: str):
            self.status_progress.hide()
            self.status_label.setText(message)
            self.pages["Models"].refresh()

        def failed(message: str):
            self.status_progress.hide()
            self.status_label.setText(f"Default models could not be prepared: {message}")

        self.startup_op = (
            BackgroundOp(prepare_default_models).success(finished).failure(failed)
            .run_in_background()
        )
        return self.startup_op

    def closeEvent(self, event: QCloseEvent) -> None:
        for page in self.pages.values():
            page.shutdown()
        super().closeEvent(event)
