"""Shared test set-up: a fresh data home per test, no display.

Every test runs with FIRESIDE_HOME in a temporary folder. Tests that start `python -m desktop` in a
subprocess inherit FIRESIDE_HOME from the environment.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] == "integration":
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def fireside_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "fireside-home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("FIRESIDE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def default_chat_path() -> Path:
    """The default chat model's GGUF file, where its package installed it."""
    from models import bundled

    return bundled.chat_model_file()


@pytest.fixture(scope="session")
def chat_generator(default_chat_path):
    """The default chat model, loaded once per session."""
    from models.bundled import CHAT_NAME
    from models.generation import Generator

    return Generator.load(default_chat_path, name=CHAT_NAME)


@pytest.fixture(scope="session")
def encoder_path() -> Path:
    from models.bundled import encoder_dir

    return encoder_dir()


def run_cli(*args: str, env_home: Path | None = None, timeout: float = 600, input: str | None = None):
    """Run `python -m desktop ARGS` in a subprocess; returns CompletedProcess (text mode)."""
    import subprocess

    env = dict(os.environ)
    if env_home is not None:
        env["FIRESIDE_HOME"] = str(env_home)
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=timeout,
        env=env, cwd=ROOT, input=input,
    )


@pytest.fixture
def cli():
    return run_cli


pytest_plugins = ["tests.gui_fixtures"]
