-- Assignments, progress towards completion, scores, certificates, the outbox.

-- Who must complete what, by when: one assignment per learner and programme.
CREATE TABLE assignments (
    assignment_id TEXT        PRIMARY KEY,
    learner_id    TEXT        NOT NULL,
    program_id    TEXT        NOT NULL REFERENCES programs (program_id),
    source        TEXT        NOT NULL CHECK (source IN ('MANUAL', 'REP_HIRED', 'CUSTOMER_ACTIVATED')),
    city          TEXT        NOT NULL DEFAULT '',
    account_id    TEXT,
    assigned_at   TEXT NOT NULL,
    due_at        TEXT NOT NULL,
    completed_at  TEXT,
    CONSTRAINT assignments_one_per_learner UNIQUE (learner_id, program_id)
) STRICT;
CREATE INDEX assignments_program_due ON assignments (program_id, due_at);

-- One row per learner and programme: the lock point of completion, so
-- concurrent scores and attendance make exactly one certificate.
CREATE TABLE progress (
    learner_id     TEXT        NOT NULL,
    program_id     TEXT        NOT NULL REFERENCES programs (program_id),
    attended_at    TEXT,
    completed_at   TEXT,
    certificate_id TEXT,
    PRIMARY KEY (learner_id, program_id)
) STRICT;

-- The latest score per track.
CREATE TABLE scores (
    learner_id  TEXT        NOT NULL,
    program_id  TEXT        NOT NULL,
    track       TEXT        NOT NULL,
    score       INTEGER     NOT NULL CHECK (score BETWEEN 0 AND 100),
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (learner_id, program_id, track)
) STRICT;

CREATE TABLE certificates (
    certificate_id TEXT        PRIMARY KEY,
    learner_id     TEXT        NOT NULL,
    program_id     TEXT        NOT NULL REFERENCES programs (program_id),
    issued_at      TEXT NOT NULL,
    valid_until    TEXT,
    scores         TEXT        NOT NULL
) STRICT;
CREATE INDEX certificates_learner ON certificates (learner_id, program_id, issued_at);

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT        NOT NULL UNIQUE,
    subject    TEXT        NOT NULL,
    event_type TEXT        NOT NULL,
    payload    BLOB       NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
