"""Small things the chat tests share: a tiny chat model built from a config, registered or not."""
from __future__ import annotations

from pathlib import Path

from tests.tiny_models import make_tiny_chat_model

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def register_tiny_chat_model(tmp_path: Path, name: str = "tiny-chat") -> str:
    from models.registry import Registry

    Registry().import_folder(make_tiny_chat_model(tmp_path / name, CHATML), name=name)
    return name
