-- Settings the app keeps between runs (window geometry, last page, chosen models).
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
