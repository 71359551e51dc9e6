-- Per-sender flood limits count a sender's recent messages; limited ones are kept, not stepped.
CREATE INDEX inbound_sender ON inbound (channel, contact_key, received_at);
ALTER TABLE inbound ADD COLUMN limited BOOLEAN NOT NULL DEFAULT FALSE;
