"""Small key/value settings kept in the database (JSON values)."""
from __future__ import annotations

import json
from typing import Any

from desktop.store.db import Database


def get_setting(db: Database, key: str, default: Any = None) -> Any:
    row = db.one("SELECT value FROM settings WHERE key = ?", (key,))
    return json.loads(row["value"]) if row else default


# How chat models hold their weights when they load: one of models.generation.quantize.QUANTIZATIONS.
GENERATION_PRECISION_KEY = "generation.quantization"


def generation_precision(db: Database | None) -> str:
    """The precision chosen on the Models page ("auto" when none was, or no database is open)."""
    from models.generation.quantize import QUANTIZATIONS

    value = get_setting(db, GENERATION_PRECISION_KEY, "auto") if db is not None else "auto"
    return value if value in QUANTIZATIONS else "auto"


def set_setting(db: Database, key: str, value: Any) -> None:
    db.execute(
        "INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )
