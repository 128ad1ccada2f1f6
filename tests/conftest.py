"""Shared test set-up: a fresh data home per test, no display, the default chat model converted once.

Every test runs with FIRESIDE_HOME in a temporary folder. Converting the bundled GGUF takes about
half a minute, so each test's home links `models/_converted` to one folder shared by the session.
Tests that start `python -m desktop` in a subprocess inherit FIRESIDE_HOME from the environment.
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


@pytest.fixture(scope="session")
def shared_converted_dir(tmp_path_factory) -> Path:
    """Where the converted default chat model lives for the session.

    FIRESIDE_TEST_CACHE names a folder kept between runs (handy while developing); without it the
    conversion happens once per run in a temporary folder.
    """
    kept = os.environ.get("FIRESIDE_TEST_CACHE")
    path = Path(kept) if kept else tmp_path_factory.getbasetemp() / "shared-converted"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def fireside_home(tmp_path, monkeypatch, shared_converted_dir) -> Path:
    home = tmp_path / "fireside-home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "_converted").symlink_to(shared_converted_dir, target_is_directory=True)
    monkeypatch.setenv("FIRESIDE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def default_chat_path(shared_converted_dir, tmp_path_factory) -> Path:
    """The converted default chat model folder (converted on first use in the session)."""
    from models import bundled

    old = os.environ.get("FIRESIDE_HOME")
    home = tmp_path_factory.mktemp("convert-home")
    (home / "models").mkdir()
    (home / "models" / "_converted").symlink_to(shared_converted_dir, target_is_directory=True)
    os.environ["FIRESIDE_HOME"] = str(home)
    try:
        return bundled.ensure_chat_model().resolve()
    finally:
        if old is None:
            os.environ.pop("FIRESIDE_HOME", None)
        else:
            os.environ["FIRESIDE_HOME"] = old


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
