"""Rows made from what the user already did: chat conversations and classifier corrections.

Messages are the dicts the chat store returns for a conversation's current branch (role, content,
status, rating, ideal_content); examples are those of a classifier (text, label, source).
"""
from __future__ import annotations

from models.datasets.rows import ROLES

CHAT_MODES = {
    "conversation": "The whole conversation",
    "thumbs_up": "Only replies marked thumbs-up",
    "ideal": "Only the ideal answers you wrote",
}
UNFINISHED = ("error", "streaming", "interrupted", "stopped")


def _reply_usable(message: dict) -> bool:
    return bool(message.get("ideal_content")) or message.get("status", "complete") not in UNFINISHED


def rows_from_messages(messages: list[dict], mode: str = "conversation") -> list[dict]:
    """Chat rows from one conversation.

    * conversation: one row, the whole exchange; an ideal answer replaces the reply it corrects,
      and a failed or unfinished reply is left out together with the question it answered;
    * thumbs_up: one row per reply rated +1, with the conversation before it as context;
    * ideal: one row per edited ideal answer, with the conversation before it as context.
    """
    if mode not in CHAT_MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(CHAT_MODES)}")
    history: list[dict] = []
    rows: list[dict] = []
    for message in messages:
        role, content = message.get("role"), message.get("content") or ""
        if role not in ROLES:
            continue
        if role != "assistant":
            history.append({"role": role, "content": content})
            continue
        if mode == "thumbs_up" and message.get("rating") == 1 and _reply_usable(message) and content.strip():
            rows.append({"messages": history + [{"role": "assistant", "content": content}]})
        if mode == "ideal" and (message.get("ideal_content") or "").strip():
            rows.append({"messages": history + [{"role": "assistant", "content": message["ideal_content"]}]})
        if _reply_usable(message):
            history.append({"role": "assistant", "content": message.get("ideal_content") or content})
        else:
            while history and history[-1]["role"] == "user":
                history.pop()
    if mode == "conversation":
        roles = {m["role"] for m in history}
        return [{"messages": history}] if {"user", "assistant"} <= roles else []
    return rows


def rows_from_examples(examples: list[dict], sources: tuple[str, ...] = ("correction", "example")) -> list[dict]:
    """Classification rows from a classifier's examples and corrections (blank ones left out)."""
    return [
        {"text": e["text"], "label": e["label"]}
        for e in examples
        if e.get("source", "example") in sources and (e.get("text") or "").strip() and (e.get("label") or "").strip()
    ]
