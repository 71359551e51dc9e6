-- Inbound messages (stored before a webhook answers), the outbox, and per-contact channel state.
CREATE TABLE inbound (
    id           BIGSERIAL PRIMARY KEY,
    channel      TEXT NOT NULL,
    provider_id  TEXT,
    contact_key  TEXT NOT NULL,
    lang_hint    TEXT,
    payload      TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    processed_at BIGINT,
    UNIQUE (channel, provider_id)
);
CREATE INDEX inbound_pending ON inbound (processed_at, id);

CREATE TABLE outbox (
    id                  BIGSERIAL PRIMARY KEY,
    channel             TEXT NOT NULL,
    contact_key         TEXT NOT NULL,
    conversation_id     TEXT,
    lane                BIGINT NOT NULL,
    payload             TEXT NOT NULL,
    status              TEXT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT NOT NULL,
    provider_message_id TEXT,
    error               TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_provider_message ON outbox (channel, provider_message_id);

CREATE TABLE channel_contacts (
    channel         TEXT NOT NULL,
    contact_key     TEXT NOT NULL,
    last_inbound_at BIGINT,
    opted_out_at    BIGINT,
    PRIMARY KEY (channel, contact_key)
);

CREATE TABLE attachments (
    id              BIGSERIAL PRIMARY KEY,
    conversation_id TEXT,
    channel         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    reference       TEXT NOT NULL,
    received_at     BIGINT NOT NULL
);
