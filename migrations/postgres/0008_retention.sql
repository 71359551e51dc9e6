-- Retention: old messages and idle conversations are purged, and closed cases lose their free
-- text after a while (text_purged_at marks the ones done).
ALTER TABLE cases ADD COLUMN text_purged_at BIGINT;
CREATE INDEX inbound_received ON inbound (received_at);
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX conversations_updated ON conversations (updated_at);
CREATE INDEX attachments_received ON attachments (received_at);
