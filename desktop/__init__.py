"""Fireside's desktop side: the Qt GUI, the SQLite store (desktop.store, no Qt in it) and the CLI."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fireside")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
