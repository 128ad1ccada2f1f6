"""Keeping API conversations in the history, when the user turned it on (off by default)."""
from __future__ import annotations

from dataclasses import asdict


def exchange_recorder(db, endpoint: str, body):
    """A callable that stores a finished GenerationJob, or None when there is nowhere to store it."""
    if db is None:
        return None
    from desktop.store.api_exchanges import add_exchange

    def record(job) -> None:
        if job.stop_event.is_set() and not job.stop_hit:
            return  # the client went away: there is no exchange to keep
        messages = job.messages if job.messages is not None else [{"role": "user", "content": job.prompt or ""}]
        settings = asdict(job.settings) | {"stop": job.stops}
        add_exchange(db, endpoint, job.entry.name, messages, settings, job.text, job.finish_reason,
                     job.prompt_tokens, job.completion_tokens)

    return record
