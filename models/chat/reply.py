"""One reply: fit the conversation into the context, then stream the model's answer."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from models.chat.context import FittedPrompt, fit_prompt
from models.chat.settings import ChatSettings
from models.generation import GenerationStats


@dataclass
class ChatReply:
    text: str
    stats: GenerationStats
    notices: list[str] = field(default_factory=list)
    fitted: FittedPrompt | None = None

    @property
    def stopped(self) -> bool:
        return self.stats.stop_reason == "stopped"


def respond(
    generator,
    messages: list[dict],
    settings: ChatSettings,
    on_text: Callable[[str], None] | None = None,
    stop_event: threading.Event | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> ChatReply:
    """Answer the last of `messages` ({"role", "content"} dicts, system prompt first if any).

    Notices (history left out, a message shortened) go to `on_notice` before the first token, and
    come back in the reply. Setting `stop_event` ends the reply early; that is not an error.
    """
    stop_event = stop_event or threading.Event()
    fitted = fit_prompt(generator, messages, settings.max_new_tokens)
    for notice in fitted.notices:
        if on_notice:
            on_notice(notice)
    gen_settings = settings.generation()
    gen_settings.max_new_tokens = fitted.max_new_tokens
    if stop_event.is_set():  # stopped while the prompt was being prepared
        stats = GenerationStats(prompt_tokens=len(fitted.prompt_ids), model=generator.name, stop_reason="stopped")
        return ChatReply(text="", stats=stats, notices=fitted.notices, fitted=fitted)
    result = generator.generate(fitted.prompt_ids, gen_settings, on_text=on_text, stop_event=stop_event)
    return ChatReply(text=result.text, stats=result.stats, notices=fitted.notices, fitted=fitted)
