"""The Chat page in the real window with a tiny model built from a config (it babbles, quickly)."""
import json
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from desktop.chat.transcript_model import MessageRole
from desktop.store import conversations as store
from models.chat import ChatSettings
from tests.chat_support import register_tiny_chat_model

FINISH_MS = 120_000


@pytest.fixture
def page(main_window, tmp_path):
    page = main_window.show_page("Chat")
    name = register_tiny_chat_model(tmp_path)
    page.refresh_models()
    page.controller.set_model(name, load_now=False)
    page.controller.apply_settings(ChatSettings(max_new_tokens=12, seed=1), "")
    page.settings_panel.load(page.controller.settings, "")
    return page


def send_and_wait(qtbot, page, text):
    page.prompt.setPlainText(text)
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS) as finished:
        assert page.send()
    return finished.args  # message id, status


def rows(page):
    model = page.controller.transcript
    return [model.index(r, 0).data(MessageRole) for r in range(model.rowCount())]


def test_enter_sends_shift_enter_adds_a_line_and_empty_is_not_sent(page, qtbot):
    qtbot.keyClicks(page.prompt, "first line")
    qtbot.keyClick(page.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(page.prompt, "second line")
    assert page.prompt.toPlainText() == "first line\nsecond line"
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS):
        qtbot.keyClick(page.prompt, Qt.Key.Key_Return)
    assert page.prompt.toPlainText() == ""
    assert [m["role"] for m in rows(page)] == ["user", "assistant"]
    assert rows(page)[0]["content"] == "first line\nsecond line"

    page.prompt.setPlainText("   \n  ")
    qtbot.keyClick(page.prompt, Qt.Key.Key_Return)
    assert not page.send_button.isEnabled() and len(rows(page)) == 2
    assert page.prompt.toPlainText() == "   \n  "


def test_a_reply_streams_into_one_row_is_saved_and_shows_its_stats(page, qtbot):
    send_and_wait(qtbot, page, "Hello")  # a first exchange, so the streaming reply is not row 0
    page.controller.apply_settings(ChatSettings(max_new_tokens=40, seed=2), "")
    changed_rows, saved_while_streaming = [], []
    model = page.controller.transcript
    model.dataChanged.connect(lambda top, bottom, roles=(): changed_rows.append((top.row(), bottom.row())))

    def peek_database():
        row = page.context.db.one("SELECT content FROM messages WHERE status = 'streaming'")
        if row and row["content"]:
            saved_while_streaming.append(row["content"])

    # The tiny model writes 40 tokens faster than the half-second save interval: save more often.
    page.controller._save_timer.setInterval(5)
    page.controller._save_timer.timeout.connect(peek_database)
    message_id, status = send_and_wait(qtbot, page, "Tell me more")
    assert status == "complete"
    assert len(changed_rows) >= 2 and set(changed_rows) <= {(3, 3)}  # only the streaming row changed

    reply = rows(page)[3]
    saved = store.get_message(page.context.db, message_id)
    assert saved["status"] == "complete" and saved["content"] == reply["content"] != ""
    assert saved["stats"]["new_tokens"] == 40 and saved["stats"]["model"] == "tiny-chat"
    bubble = page.transcript.bubble_for(message_id)
    assert "40 tokens" in bubble.stats.text() and "tok/s" in bubble.stats.text()
    assert saved_while_streaming and all(reply["content"].startswith(text) for text in saved_while_streaming)


def test_stop_during_decoding_keeps_the_text_as_stopped(page, qtbot):
    page.controller.apply_settings(ChatSettings(max_new_tokens=220, seed=3), "")
    page.prompt.setPlainText("Go on for a long time")
    stopped_at = []
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS) as finished:
        assert page.send()
        assert page.stop_button.isVisible() and not page.send_button.isVisible()
        qtbot.waitUntil(lambda: len(rows(page)[-1]["content"]) > 10, timeout=FINISH_MS)
        stopped_at.append(time.perf_counter())
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    latency = time.perf_counter() - stopped_at[0]
    message_id, status = finished.args
    saved = store.get_message(page.context.db, message_id)
    assert status == "stopped" and saved["status"] == "stopped"
    assert saved["stats"]["stop_reason"] == "stopped" and saved["stats"]["new_tokens"] < 220
    assert saved["content"] and saved["content"] == rows(page)[-1]["content"]
    assert page.send_button.isVisible() and not page.stop_button.isVisible()
    assert "Stopped" in page.transcript.bubble_for(message_id).header.text()
    print(f"\nstop during decoding (tiny model): reply closed {latency * 1000:.0f} ms after the click")


def test_regenerate_and_edit_keep_alternatives_to_flip_between(page, qtbot):
    first_reply, _ = send_and_wait(qtbot, page, "Question one")
    page.controller.apply_settings(ChatSettings(max_new_tokens=12, seed=99), "")
    bubble = page.transcript.bubble_for(first_reply)
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS) as finished:
        qtbot.mouseClick(bubble.regenerate, Qt.MouseButton.LeftButton)
    second_reply = finished.args[0]
    assert [m["id"] for m in rows(page)][-1] == second_reply
    assert (rows(page)[-1]["alternative"], rows(page)[-1]["alternatives"]) == (2, 2)
    qtbot.mouseClick(page.transcript.bubble_for(second_reply).previous, Qt.MouseButton.LeftButton)
    assert rows(page)[-1]["id"] == first_reply

    question = rows(page)[0]["id"]
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS):
        assert page.controller.edit_and_resend(question, "Question one, rephrased")
    assert [m["content"] for m in rows(page)][0] == "Question one, rephrased"
    assert (rows(page)[0]["alternative"], rows(page)[0]["alternatives"]) == (2, 2)
    page.controller.show_alternative(rows(page)[0]["id"], -1)
    assert [m["id"] for m in rows(page)] == [question, first_reply]  # the old branch, as it was


def test_edit_button_asks_for_the_new_text(page, qtbot, monkeypatch):
    send_and_wait(qtbot, page, "Original")
    monkeypatch.setattr(QInputDialog, "getMultiLineText", lambda *a, **k: ("Edited", True))
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS):
        qtbot.mouseClick(page.transcript.bubbles[0].edit, Qt.MouseButton.LeftButton)
    assert rows(page)[0]["content"] == "Edited"


def test_thumbs_and_ideal_answer_are_stored_for_training(page, qtbot, monkeypatch):
    reply_id, _ = send_and_wait(qtbot, page, "What is 2+2?")
    bubble = page.transcript.bubble_for(reply_id)
    qtbot.mouseClick(bubble.thumbs_down, Qt.MouseButton.LeftButton)
    monkeypatch.setattr(QInputDialog, "getMultiLineText", lambda *a, **k: ("2 + 2 = 4.", True))
    qtbot.mouseClick(bubble.ideal_button, Qt.MouseButton.LeftButton)
    last = store.active_messages(page.context.db, page.controller.conversation_id)[-1]
    assert (last["rating"], last["ideal_content"]) == (-1, "2 + 2 = 4.")
    assert bubble.thumbs_down.isChecked() and "Ideal answer saved" in bubble.ideal.text()
    qtbot.mouseClick(bubble.thumbs_down, Qt.MouseButton.LeftButton)  # again: cleared
    assert store.get_message(page.context.db, reply_id)["rating"] == 0


def test_a_locked_database_keeps_the_prompt_in_the_box(page, qtbot):
    import sqlite3

    page.context.db.execute("PRAGMA busy_timeout = 100")
    locker = sqlite3.connect(str(page.context.db.path), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        page.prompt.setPlainText("Please keep this text")
        assert page.send() is False
        assert page.prompt.toPlainText() == "Please keep this text"
        assert page.error_label.isVisible() and "locked" in page.error_label.text()
        assert page.controller.conversation_id is None and not page.controller.busy
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    send_and_wait(qtbot, page, page.prompt.toPlainText())  # once free, the same text goes through
    assert not page.error_label.isVisible() and rows(page)[0]["content"] == "Please keep this text"


def test_a_model_that_fails_to_load_is_an_error_in_the_conversation(page, qtbot, tmp_path):
    broken = register_tiny_chat_model(tmp_path, "broken-chat")
    (tmp_path / "broken-chat" / "model.safetensors").write_bytes(b"not weights")
    page.refresh_models()
    page.controller.set_model(broken, load_now=False)
    message_id, status = send_and_wait(qtbot, page, "Hello?")
    assert status == "error"
    reply = rows(page)[-1]
    assert "broken-chat could not be loaded" in reply["notices"][0]
    assert "could not be loaded" in page.status_label.text()
    assert page.transcript.bubble_for(message_id).notices.isVisible()
    assert store.get_message(page.context.db, message_id)["status"] == "error"

    page.controller.set_model("tiny-chat", load_now=False)  # the app is still up: another model answers
    with qtbot.waitSignal(page.controller.reply_finished, timeout=FINISH_MS) as finished:
        page.controller.regenerate(message_id)
    assert finished.args[1] == "complete"
    assert store.prompt_messages(page.context.db, page.controller.conversation_id, finished.args[0]) == [
        {"role": "user", "content": "Hello?"}]  # the failed reply is not fed to the model


def test_conversation_list_search_rename_delete(page, qtbot, monkeypatch):
    send_and_wait(qtbot, page, "A question about volcanoes")
    page.new_conversation()
    assert rows(page) == [] and page.title_label.full_text() == "New conversation"
    send_and_wait(qtbot, page, "Something about rivers")
    listed = page.controller.conversations
    assert [listed.index(r, 0).data() for r in range(listed.rowCount())] == [
        "Something about rivers", "A question about volcanoes"]

    page.search_box.setText("volcano")
    assert listed.rowCount() == 1 and listed.index(0, 0).data() == "A question about volcanoes"
    page.search_box.clear()
    assert listed.rowCount() == 2

    assert listed.setData(listed.index(1, 0), "Volcanoes", Qt.ItemDataRole.EditRole)
    assert listed.index(1, 0).data() == "Volcanoes"
    page.conversation_list.clicked.emit(listed.index(1, 0))
    assert page.title_label.full_text() == "Volcanoes" and rows(page)[0]["content"] == "A question about volcanoes"

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    page.confirm_delete(page.controller.conversation_id, "Volcanoes")
    assert listed.rowCount() == 1 and rows(page) == []


def test_presets_and_settings_are_kept_per_conversation(page, qtbot):
    panel = page.settings_panel
    page.settings_panel_visible(True)
    assert panel.isVisible()
    panel.preset.setCurrentText("Precise")
    assert panel.temperature.value() == pytest.approx(0.2)
    panel.system_prompt.setPlainText("Answer like a pirate.")
    send_and_wait(qtbot, page, "Ahoy")  # sending applies a system prompt still being typed
    conversation = store.get_conversation(page.context.db, page.controller.conversation_id)
    assert conversation["system_prompt"] == "Answer like a pirate."
    assert ChatSettings.from_dict(conversation["settings"]).preset == "Precise"

    panel.temperature.setValue(1.33)
    assert panel.preset.currentText() == "Custom"
    first = page.controller.conversation_id
    page.new_conversation()
    panel.preset.setCurrentText("Creative")
    page.open_conversation(first)
    assert panel.temperature.value() == pytest.approx(1.33) and panel.preset.currentText() == "Custom"
    assert panel.system_prompt.toPlainText() == "Answer like a pirate."


def test_export_and_import_from_the_page(page, qtbot, tmp_path):
    send_and_wait(qtbot, page, "Export me")
    target = tmp_path / "out.json"
    assert page.export_to(page.controller.conversation_id, "json", target)
    assert json.loads(target.read_text())["messages"][0] == {"role": "user", "content": "Export me"}
    assert page.export_to(page.controller.conversation_id, "md", tmp_path / "out.md")
    assert "## You\n\nExport me" in (tmp_path / "out.md").read_text()

    new_id = page.import_from(target)
    assert new_id and page.controller.conversation_id == new_id and rows(page)[0]["content"] == "Export me"
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    assert page.import_from(bad) is None and "bad.json was not imported: not valid JSON" in page.error_label.text()


def test_a_megabyte_paste_is_accepted_and_the_user_told_it_was_cut(page, qtbot):
    paste = "Summarise this: " + "the quick brown fox jumps over the lazy dog. " * 23_000
    assert len(paste) > 1_000_000
    message_id, status = send_and_wait(qtbot, page, paste)
    assert status == "complete"
    saved = store.active_messages(page.context.db, page.controller.conversation_id)
    assert saved[0]["content"] == paste  # nothing the user typed is lost
    assert any("characters) is longer than the model's context" in n for n in rows(page)[-1]["notices"])
    assert "more characters" in page.transcript.bubbles[0].body.toPlainText()  # shown in part


def test_window_stays_responsive_while_generating(page, qtbot):
    from PySide6.QtCore import QTimer

    page.controller.apply_settings(ChatSettings(max_new_tokens=60, seed=4), "")
    ticks = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    send_and_wait(qtbot, page, "Talk")
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 5
    print(f"\nGUI timer during generation: {len(ticks)} ticks, longest gap {max(gaps) * 1000:.0f} ms")


def test_prompt_lookup_chosen_on_the_models_page_applies_from_the_next_reply(page, qtbot, main_window):
    send_and_wait(qtbot, page, "Hello")
    slot = page.controller.worker.slot
    first = slot.generator
    assert not slot.speculative and slot.holds("tiny-chat")
    assert page.status_label.text() == "tiny-chat is loaded (float32, PyTorch)"
    models_page = main_window.show_page("Models")
    models_page.prompt_lookup.setChecked(True)
    main_window.show_page("Chat")
    send_and_wait(qtbot, page, "Hello again")
    assert slot.speculative and slot.holds("tiny-chat") and slot.generator is not first


def test_without_llama_cpp_the_default_model_chats_through_pytorch_and_says_so(main_window, qtbot, monkeypatch):
    from models import bundled
    from models.generation import llama_engine

    monkeypatch.setattr(llama_engine, "_problem", "llama-cpp-python is not installed")
    page = main_window.show_page("Chat")
    page.controller.set_model(bundled.CHAT_NAME, load_now=False)
    page.controller.apply_settings(ChatSettings(temperature=0, max_new_tokens=8), "")
    send_and_wait(qtbot, page, "Name the capital of France.")
    assert page.controller.worker.slot.generator.backend == "transformers"
    assert "PyTorch — llama.cpp is not available here" in page.status_label.text()
