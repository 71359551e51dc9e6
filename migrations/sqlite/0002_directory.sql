-- The provider directory, case details and satisfaction answers.
CREATE TABLE providers (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    region_code TEXT NOT NULL,
    name        TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX providers_region ON providers (region_code);

CREATE TABLE counselors (
    id          TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    channels    TEXT NOT NULL
);
CREATE INDEX counselors_provider ON counselors (provider_id);

ALTER TABLE cases ADD COLUMN region_code TEXT;
ALTER TABLE cases ADD COLUMN provider_id TEXT;
ALTER TABLE cases ADD COLUMN fields TEXT;

CREATE TABLE survey_responses (
    id              TEXT PRIMARY KEY,
    provider_id     TEXT,
    case_code       TEXT,
    rating          INTEGER,
    comment         TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX survey_responses_provider ON survey_responses (provider_id, created_at);
