-- Several instances share the inbox: a conversation's oldest unprocessed message is leased to
-- one instance while it steps it, so a conversation moves in order and on one instance at a time.
ALTER TABLE inbound ADD COLUMN claimed_until INTEGER;
CREATE INDEX inbound_conversation ON inbound (channel, contact_key, id);
