-- Escalation chains (one per case, resumable after a restart) and the notifications they sent.
CREATE TABLE escalations (
    case_id    TEXT PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
    policy     TEXT NOT NULL,
    chain      TEXT,
    status     TEXT NOT NULL,
    wake_seq   INTEGER,
    due_at     INTEGER,
    -- Bumped by every write: a step commits only over the version it read, so two workers
    -- (or a timeout racing an acceptance) can never both advance the same chain.
    version    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX escalations_due ON escalations (due_at);

CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    counselor_id TEXT NOT NULL,
    step_seq     INTEGER NOT NULL,
    code         TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX notifications_code ON notifications (code);
CREATE INDEX notifications_counselor ON notifications (counselor_id, id);
