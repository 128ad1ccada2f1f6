"""The real window with the real default model: stream, stop, regenerate, restart, search."""
import time

from PySide6.QtCore import Qt

from desktop.app import build_context
from desktop.chat.transcript_model import MessageRole
from desktop.main_window import MainWindow
from desktop.store import conversations as store
from models import bundled
from models.chat import ChatSettings

FINISH_MS = 300_000


def rows(page):
    model = page.controller.transcript
    return [model.index(r, 0).data(MessageRole) for r in range(model.rowCount())]


def saved_partial(page) -> str:
    row = page.context.db.one("SELECT content FROM messages WHERE status = 'streaming'")
    return row["content"] if row else ""


def open_window(qtbot):
    window = MainWindow(build_context())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_chat_streams_stops_regenerates_and_survives_a_restart(qtbot, default_chat_path):
    window = open_window(qtbot)
    page = window.show_page("Chat")
    assert page.controller.model_name == bundled.CHAT_NAME
    page.controller.apply_settings(ChatSettings(temperature=0, max_new_tokens=20), "")

    # Type a question; watch the reply grow piece by piece in its row.
    lengths = []
    page.controller.transcript.dataChanged.connect(
        lambda top, bottom, roles=(): lengths.append(len(rows(page)[top.row()]["content"])))
    qtbot.keyClicks(page.prompt, "Name the capital of France.")
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS) as finished:
        qtbot.keyClick(page.prompt, Qt.Key.Key_Return)
        assert page.prompt.toPlainText() == ""
    first_reply, status = finished.args
    assert status == "complete" and "Paris" in rows(page)[-1]["content"]
    growing = sorted(set(n for n in lengths if n))
    assert len(growing) >= 3, f"the reply arrived in {len(growing)} pieces, not streamed"
    assert rows(page)[-1]["stats"]["model"] == bundled.CHAT_NAME

    # A long answer, stopped while it is being written.
    page.controller.apply_settings(ChatSettings(temperature=0, max_new_tokens=400), "")
    page.prompt.setPlainText("Write a long story about a dragon who learns to cook.")
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS) as finished:
        assert page.send()
        qtbot.waitUntil(lambda: len(rows(page)[-1]["content"]) > 40, timeout=FINISH_MS)
        # The growing reply reaches the database while it is written (the save timer runs twice a second).
        qtbot.waitUntil(lambda: bool(saved_partial(page)), timeout=FINISH_MS)
        clicked = time.perf_counter()
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    stop_latency = time.perf_counter() - clicked
    stopped_reply, status = finished.args
    assert status == "stopped"
    stopped = store.get_message(page.context.db, stopped_reply)
    assert stopped["stats"]["new_tokens"] < 400 and len(stopped["content"]) > 40

    # Regenerate it: the stopped reply stays as an alternative.
    page.controller.apply_settings(ChatSettings(temperature=0.7, seed=5, max_new_tokens=16), "")
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS) as finished:
        qtbot.mouseClick(page.transcript.bubble_for(stopped_reply).regenerate, Qt.MouseButton.LeftButton)
    regenerated, status = finished.args
    assert status == "complete" and (rows(page)[-1]["alternative"], rows(page)[-1]["alternatives"]) == (2, 2)
    shown = [(m["role"], m["content"]) for m in rows(page)]
    conversation_id = page.controller.conversation_id
    window.close()

    # Restart: a new window on the same data home finds everything.
    again = open_window(qtbot)
    page = again.show_page("Chat")
    listed = page.controller.conversations
    assert listed.index(0, 0).data() == "Name the capital of France."
    page.conversation_list.clicked.emit(listed.index(0, 0))
    assert page.controller.conversation_id == conversation_id
    assert [(m["role"], m["content"]) for m in rows(page)] == shown
    page.controller.show_alternative(regenerated, -1)
    assert rows(page)[-1]["id"] == stopped_reply and rows(page)[-1]["status"] == "stopped"
    page.search_box.setText("pari")
    assert [listed.index(r, 0).data() for r in range(listed.rowCount())] == ["Name the capital of France."]
    page.search_box.setText("dragon cook")
    assert listed.rowCount() == 1
    page.search_box.setText("submarine")
    assert listed.rowCount() == 0
    print(f"\nstop during decoding (default model): reply closed {stop_latency * 1000:.0f} ms after the click")
