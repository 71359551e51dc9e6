-- Every index on the outbox is written again each time a row is claimed and each time it is
-- sent. These two are covered by outbox_lane_due (the claim and the next due time walk it
-- lane by lane) and outbox_chat_waiting (what is still waiting).
DROP INDEX IF EXISTS outbox_due;
DROP INDEX IF EXISTS outbox_waiting;
