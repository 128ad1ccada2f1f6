-- Tables of the classify feature.
-- A classifier is a named set of labels and the way it decides: 'zero-shot' (label names and
-- descriptions), 'few-shot' (logistic regression on its examples) or 'fine-tuned' (a registry model).
CREATE TABLE IF NOT EXISTS classifiers (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    method           TEXT NOT NULL DEFAULT 'zero-shot' CHECK (method IN ('zero-shot', 'few-shot', 'fine-tuned')),
    encoder          TEXT,      -- encoder of zero- and few-shot; NULL: the default encoder
    model            TEXT,      -- the registry classifier used when method = 'fine-tuned'
    accuracy         REAL,      -- few-shot: cross-validated accuracy at the last training
    accuracy_folds   INTEGER,
    trained_examples INTEGER,
    trained          TEXT,
    created          TEXT NOT NULL,
    updated          TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS classifier_labels (
    id            INTEGER PRIMARY KEY,
    classifier_id INTEGER NOT NULL REFERENCES classifiers(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    position      INTEGER NOT NULL,
    UNIQUE (classifier_id, name)
);

-- A document is a file, or one row of a CSV/TSV file (row_key = its id), with the text read from it.
CREATE TABLE IF NOT EXISTS classify_documents (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    row_key    TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL,
    format     TEXT,
    text       TEXT,
    size_bytes INTEGER,
    error      TEXT,
    added      TEXT NOT NULL,
    UNIQUE (source, row_key)
);

CREATE TABLE IF NOT EXISTS classify_results (
    id              INTEGER PRIMARY KEY,
    classifier_id   INTEGER NOT NULL REFERENCES classifiers(id) ON DELETE CASCADE,
    document_id     INTEGER NOT NULL REFERENCES classify_documents(id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('done', 'error')),
    label           TEXT,
    score           REAL,
    scores_json     TEXT,
    runner_up       TEXT,
    runner_up_score REAL,
    evidence_start  INTEGER,
    evidence_end    INTEGER,
    windows         INTEGER,
    method          TEXT,
    error           TEXT,
    corrected_label TEXT,
    updated         TEXT NOT NULL,
    UNIQUE (classifier_id, document_id)
);
CREATE INDEX IF NOT EXISTS classify_results_classifier ON classify_results(classifier_id);

-- Labelled texts a classifier learns from: the user's corrections and examples added by hand.
CREATE TABLE IF NOT EXISTS classify_examples (
    id            INTEGER PRIMARY KEY,
    classifier_id INTEGER NOT NULL REFERENCES classifiers(id) ON DELETE CASCADE,
    text          TEXT NOT NULL,
    label         TEXT NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('correction', 'example')),
    document_id   INTEGER REFERENCES classify_documents(id) ON DELETE SET NULL,
    created       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS classify_examples_classifier ON classify_examples(classifier_id);
CREATE UNIQUE INDEX IF NOT EXISTS classify_examples_document
    ON classify_examples(classifier_id, document_id) WHERE document_id IS NOT NULL;
