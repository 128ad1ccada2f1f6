"""A frozen copy of a dataset: canonical JSON Lines and the sha256 of those bytes.

Canonical means one row per line, keys sorted, no spaces, UTF-8, a newline after every row, rows
in the dataset's order; the same rows always give the same bytes and so the same hash.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

from models.datasets.rows import canonical_json


def snapshot_hash(rows: Iterable[dict]) -> tuple[str, int]:
    digest, count = hashlib.sha256(), 0
    for row in rows:
        digest.update((canonical_json(row) + "\n").encode("utf-8"))
        count += 1
    return digest.hexdigest(), count


def write_snapshot(rows: Iterable[dict], path: Path) -> tuple[str, int]:
    """Write the rows to `path` (via a temporary file renamed into place); (sha256, row count)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    digest, count = hashlib.sha256(), 0
    try:
        with open(staging, "wb") as handle:
            for row in rows:
                line = (canonical_json(row) + "\n").encode("utf-8")
                digest.update(line)
                handle.write(line)
                count += 1
        os.replace(staging, path)
    finally:
        if staging.exists():
            staging.unlink()
    return digest.hexdigest(), count


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
