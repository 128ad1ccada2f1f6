"""The app's SQLite database: one file in the data home, WAL mode, schema in PRAGMA user_version.

No Qt here: the CLI, the local API and the GUI all use the same store.
"""
from desktop.store.db import Database, StoreError, open_database

__all__ = ["Database", "StoreError", "open_database"]
