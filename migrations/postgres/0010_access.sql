-- People who use the HTTP API, with their API token as an argon2 hash, and the audit log of what
-- they read and changed. Audit rows are only ever appended.
CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    provider_id  TEXT,
    counselor_id TEXT,
    token_id     TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT,
    outcome TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
