-- On-call rosters: one row per shift, the shift itself as JSON.
CREATE TABLE roster_shifts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id  TEXT NOT NULL,
    counselor_id TEXT NOT NULL,
    role         TEXT NOT NULL,
    data         TEXT NOT NULL
);
CREATE INDEX roster_shifts_provider ON roster_shifts (provider_id);
