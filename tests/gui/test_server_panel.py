"""The local API switch on the Models page: the real window starts the server, the openai client uses it."""
import socket

import httpx
import openai
import pytest

from desktop.store.settings import get_setting
from models import bundled
from tests.server_setup import wait_for

CHAT, ENCODER = bundled.CHAT_NAME, bundled.ENCODER_NAME


def switch_on(panel, qtbot, port=0, key=""):
    panel.port.setValue(port)
    panel.key.setText(key)
    panel.switch.setChecked(True)
    qtbot.waitUntil(lambda: "Running at" in panel.address.text(), timeout=30_000)
    return panel.context.services["api_server"]


def test_the_switch_serves_the_default_models(main_window, qtbot, default_chat_path):
    panel = main_window.show_page("Models").server_panel
    controller = switch_on(panel, qtbot, key="gui-key")
    address = controller.address
    assert address.startswith("http://127.0.0.1:") and address in panel.address.text()
    assert not panel.port.isEnabled() and panel.copy_button.isEnabled()
    client = openai.OpenAI(base_url=address, api_key="gui-key", max_retries=0, timeout=120)

    assert {CHAT, ENCODER} <= {m.id for m in client.models.list()}
    chunks = list(client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Name the capital of France."}],
        max_tokens=8, temperature=0, stream=True))
    assert "Paris" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    vectors = client.embeddings.create(model=ENCODER, input=["hello", "world"]).data
    assert len(vectors) == 2 and len(vectors[0].embedding) == 384
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=address, api_key="wrong", max_retries=0, timeout=30).models.list()
    malformed = httpx.post(address + "/chat/completions", content=b"{not json",
                           headers={"Authorization": "Bearer gui-key"}, timeout=30)
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"

    pool, before = controller.state.pool, len(controller.state.pool.history)
    stream = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Tell me a long story."}], max_tokens=4000, stream=True)
    for received, _ in enumerate(stream):
        if received == 3:
            break
    stream.close()
    job = wait_for(lambda: len(pool.history) > before and pool.history[before], timeout=60)
    assert job.stop_reason == "stopped" and job.new_tokens < 200

    qtbot.waitUntil(lambda: panel.handled == 6, timeout=10_000)
    assert panel.counter.text() == "6 requests handled"
    rows = [[panel.log_model.index(r, c).data() for c in range(panel.log_model.columnCount())]
            for r in range(panel.log_model.rowCount())]
    assert rows[0][1] == "POST /v1/chat/completions" and rows[0][6] == "stopped by the client"
    assert sorted(row[3] for row in rows) == ["200", "200", "200", "200", "400", "401"]
    assert any(row[2] == CHAT and "+" in row[5] for row in rows)

    panel.switch.setChecked(False)
    qtbot.waitUntil(lambda: panel.address.text() == "Off", timeout=20_000)
    assert not panel.is_running() and panel.port.isEnabled()
    with pytest.raises(httpx.ConnectError):
        httpx.get(address + "/models", timeout=5)


def test_a_port_in_use_turns_the_switch_back_off(main_window, qtbot):
    panel = main_window.show_page("Models").server_panel
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        panel.port.setValue(port)
        panel.switch.setChecked(True)
        qtbot.waitUntil(lambda: "could not start" in panel.message.text(), timeout=20_000)
    finally:
        taken.close()
    assert "in use" in panel.message.text() and not panel.switch.isChecked()
    assert panel.switch.isEnabled() and panel.port.isEnabled() and panel.address.text() == "Off"
    assert get_setting(main_window.context.db, "api.port") == port


def test_other_computers_get_a_key_before_anything_listens(main_window):
    panel = main_window.show_page("Models").server_panel
    panel.access.setCurrentIndex(1)
    panel.key.setText("")
    config = panel.config()  # not started: the tests never listen beyond this computer
    assert config.host == "0.0.0.0" and config.api_key and panel.key.text() == config.api_key
    config.check()


def test_closing_the_window_stops_the_server(main_window, qtbot):
    panel = main_window.show_page("Models").server_panel
    controller = switch_on(panel, qtbot)
    address = controller.address
    assert httpx.get(address + "/models", timeout=30).status_code == 200
    main_window.close()
    assert not controller.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(address + "/models", timeout=5)
