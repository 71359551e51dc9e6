-- The inbox's two questions are about messages still waiting: which are next (by id) and
-- whether a sender has an older one. Indexes over the waiting rows only stay a few pages, hot
-- and shared by every commit, where indexes over every message ever received put one more
-- page per message into each commit, and the older-message check walked her whole history.
DROP INDEX IF EXISTS inbound_conversation;
DROP INDEX IF EXISTS inbound_pending;
CREATE INDEX inbound_waiting ON inbound (id) WHERE processed_at IS NULL;
CREATE INDEX inbound_waiting_sender ON inbound (channel, contact_key, id) WHERE processed_at IS NULL;
