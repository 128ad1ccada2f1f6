from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Iterator


# Schema version 1 is made of these files, applied in this order. Once a release has shipped,
# a change is a new entry in MIGRATIONS, never an edit of a file that users already ran.
SCHEMA_FILES = ("core.sql", "chat.sql", "classify.sql", "datasets.sql", "jobs.sql", "api.sql")


def _schema_v1() -> str:
    folder = resources.files("desktop.store") / "schema"
    return "\n".join((folder / name).read_text(encoding="utf-8") for name in SCHEMA_FILES)


# Each migration returns the SQL script that takes the schema from version i to i + 1.
MIGRATIONS = [_schema_v1]
SCHEMA_VERSION = len(MIGRATIONS)

_ENVIRONMENT_ERRORS = {
    "database is locked": "the database is locked by another program; close it and try again",
    "readonly database": "the database file is read-only; check its permissions",
    "disk is full": "the disk is full; free some space and try again",
    "disk i/o error": "the disk reported an input/output error",
    "not a database": "the database file is damaged (not a database)",
    "malformed": "the database file is damaged (malformed)",
    "unable to open database": "the database file cannot be opened",
}


class StoreError(Exception):
    """A problem of the environment (disk full, locked, read-only, damaged file), not a bug."""


def environment_error(exc: sqlite3.Error) -> StoreError | None:
    text = str(exc).lower()
    for needle, message in _ENVIRONMENT_ERRORS.items():
        if needle in text:
            return StoreError(message)
    return None


class Database:
    """One connection shared by the threads of the process, serialised by a lock."""

    def __init__(self, path: Path | str):
        self.path = Path(path) if str(path) != ":memory:" else path
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=5)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise environment_error(exc) or exc
        self._utils = None

    @property
    def utils(self):
        """A sqlite_utils.Database on the same connection, made on first use (importing
        sqlite_utils pulls in numpy, which the window need not wait for)."""
        if self._utils is None:
            import sqlite_utils

            self._utils = sqlite_utils.Database(self.conn)
        return self._utils

    # -- schema ----------------------------------------------------------------------------
    @property
    def user_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        current = self.user_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the database was written by a newer Fireside (schema {current}, this one knows {SCHEMA_VERSION})"
            )
        for version in range(current, SCHEMA_VERSION):
            script = MIGRATIONS[version]()
            # executescript commits whatever is open, so the transaction is part of the script.
            try:
                self.conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={version + 1};\nCOMMIT;")
            except sqlite3.Error:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    # -- access ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything inside lands together or not at all; nests with savepoints."""
        with self._lock:
            depth = self._depth
            savepoint = f"sp{depth}"
            try:
                self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
            except sqlite3.Error as exc:
                raise environment_error(exc) or exc
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                self.conn.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO {savepoint}")
                if depth:
                    self.conn.execute(f"RELEASE {savepoint}")
                raise
            else:
                self._depth -= 1
                try:
                    self.conn.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")
                except sqlite3.Error as exc:
                    if depth == 0:
                        self.conn.execute("ROLLBACK")
                    raise environment_error(exc) or exc

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self.conn.execute(sql, params)
            except sqlite3.OperationalError as exc:
                raise environment_error(exc) or exc

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.execute(sql, params).fetchall()

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        return self.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def open_database(path: Path | None = None) -> Database:
    from models.home import database_path

    return Database(path or database_path())
