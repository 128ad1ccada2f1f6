-- Tables of the chat feature.
--
-- Messages form a tree: each message's parent is the message it answers or follows (NULL for the
-- first one). Regenerating a reply or editing a user message adds a sibling under the same parent;
-- exactly one sibling of each group is `active`, and the active children from the root down make
-- the conversation as shown. Notices (context trimmed, a model failed to load) hang under the
-- reply they are about and are never part of that chain.
CREATE TABLE IF NOT EXISTS conversations (
    id            INTEGER PRIMARY KEY,
    title         TEXT NOT NULL DEFAULT 'New conversation',
    system_prompt TEXT NOT NULL DEFAULT '',
    model         TEXT,
    settings_json TEXT NOT NULL DEFAULT '{}',
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated);

CREATE TABLE IF NOT EXISTS messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id       INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'notice')),
    content         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'streaming', 'stopped', 'error', 'interrupted')),
    active          INTEGER NOT NULL DEFAULT 1,
    rating          INTEGER NOT NULL DEFAULT 0 CHECK (rating IN (-1, 0, 1)),
    ideal_content   TEXT,
    model           TEXT,
    stats_json      TEXT,
    writer_pid      INTEGER,  -- the process streaming this reply, to tell a live stream from a crashed one
    created         TEXT NOT NULL,
    updated         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, parent_id);
CREATE INDEX IF NOT EXISTS messages_streaming ON messages(status) WHERE status = 'streaming';

-- Full-text search over every message, kept in step with `messages` by triggers.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    content, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
