"""Small key/value settings kept in the database (JSON values)."""
from __future__ import annotations

import json
from typing import Any

from desktop.store.db import Database


def get_setting(db: Database, key: str, default: Any = None) -> Any:
    row = db.one("SELECT value FROM settings WHERE key = ?", (key,))
    return json.loads(row["value"]) if row else default


# Whether chat models decode with prompt lookup (speculative decoding; Generator.load(speculative=...)).
PROMPT_LOOKUP_KEY = "generation.prompt_lookup"


def prompt_lookup(db: Database | None) -> bool:
    """The Models page's prompt-lookup choice (off when none was made, or no database is open)."""
    return db is not None and get_setting(db, PROMPT_LOOKUP_KEY, False) is True


def set_setting(db: Database, key: str, value: Any) -> None:
    db.execute(
        "INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )
