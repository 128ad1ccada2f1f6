"""Keeping API conversations, when the user turned it on (off by default).

Each exchange becomes a conversation in the history the Chat page shows, titled "API: ...".
"""
from __future__ import annotations

from dataclasses import asdict

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
        into_history(db, job.entry.name, messages, settings, job.text)

    return record


def into_history(db, model: str, messages: list[dict], settings: dict, reply: str) -> None:
    """Store the exchange as a conversation of the chat history."""
    from desktop.store.conversations import add_message as add, create_conversation as create

    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    first = next((m["content"] for m in messages if m["role"] == "user"), "") or "(no message)"
    title = "API: " + " ".join(first.split())[:TITLE_LENGTH]
    with db.transaction():
        conversation = create(db, title=title, system_prompt=system, model=model, settings=settings)
        for message in messages:
            if message["role"] in ("user", "assistant"):  # tool and function turns have no place in a chat
                add(db, conversation, message["role"], message["content"])
        add(db, conversation, "assistant", reply, status="complete", model=model)
