"""Small things the chat tests share: a tiny chat model built from a config, registered or not."""
from __future__ import annotations

from pathlib import Path

from tests.tiny_models import make_tiny_causal_lm

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def make_tiny_chat_model(folder: Path, with_template: bool = True) -> Path:
    """A 2-layer Llama with a BERT tokenizer (random weights: it babbles, quickly)."""
    make_tiny_causal_lm(folder)
    if with_template:
        (folder / "chat_template.jinja").write_text(CHATML, encoding="utf-8")
    return folder


def register_tiny_chat_model(tmp_path: Path, name: str = "tiny-chat") -> str:
    from models.registry import Registry

    Registry().import_folder(make_tiny_chat_model(tmp_path / name), name=name)
    return name
