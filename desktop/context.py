"""What every page needs: the database and the model registry, created once per window."""
from __future__ import annotations

from dataclasses import dataclass, field

from desktop.store import Database
from models.registry import Registry


@dataclass
class AppContext:
    db: Database
    registry: Registry
    # Long-lived services that pages share (a loaded chat model, the local API server), by name.
    services: dict = field(default_factory=dict)
