"""Keeping API conversations, when the user turned it on (off by default).

Where the chat feature's store (desktop.store.conversations) is part of the build, each exchange
becomes a conversation in the history the Chat page shows, titled "API: ...". Otherwise it is
kept in the api_exchanges table (desktop.store.api_exchanges).
"""
from __future__ import annotations

import logging
from dataclasses import asdict

log = logging.getLogger(__name__)
TITLE_LENGTH = 60


def exchange_recorder(db, endpoint: str, body):
    """A callable that stores a finished GenerationJob, or None when there is nowhere to store it."""
    if db is None:
        return None

    def record(job) -> None:
        if job.stop_event.is_set() and not job.stop_hit:
            return  # the client went away: there is no exchange to keep
        messages = job.messages if job.messages is not None else [{"role": "user", "content": job.prompt or ""}]
        settings = asdict(job.settings) | {"stop": job.stops, "source": f"local API ({endpoint})"}
        if not into_history(db, job.entry.name, messages, settings, job.text):
            from desktop.store.api_exchanges import add_exchange

            add_exchange(db, endpoint, job.entry.name, messages, settings, job.text, job.finish_reason,
                         job.prompt_tokens, job.completion_tokens)

    return record


def into_history(db, model: str, messages: list[dict], settings: dict, reply: str) -> bool:
    """Store the exchange as a conversation of the chat history; False if this build has none."""
    try:
        from desktop.store import conversations as history

        create, add = history.create_conversation, history.add_message
    except (ImportError, AttributeError):
        return False
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    first = next((m["content"] for m in messages if m["role"] == "user"), "") or "(no message)"
    title = "API: " + " ".join(first.split())[:TITLE_LENGTH]
    try:
        with db.transaction():
            conversation = create(db, title=title, system_prompt=system, model=model, settings=settings)
            for message in messages:
                if message["role"] != "system":
                    add(db, conversation, message["role"], message["content"])
            add(db, conversation, "assistant", reply, status="complete", model=model)
    except TypeError:  # the history's functions take other arguments than these: keep it apart instead
        log.warning("local API: the conversation history could not take this exchange", exc_info=True)
        return False
    return True
