-- Tables of the api feature.
-- Conversations that came in through the local API, kept only when the user turns recording on
-- (off by default): the messages or prompt sent, the sampling settings, and the reply.
CREATE TABLE IF NOT EXISTS api_exchanges (
    id                INTEGER PRIMARY KEY,
    created           TEXT NOT NULL,
    endpoint          TEXT NOT NULL,            -- 'chat.completions' | 'completions'
    model             TEXT NOT NULL,
    messages_json     TEXT NOT NULL,            -- [{"role", "content"}, ...]; a prompt is one user message
    settings_json     TEXT NOT NULL,
    reply             TEXT NOT NULL,
    finish_reason     TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS api_exchanges_created ON api_exchanges(created);
