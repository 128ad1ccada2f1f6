import os
import sqlite3

import pytest

from desktop.store import Database, StoreError, open_database
from desktop.store.db import SCHEMA_VERSION
from desktop.store.settings import get_setting, set_setting


def test_new_database_is_migrated_to_current_schema(fireside_home):
    db = open_database()
    assert db.path == fireside_home / "fireside.db"
    assert db.user_version == SCHEMA_VERSION
    assert db.one("PRAGMA journal_mode")[0] == "wal"


def test_reopening_keeps_data(tmp_path):
    db = Database(tmp_path / "f.db")
    set_setting(db, "last_page", "Chat")
    db.close()
    assert get_setting(Database(tmp_path / "f.db"), "last_page") == "Chat"


def test_transaction_rolls_back_on_error(tmp_path):
    db = Database(tmp_path / "f.db")
    with pytest.raises(RuntimeError):
        with db.transaction():
            set_setting(db, "a", 1)
            raise RuntimeError("boom")
    assert get_setting(db, "a") is None


def test_nested_transaction_rolls_back_inner_only(tmp_path):
    db = Database(tmp_path / "f.db")
    with db.transaction():
        set_setting(db, "outer", 1)
        with pytest.raises(ValueError):
            with db.transaction():
                set_setting(db, "inner", 2)
                raise ValueError
    assert get_setting(db, "outer") == 1
    assert get_setting(db, "inner") is None


def test_database_from_newer_version_is_refused(tmp_path):
    path = tmp_path / "f.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer Fireside"):
        Database(path)


def test_damaged_file_gives_a_clear_message(tmp_path):
    path = tmp_path / "f.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="damaged"):
        Database(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_read_only_database_gives_a_clear_message(tmp_path):
    path = tmp_path / "f.db"
    Database(path).close()
    for name in os.listdir(tmp_path):
        os.chmod(tmp_path / name, 0o444)
    os.chmod(tmp_path, 0o555)
    try:
        db = Database(path)
        with pytest.raises(StoreError):
            set_setting(db, "x", 1)
    finally:
        os.chmod(tmp_path, 0o755)


def test_locked_database_gives_a_clear_message(tmp_path):
    path = tmp_path / "f.db"
    db = Database(path)
    other = sqlite3.connect(path, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    try:
        db.conn.execute("PRAGMA busy_timeout=100")
        with pytest.raises(StoreError, match="locked"):
            set_setting(db, "x", 1)
    finally:
        other.rollback()
        other.close()
