-- The dispatcher's claim walks the rows still to send in lane and id order and stops after a
-- batch (without this index it sorted every waiting row on each claim), and asks of each
-- whether its chat has an earlier row still to send (answered from the second index alone).
CREATE INDEX outbox_waiting ON outbox (lane, id) WHERE status IN ('queued', 'sending');
CREATE INDEX outbox_chat_waiting ON outbox (channel, contact_key, id) WHERE status IN ('queued', 'sending');
