"""Start the GUI: the window appears first, the ML stack is imported in the background."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.context import AppContext
from desktop.store import StoreError, open_database
from models.home import data_home, force_offline
from models.registry import Registry


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.FileHandler(data_home() / "fireside.log", encoding="utf-8"), logging.StreamHandler()],
    )


def load_style_sheet(app: QApplication) -> None:
    style = Path(__file__).resolve().parent.parent / "resources" / "style.qss"
    if style.exists():
        app.setStyleSheet(style.read_text(encoding="utf-8"))


def build_context() -> AppContext:
    return AppContext(db=open_database(), registry=Registry())


def run_gui(argv: list[str] | None = None) -> int:
    force_offline()
    setup_logging()
    app = QApplication.instance() or QApplication(argv or sys.argv)
    app.setApplicationName("Fireside")
    app.setOrganizationName("Fireside")
    load_style_sheet(app)
    try:
        context = build_context()
    except StoreError as exc:
        QMessageBox.critical(None, "Fireside", f"Fireside cannot open its database: {exc}")
        return 1
    from desktop.main_window import MainWindow

    window = MainWindow(context)
    window.show()
    window.start_background_preparation()
    status = app.exec()
    # Let background work that is still running (an import, a save) end before the interpreter does.
    QThreadPool.globalInstance().waitForDone(10_000)
    return status
