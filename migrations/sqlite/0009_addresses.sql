-- Addresses at rest: `contact_key` now holds a keyed hash of the address (lookups and
-- uniqueness), and `contact_sealed` the address itself, sealed, where Teduh must send to it.
ALTER TABLE conversations ADD COLUMN contact_sealed TEXT;
ALTER TABLE inbound ADD COLUMN contact_sealed TEXT;
ALTER TABLE outbox ADD COLUMN contact_sealed TEXT;
-- The outbox is read by address (a chat's order, who spoke last, forgetting her).
CREATE INDEX outbox_contact ON outbox (channel, contact_key, id);
