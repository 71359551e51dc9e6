-- The relay conversation of a case (what the survivor and her counselor said to each other
-- through Teduh), sealed at rest, for the counselors and supervisors of the case's provider.
-- Deleted when she asks to be forgotten; emptied with the case's other free text by retention.
CREATE TABLE case_messages (
    id      BIGSERIAL PRIMARY KEY,
    case_id TEXT NOT NULL,
    at      BIGINT NOT NULL,
    sender  TEXT NOT NULL,
    author  TEXT,
    body    TEXT
);
CREATE INDEX case_messages_case ON case_messages (case_id, id);
