-- Tables of the jobs feature (fine-tuning). One row per job; its folder holds the rest.
CREATE TABLE IF NOT EXISTS jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,               -- recipe: 'classifier' | 'chat' | 'pretrain'
    status        TEXT NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'completed', 'stopped', 'failed', 'interrupted')),
    base_model    TEXT,
    dataset_id    INTEGER,
    snapshot_hash TEXT,
    model_name    TEXT,                        -- the registry name of the result (planned, then final)
    config_json   TEXT NOT NULL DEFAULT '{}',
    metrics_json  TEXT NOT NULL DEFAULT '{}',
    message       TEXT,                        -- the last done/failure message, in words
    pid           INTEGER,
    job_dir       TEXT NOT NULL,
    created       TEXT NOT NULL,
    started       TEXT,
    finished      TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created);
CREATE INDEX IF NOT EXISTS jobs_dataset ON jobs(dataset_id);
