-- Assignments, progress towards completion, scores, certificates, the outbox.

-- Who must complete what, by when: one assignment per learner and programme.
CREATE TABLE assignments (
    assignment_id TEXT        PRIMARY KEY,
    learner_id    TEXT        NOT NULL,
    program_id    TEXT        NOT NULL REFERENCES programs (program_id),
    source        TEXT        NOT NULL CHECK (source IN ('MANUAL', 'REP_HIRED', 'CUSTOMER_ACTIVATED')),
    city          TEXT        NOT NULL DEFAULT '',
    account_id    TEXT,
    assigned_at   TIMESTAMPTZ NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ,
    CONSTRAINT assignments_one_per_learner UNIQUE (learner_id, program_id)
);
CREATE INDEX assignments_program_due ON assignments (program_id, due_at);

-- One row per learner and programme: the lock point of completion, so
-- concurrent scores and attendance make exactly one certificate.
CREATE TABLE progress (
    learner_id     TEXT        NOT NULL,
    program_id     TEXT        NOT NULL REFERENCES programs (program_id),
    attended_at    TIMESTAMPTZ,
    completed_at   TIMESTAMPTZ,
    certificate_id TEXT,
    PRIMARY KEY (learner_id, program_id)
);

-- The latest score per track.
CREATE TABLE scores (
    learner_id  TEXT        NOT NULL,
    program_id  TEXT        NOT NULL,
    track       TEXT        NOT NULL,
    score       INTEGER     NOT NULL CHECK (score BETWEEN 0 AND 100),
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (learner_id, program_id, track)
);

CREATE TABLE certificates (
    certificate_id TEXT        PRIMARY KEY,
    learner_id     TEXT        NOT NULL,
    program_id     TEXT        NOT NULL REFERENCES programs (program_id),
    issued_at      TIMESTAMPTZ NOT NULL,
    valid_until    TIMESTAMPTZ,
    scores         TEXT        NOT NULL
);
CREATE INDEX certificates_learner ON certificates (learner_id, program_id, issued_at);

CREATE TABLE outbox (
    seq        BIGSERIAL   PRIMARY KEY,
    event_id   TEXT        NOT NULL UNIQUE,
    subject    TEXT        NOT NULL,
    event_type TEXT        NOT NULL,
    payload    BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
