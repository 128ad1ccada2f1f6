"""Fixtures for tests that open the real window."""
import pytest

from desktop.app import build_context
from desktop.main_window import MainWindow


@pytest.fixture
def main_window(qtbot, fireside_home):
    """The real main window on a fresh data home, shown offscreen."""
    window = MainWindow(build_context())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()
