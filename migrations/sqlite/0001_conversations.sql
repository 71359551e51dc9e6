-- Conversations, their flow timers and the cases opened from them (embedded SQLite).
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    contact_key TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (channel, contact_key)
);

CREATE TABLE flow_timers (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    due_at          INTEGER NOT NULL
);
CREATE INDEX flow_timers_due ON flow_timers (due_at);

CREATE TABLE cases (
    id              TEXT PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    conversation_id TEXT REFERENCES conversations (id) ON DELETE SET NULL,
    priority        TEXT NOT NULL,
    category        TEXT,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX cases_conversation ON cases (conversation_id);

CREATE TABLE case_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX case_events_case ON case_events (case_id);
