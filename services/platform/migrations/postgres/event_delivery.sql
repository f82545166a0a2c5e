-- Delivery of the outbox (state, attempts, backoff, parking) and the inbox
-- of events applied here, so each is applied once.
ALTER TABLE outbox
    ADD COLUMN state TEXT NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DELIVERED', 'PARKED')),
    ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN next_attempt_at TIMESTAMPTZ,
    ADD COLUMN last_error TEXT NOT NULL DEFAULT '',
    ADD COLUMN delivered_at TIMESTAMPTZ,
    ADD COLUMN parked_at TIMESTAMPTZ;
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE state <> 'DELIVERED';
CREATE INDEX outbox_subject ON outbox (subject, seq);

CREATE TABLE inbox (
    event_id   TEXT        PRIMARY KEY,
    producer   TEXT        NOT NULL,
    event_type TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);
