"""Where Fireside keeps the user's data: one folder, overridable with FIRESIDE_HOME."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "fireside"


def data_home() -> Path:
    """The user data folder, created on first use."""
    override = os.environ.get("FIRESIDE_HOME")
    home = Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME))
    home.mkdir(parents=True, exist_ok=True)
    return home


def models_dir() -> Path:
    path = data_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def jobs_dir() -> Path:
    path = data_home() / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_path() -> Path:
    return data_home() / "fireside.db"


def force_offline() -> None:
    """Make the Hugging Face libraries never touch the network unless a download is asked for."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
