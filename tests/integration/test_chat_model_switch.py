"""Switching models frees the old one: memory comes back after switching away and back five times."""
import gc

import psutil

from desktop.app import build_context
from desktop.main_window import MainWindow
from models import bundled
from models.chat import ChatSettings
from tests.chat_support import register_tiny_chat_model

REPLY_MS = 300_000


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def test_five_switches_return_memory_within_ten_percent(qtbot, tmp_path, default_chat_path):
    tiny = [register_tiny_chat_model(tmp_path, "tiny-a"), register_tiny_chat_model(tmp_path, "tiny-b")]
    window = MainWindow(build_context())
    qtbot.addWidget(window)
    page = window.show_page("Chat")
    controller = page.controller
    controller.apply_settings(ChatSettings(temperature=0, max_new_tokens=4), "")

    def chat_with(name):
        """Switch the page's model to `name` and let it answer, so all its weights are in memory."""
        controller.set_model(name, load_now=False)
        with qtbot.waitSignal(controller.reply_finished, timeout=REPLY_MS) as finished:
            assert controller.send("Hi")
        assert finished.args[1] == "complete" and controller.loaded_model == name

    chat_with(bundled.CHAT_NAME)
    baseline = rss_mb()
    readings = []
    for i in range(5):
        chat_with(tiny[i % 2])
        small = rss_mb()
        chat_with(bundled.CHAT_NAME)
        readings.append((small, rss_mb()))
    window.close()
    print(f"\nRSS with the default model: {baseline:.0f} MB; after each switch (tiny, default): "
          + ", ".join(f"({s:.0f}, {d:.0f})" for s, d in readings))
    assert readings[-1][1] <= baseline * 1.10
    # With only a tiny model loaded, the default model is gone: its mapped file (90 MB) and its
    # keys and values for a 4,096-token context (94 MB).
    assert all(small < baseline - 120 for small, _ in readings)
