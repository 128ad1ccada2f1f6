"""Shared by the local API tests: tiny registered models and a server on a free loopback port."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from tests.tiny_models import make_tiny_bert, make_tiny_chat_model

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def register_tiny_models(registry, root: Path) -> dict[str, str]:
    """Register a tiny chat model, one without a chat template, and a tiny encoder; returns their names."""
    names = {"chat": "tiny-chat", "plain": "tiny-plain", "encoder": "tiny-encoder"}
    registry.register(make_tiny_chat_model(root / "chat", CHAT_TEMPLATE), names["chat"], "chat", source="folder")
    registry.register(make_tiny_chat_model(root / "plain", None), names["plain"], "chat", source="folder")
    registry.register(make_tiny_bert(root / "encoder"), names["encoder"], "encoder", source="folder")
    return names


@contextmanager
def running_server(registry=None, db=None, **config):
    """A real server in a background thread on 127.0.0.1 and a free port; stopped afterwards."""
    from desktop.server import ServerConfig, ServerController

    controller = ServerController(registry=registry, db=db)
    controller.start(ServerConfig(host="127.0.0.1", port=0, **config))
    try:
        yield controller
    finally:
        controller.stop(timeout=10)


def openai_client(controller, api_key: str = "not-needed"):
    import openai

    return openai.OpenAI(base_url=controller.address, api_key=api_key, max_retries=0, timeout=120)


def wait_for(condition, timeout: float = 30.0, interval: float = 0.02):
    """Poll `condition` until it returns something true, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not true after {timeout} s: {condition}")
