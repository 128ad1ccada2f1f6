"""Conversations held through the local API, when the user asked to keep them."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from desktop.store.db import Database


def add_exchange(db: Database, endpoint: str, model: str, messages: list[dict], settings: dict, reply: str,
                 finish_reason: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> int:
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with db.transaction():
        cursor = db.execute(
            "INSERT INTO api_exchanges(created, endpoint, model, messages_json, settings_json, reply, finish_reason,"
            " prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (created, endpoint, model, json.dumps(messages, ensure_ascii=False), json.dumps(settings), reply,
             finish_reason, prompt_tokens, completion_tokens),
        )
    return int(cursor.lastrowid)


def list_exchanges(db: Database, limit: int = 100) -> list[dict]:
    rows = db.query("SELECT * FROM api_exchanges ORDER BY id DESC LIMIT ?", (limit,))
    exchanges = []
    for row in rows:
        item = dict(row)
        item["messages"] = json.loads(item.pop("messages_json"))
        item["settings"] = json.loads(item.pop("settings_json"))
        exchanges.append(item)
    return exchanges
