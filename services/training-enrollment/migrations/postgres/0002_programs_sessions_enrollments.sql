-- Programmes, courses, sessions with seats, enrollments with a FIFO waitlist.

CREATE TABLE programs (
    program_id          TEXT        PRIMARY KEY,
    name                TEXT        NOT NULL,
    audience            TEXT        NOT NULL CHECK (audience IN ('EMPLOYEE', 'CUSTOMER')),
    mandatory           BOOLEAN     NOT NULL,
    tracks              TEXT        NOT NULL,
    passing_score       INTEGER     NOT NULL CHECK (passing_score BETWEEN 0 AND 100),
    due_within_days     INTEGER     NOT NULL CHECK (due_within_days BETWEEN 1 AND 3650),
    validity_days       INTEGER     NOT NULL CHECK (validity_days BETWEEN 0 AND 36500),
    course_ids          TEXT        NOT NULL,
    employee_onboarding BOOLEAN     NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL
);
-- At most one employee onboarding programme: its completion activates a rep.
CREATE UNIQUE INDEX programs_one_employee_onboarding ON programs (employee_onboarding) WHERE employee_onboarding;

CREATE TABLE courses (
    course_id     TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    track         TEXT    NOT NULL,
    prerequisites TEXT    NOT NULL,
    hours         INTEGER NOT NULL CHECK (hours BETWEEN 1 AND 1000)
);

CREATE TABLE sessions (
    session_id            TEXT        PRIMARY KEY,
    program_id            TEXT        REFERENCES programs (program_id),
    course_id             TEXT        REFERENCES courses (course_id),
    city                  TEXT        NOT NULL,
    venue                 TEXT        NOT NULL,
    time_zone             TEXT        NOT NULL,
    starts_at             TIMESTAMPTZ NOT NULL,
    ends_at               TIMESTAMPTZ NOT NULL,
    capacity              INTEGER     NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    -- Seats never exceed capacity, whatever the interleaving.
    seats_taken           INTEGER     NOT NULL DEFAULT 0,
    waitlist_next         INTEGER     NOT NULL DEFAULT 0,
    enrollment_deadline   TIMESTAMPTZ NOT NULL,
    cancellation_deadline TIMESTAMPTZ NOT NULL,
    status                TEXT        NOT NULL CHECK (status IN ('SCHEDULED', 'CANCELLED', 'COMPLETED')),
    created_at            TIMESTAMPTZ NOT NULL,
    CONSTRAINT sessions_seats_within_capacity CHECK (seats_taken BETWEEN 0 AND capacity),
    CONSTRAINT sessions_teaches_one_thing CHECK ((program_id IS NULL) <> (course_id IS NULL)),
    CONSTRAINT sessions_ends_after_start CHECK (ends_at > starts_at)
);
CREATE INDEX sessions_city_start ON sessions (city, starts_at);
CREATE INDEX sessions_program_start ON sessions (program_id, starts_at);

CREATE TABLE enrollments (
    enrollment_id  TEXT        PRIMARY KEY,
    session_id     TEXT        NOT NULL REFERENCES sessions (session_id),
    learner_id     TEXT        NOT NULL,
    status         TEXT        NOT NULL CHECK (status IN ('ENROLLED', 'WAITLISTED', 'CANCELLED', 'ATTENDED', 'NO_SHOW')),
    -- FIFO: a per-session counter, so positions are contiguous and never reused.
    waitlist_seq   INTEGER,
    created_at     TIMESTAMPTZ NOT NULL,
    promoted_at    TIMESTAMPTZ,
    cancel_reason  TEXT        NOT NULL DEFAULT '',
    updated_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT enrollments_waitlist_has_seq CHECK ((status = 'WAITLISTED') <= (waitlist_seq IS NOT NULL))
);
-- One active enrollment per learner per session.
CREATE UNIQUE INDEX enrollments_one_active ON enrollments (session_id, learner_id) WHERE status IN ('ENROLLED', 'WAITLISTED');
CREATE INDEX enrollments_waitlist ON enrollments (session_id, waitlist_seq) WHERE status = 'WAITLISTED';
CREATE INDEX enrollments_learner ON enrollments (learner_id);
