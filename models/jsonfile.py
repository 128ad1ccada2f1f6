"""Reading the small JSON files that describe models (config.json, adapter_config.json)."""
from __future__ import annotations

import json
from pathlib import Path

from models.errors import ModelError


def read_json(file: Path, missing: str) -> dict:
    """The object in `file`; ModelError with `missing` when there is no such file, or saying it is unreadable."""
    file = Path(file)
    if not file.is_file():
        raise ModelError(missing)
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{file}: unreadable {file.name} ({exc})") from exc
