-- Tables of the datasets feature.
-- A dataset is a named list of rows of one kind: 'chat' (messages) or 'classification' (text, label).
CREATE TABLE IF NOT EXISTS datasets (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('chat', 'classification')),
    description TEXT NOT NULL DEFAULT '',
    source      TEXT,                      -- where the first rows came from (a file, a conversation...)
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL
);

-- One row of a dataset. payload is the row as JSON ({"messages": [...]} or {"text", "label"});
-- text is the row flattened for search and display; label is copied out for statistics and splits.
CREATE TABLE IF NOT EXISTS dataset_rows (
    id         INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    payload    TEXT NOT NULL,
    text       TEXT NOT NULL,
    label      TEXT,
    split      TEXT CHECK (split IN ('train', 'validation'))
);
CREATE INDEX IF NOT EXISTS dataset_rows_by_dataset ON dataset_rows(dataset_id, id);
CREATE INDEX IF NOT EXISTS dataset_rows_by_label ON dataset_rows(dataset_id, label);

-- A frozen version of a dataset: the sha256 of its canonical JSON Lines, written when a model is
-- trained on it (or when the user freezes one). Jobs name the same hash in jobs.snapshot_hash.
CREATE TABLE IF NOT EXISTS dataset_versions (
    id            INTEGER PRIMARY KEY,
    dataset_id    INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    snapshot_hash TEXT NOT NULL,
    row_count     INTEGER NOT NULL,
    path          TEXT,
    note          TEXT NOT NULL DEFAULT '',
    created       TEXT NOT NULL,
    UNIQUE (dataset_id, snapshot_hash)
);
