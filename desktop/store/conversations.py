"""Conversations and their messages (tables in schema/chat.sql). Plain functions taking `db`.

Every change is committed when the function returns: a user message is safe the moment it is
sent, and a streaming reply is saved as it grows. Messages form a tree so that regenerated replies
and edited questions keep the old versions as alternatives; see schema/chat.sql.
"""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from datetime import datetime, timezone

from desktop.store.db import Database

NEW_TITLE = "New conversation"
TITLE_LENGTH = 60
REPLY_STATUSES = ("complete", "streaming", "stopped", "error", "interrupted")
_MESSAGE_COLUMNS = ("id, conversation_id, parent_id, role, content, status, active, rating, ideal_content, "
                    "model, stats_json, created, updated")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# -- conversations ---------------------------------------------------------------------------
def _conversation_dict(row) -> dict:
    data = dict(row)
    try:
        data["settings"] = json.loads(data.get("settings_json") or "{}")
    except json.JSONDecodeError:
        data["settings"] = {}
    return data


def create_conversation(db: Database, title: str | None = None, system_prompt: str = "",
                        model: str | None = None, settings: dict | None = None) -> int:
    stamp = now()
    cursor = db.execute(
        "INSERT INTO conversations(title, system_prompt, model, settings_json, created, updated) VALUES (?,?,?,?,?,?)",
        (title or NEW_TITLE, system_prompt or "", model, json.dumps(settings or {}), stamp, stamp),
    )
    return cursor.lastrowid


def get_conversation(db: Database, conversation_id: int) -> dict | None:
    row = db.one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
    return _conversation_dict(row) if row else None


def list_conversations(db: Database) -> list[dict]:
    """Every conversation, most recently changed first: id, title, updated, created, model."""
    rows = db.query("SELECT id, title, updated, created, model FROM conversations ORDER BY updated DESC, id DESC")
    return [dict(row) for row in rows]


def rename_conversation(db: Database, conversation_id: int, title: str) -> None:
    title = " ".join(title.split())
    if not title:
        raise ValueError("a conversation needs a title")
    db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))


def delete_conversation(db: Database, conversation_id: int) -> None:
    db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))


def update_conversation(db: Database, conversation_id: int, *, system_prompt: str | None = None,
                        model: str | None = None, settings: dict | None = None) -> None:
    changes, params = [], []
    for column, value in (("system_prompt", system_prompt), ("model", model),
                          ("settings_json", None if settings is None else json.dumps(settings))):
        if value is not None:
            changes.append(f"{column} = ?")
            params.append(value)
    if changes:
        db.execute(f"UPDATE conversations SET {', '.join(changes)} WHERE id = ?", (*params, conversation_id))


def _touch(db: Database, conversation_id: int, stamp: str) -> None:
    db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (stamp, conversation_id))


def title_from(text: str) -> str:
    line = " ".join(text.strip().split())
    if len(line) > TITLE_LENGTH:
        line = line[: TITLE_LENGTH - 1].rstrip() + "…"
    return line or NEW_TITLE


# -- the tree of messages --------------------------------------------------------------------
def _rows(db: Database, conversation_id: int) -> list[dict]:
    rows = db.query(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                    (conversation_id,))
    return [_message_dict(row) for row in rows]


def _message_dict(row) -> dict:
    data = dict(row)
    stats = data.pop("stats_json", None)
    data["stats"] = json.loads(stats) if stats else None
    data["active"] = bool(data["active"])
    return data


def _chain(rows: list[dict]) -> list[dict]:
    """The active path from the root down, notices left out."""
    children = defaultdict(list)
    for row in rows:
        if row["role"] != "notice":
            children[row["parent_id"]].append(row)
    chain, parent = [], None
    while children.get(parent):
        siblings = children[parent]
        chosen = next((m for m in siblings if m["active"]), siblings[-1])
        chain.append(chosen)
        parent = chosen["id"]
    return chain


def get_message(db: Database, message_id: int) -> dict | None:
    row = db.one(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
    return _message_dict(row) if row else None


def active_messages(db: Database, conversation_id: int) -> list[dict]:
    """The conversation as currently shown, in order: the system prompt first (id None) when there
    is one, then the active branch. Each dict has id, role, content, status, rating, ideal_content,
    model, stats, parent_id, created. Notices are not included."""
    conversation = get_conversation(db, conversation_id)
    if conversation is None:
        return []
    chain = _chain(_rows(db, conversation_id))
    if conversation["system_prompt"]:
        system = {"id": None, "role": "system", "content": conversation["system_prompt"], "status": "complete",
                  "rating": 0, "ideal_content": None, "model": None, "stats": None, "parent_id": None,
                  "created": conversation["created"]}
        return [system] + chain
    return chain


def transcript(db: Database, conversation_id: int) -> list[dict]:
    """The active branch for display: each message with `notices` (texts about it) and
    `alternative` / `alternatives` (its 1-based place among its siblings, and their number)."""
    rows = _rows(db, conversation_id)
    notices = defaultdict(list)
    siblings = defaultdict(list)
    for row in rows:
        if row["role"] == "notice":
            notices[row["parent_id"]].append(row["content"])
        else:
            siblings[row["parent_id"]].append(row["id"])
    chain = _chain(rows)
    for message in chain:
        group = siblings[message["parent_id"]]
        message["notices"] = notices.get(message["id"], [])
        message["alternative"] = group.index(message["id"]) + 1
        message["alternatives"] = len(group)
    return chain


def prompt_messages(db: Database, conversation_id: int, reply_id: int) -> list[dict]:
    """What the model reads to write reply `reply_id`: the system prompt and the shown branch before
    the reply as {"role", "content"}, leaving out empty and failed replies."""
    messages = []
    for m in active_messages(db, conversation_id):
        if m["id"] == reply_id:
            break
        if m["content"].strip() and m["status"] != "error":
            messages.append({"role": m["role"], "content": m["content"]})
    return messages


def _last_active_id(db: Database, conversation_id: int) -> int | None:
    chain = _chain(_rows(db, conversation_id))
    return chain[-1]["id"] if chain else None


def _insert_child(db: Database, conversation_id: int, parent_id: int | None, role: str, content: str,
                  status: str = "complete", model: str | None = None, writer_pid: int | None = None) -> int:
    """Add a message under `parent_id`, making it the active one of its siblings."""
    stamp = now()
    with db.transaction():
        db.execute("UPDATE messages SET active = 0 WHERE conversation_id = ? AND parent_id IS ? AND role != 'notice'",
                   (conversation_id, parent_id))
        cursor = db.execute(
            "INSERT INTO messages(conversation_id, parent_id, role, content, status, active, model, writer_pid, "
            "created, updated) VALUES (?,?,?,?,?,1,?,?,?,?)",
            (conversation_id, parent_id, role, content, status, model, writer_pid, stamp, stamp),
        )
        _touch(db, conversation_id, stamp)
    return cursor.lastrowid


def add_user_message(db: Database, conversation_id: int, content: str) -> int:
    """Append a user message to the end of the active branch (titling a new conversation after it)."""
    if not content.strip():
        raise ValueError("an empty message is not sent")
    with db.transaction():
        message_id = _insert_child(db, conversation_id, _last_active_id(db, conversation_id), "user", content)
        db.execute("UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                   (title_from(content), conversation_id, NEW_TITLE))
    return message_id


def add_message(db: Database, conversation_id: int, role: str, content: str, status: str = "complete",
                model: str | None = None) -> int:
    """Append any message to the end of the active branch (used by import)."""
    return _insert_child(db, conversation_id, _last_active_id(db, conversation_id), role, content, status, model)


def edit_user_message(db: Database, message_id: int, content: str) -> int:
    """A new version of a user message beside the old one; the old one and its replies stay as an
    alternative. Returns the new message's id (answer it with `start_reply`)."""
    if not content.strip():
        raise ValueError("an empty message is not sent")
    old = get_message(db, message_id)
    if old is None or old["role"] != "user":
        raise ValueError("only your own messages can be edited")
    return _insert_child(db, old["conversation_id"], old["parent_id"], "user", content)


def start_reply(db: Database, conversation_id: int, parent_id: int, model: str | None) -> int:
    """An empty assistant reply under `parent_id` with status 'streaming', committed at once.
    A reply beside earlier ones (regenerate) becomes the active alternative."""
    return _insert_child(db, conversation_id, parent_id, "assistant", "", "streaming", model, os.getpid())


def save_partial(db: Database, message_id: int, content: str) -> None:
    db.execute("UPDATE messages SET content = ?, updated = ? WHERE id = ? AND status = 'streaming'",
               (content, now(), message_id))


def finish_reply(db: Database, message_id: int, content: str, status: str, stats: dict | None = None) -> None:
    if status not in REPLY_STATUSES or status == "streaming":
        raise ValueError(f"a finished reply cannot have status {status!r}")
    stamp = now()
    with db.transaction():
        db.execute("UPDATE messages SET content = ?, status = ?, stats_json = ?, writer_pid = NULL, updated = ? "
                   "WHERE id = ?", (content, status, json.dumps(stats) if stats else None, stamp, message_id))
        db.execute("UPDATE conversations SET updated = ? WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)",
                   (stamp, message_id))


def add_notice(db: Database, message_id: int, text: str) -> int:
    """A note shown with message `message_id` (context trimmed, model failed to load)."""
    stamp = now()
    cursor = db.execute(
        "INSERT INTO messages(conversation_id, parent_id, role, content, status, active, created, updated) "
        "SELECT conversation_id, id, 'notice', ?, 'complete', 0, ?, ? FROM messages WHERE id = ?",
        (text, stamp, stamp, message_id),
    )
    return cursor.lastrowid


def sibling_ids(db: Database, message_id: int) -> list[int]:
    """Ids of the alternatives of a message (itself included), oldest first."""
    rows = db.query(
        "SELECT s.id FROM messages m JOIN messages s ON s.conversation_id = m.conversation_id "
        "AND s.parent_id IS m.parent_id AND s.role != 'notice' WHERE m.id = ? ORDER BY s.id", (message_id,))
    return [row["id"] for row in rows]


def select_alternative(db: Database, message_id: int) -> None:
    """Show `message_id` (and the active branch under it) instead of its siblings."""
    message = get_message(db, message_id)
    if message is None:
        return
    db.execute("UPDATE messages SET active = (id = ?) WHERE conversation_id = ? AND parent_id IS ? AND role != 'notice'",
               (message_id, message["conversation_id"], message["parent_id"]))


def set_rating(db: Database, message_id: int, rating: int) -> None:
    if rating not in (-1, 0, 1):
        raise ValueError("a rating is -1, 0 or 1")
    db.execute("UPDATE messages SET rating = ? WHERE id = ? AND role = 'assistant'", (rating, message_id))


def set_ideal_content(db: Database, message_id: int, text: str | None) -> None:
    """The answer the user would have wanted instead (None or blank clears it)."""
    value = text if text and text.strip() else None
    db.execute("UPDATE messages SET ideal_content = ? WHERE id = ? AND role = 'assistant'", (value, message_id))


# -- search and recovery ---------------------------------------------------------------------
def fts_query(text: str) -> str:
    """The user's words as an FTS5 query: every word must occur, each as a prefix."""
    words = re.findall(r"\w+", text, flags=re.UNICODE)
    return " ".join(f'"{word}"*' for word in words)


def search_conversations(db: Database, text: str, limit: int = 200) -> list[dict]:
    """Conversations whose messages (or title) contain every word of `text`, most recent first,
    each with a `snippet` of the best matching message ([brackets] around the hits)."""
    query = fts_query(text)
    if not query:
        return [dict(c, snippet="") for c in list_conversations(db)]
    rows = db.query(
        "SELECT m.conversation_id AS id, snippet(messages_fts, 0, '[', ']', '…', 12) AS snippet, "
        "bm25(messages_fts) AS score FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
        "WHERE messages_fts MATCH ? ORDER BY score LIMIT ?", (query, limit * 5))
    snippets: dict[int, str] = {}
    for row in rows:
        snippets.setdefault(row["id"], row["snippet"])
    words = [w.lower() for w in re.findall(r"\w+", text)]
    found = []
    for conversation in list_conversations(db):
        title = conversation["title"].lower()
        if conversation["id"] in snippets or all(w in title for w in words):
            found.append(dict(conversation, snippet=snippets.get(conversation["id"], "")))
    return found[:limit]


def _writer_alive(pid: int | None, created: str) -> bool:
    if not pid:
        return False
    import psutil

    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    # A process younger than the reply reuses the pid of the one that died.
    return started <= datetime.fromisoformat(created).timestamp() + 1


def recover_interrupted(db: Database) -> int:
    """Replies left 'streaming' by a process that is gone become 'interrupted', text kept."""
    rows = db.query("SELECT id, writer_pid, created FROM messages WHERE status = 'streaming'")
    dead = [row["id"] for row in rows if not _writer_alive(row["writer_pid"], row["created"])]
    with db.transaction():
        for message_id in dead:
            db.execute("UPDATE messages SET status = 'interrupted', writer_pid = NULL WHERE id = ?", (message_id,))
    return len(dead)
