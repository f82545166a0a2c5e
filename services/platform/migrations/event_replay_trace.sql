-- The W3C traceparent of the ReplayParkedEvents call that last put an event
-- back in line ('' when none): the delivery after a replay links to it.
ALTER TABLE outbox ADD COLUMN replayed_by TEXT NOT NULL DEFAULT '';
