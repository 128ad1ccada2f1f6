"""The two shapes a dataset row takes, checked and flattened.

* chat: ``{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}``
* classification: ``{"text": str, "label": str}`` (one label per row; a later ``labels`` list
  would sit beside it for multi-label data).
"""
from __future__ import annotations

import json

KINDS = ("chat", "classification")
ROLES = ("system", "user", "assistant")


class RowError(ValueError):
    """A row that does not have the shape its dataset needs; the message is one line for people."""


def check_chat_row(row: object) -> dict:
    """The row reduced to its messages (roles and contents), or RowError."""
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
        raise RowError("a chat row needs a list of messages")
    messages = []
    for number, message in enumerate(row["messages"], start=1):
        if not isinstance(message, dict):
            raise RowError(f"message {number} is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise RowError(f"message {number} has role {role!r}; expected system, user or assistant")
        if not isinstance(content, str):
            raise RowError(f"message {number} has no text content")
        messages.append({"role": role, "content": content})
    if not messages:
        raise RowError("a chat row needs at least one message")
    return {"messages": messages}


def check_classification_row(row: object) -> dict:
    if not isinstance(row, dict):
        raise RowError("a classification row needs a text and a label")
    text, label = row.get("text"), row.get("label")
    if not isinstance(text, str):
        raise RowError("a classification row needs a text")
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        label = str(label)
    if not isinstance(label, str):
        raise RowError("a classification row needs a label")
    return {"text": text, "label": label.strip()}


def check_row(kind: str, row: object) -> dict:
    if kind == "chat":
        return check_chat_row(row)
    if kind == "classification":
        return check_classification_row(row)
    raise RowError(f"unknown dataset kind {kind!r}; expected chat or classification")


def row_kind(row: dict) -> str:
    return "chat" if "messages" in row else "classification"


def row_text(row: dict) -> str:
    """The row as one plain text: what search looks in and what the duplicate finder compares."""
    if "messages" in row:
        return "\n".join(f"{m['role']}: {m['content']}" for m in row["messages"])
    return row.get("text", "")


def row_label(row: dict) -> str | None:
    return row.get("label") if "messages" not in row else None


def canonical_json(row: dict) -> str:
    """One stable line per row: sorted keys, no spaces, real characters (not \\u escapes)."""
    return json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
