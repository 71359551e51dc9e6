-- The dispatcher claims one lane at a time over the rows due now, soonest first: a range of
-- this index, so rows in flight (leased into the future) or waiting to retry are never walked.
CREATE INDEX outbox_lane_due ON outbox (lane, next_attempt_at, id) WHERE status IN ('queued', 'sending');
