-- Console logins: a user may also have a password (argon2id hash), and signing in gives a
-- session token that expires; only the SHA-256 of a session token is stored.
ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX notifications_case ON notifications (case_id, step_seq);
