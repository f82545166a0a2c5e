-- Distribution, assignments, follow-ups, cooldowns, the private pool cap,
-- rep events and single-leader jobs.

-- The private pool is capped by the database, whatever the interleaving.
ALTER TABLE reps ADD COLUMN private_count INTEGER NOT NULL DEFAULT 0
    CONSTRAINT reps_private_pool_cap CHECK (private_count BETWEEN 0 AND 30);

-- The deadline a warning was last sent for (one warning per deadline).
ALTER TABLE leads ADD COLUMN warned_deadline_at TIMESTAMPTZ;
-- The ownership period in progress.
ALTER TABLE leads ADD COLUMN assignment_id TEXT;
CREATE INDEX leads_deadline ON leads (next_deadline_at) WHERE state IN ('ASSIGNED', 'PRIVATE');

-- What each rep received and claimed per business day; the counters quotas
-- and the claim limit are enforced on.
CREATE TABLE rep_days (
    person_id    TEXT    NOT NULL REFERENCES reps (person_id),
    business_day TEXT    NOT NULL,
    distributed  INTEGER NOT NULL DEFAULT 0 CHECK (distributed >= 0),
    claimed      INTEGER NOT NULL DEFAULT 0 CONSTRAINT rep_days_claim_limit CHECK (claimed BETWEEN 0 AND 10),
    PRIMARY KEY (person_id, business_day)
);

-- One row per ownership period: why it began, how it ended.
CREATE TABLE assignments (
    assignment_id       TEXT        PRIMARY KEY,
    lead_id             TEXT        NOT NULL REFERENCES leads (lead_id),
    person_id           TEXT        NOT NULL REFERENCES reps (person_id),
    business_day        TEXT        NOT NULL,
    rule                TEXT        NOT NULL,
    distribution_run_id TEXT,
    rotation_position   INTEGER,
    reason              TEXT        NOT NULL DEFAULT '',
    assigned_at         TIMESTAMPTZ NOT NULL,
    first_follow_up_at  TIMESTAMPTZ,
    ended_at            TIMESTAMPTZ,
    outcome             TEXT
);
CREATE INDEX assignments_rep_day ON assignments (person_id, business_day);
CREATE INDEX assignments_day ON assignments (business_day);
-- At most one open ownership period per lead.
CREATE UNIQUE INDEX assignments_one_open_per_lead ON assignments (lead_id) WHERE ended_at IS NULL;

CREATE TABLE follow_ups (
    follow_up_id TEXT        PRIMARY KEY,
    lead_id      TEXT        NOT NULL REFERENCES leads (lead_id),
    person_id    TEXT        NOT NULL,
    kind         TEXT        NOT NULL CHECK (kind IN ('CALL', 'VISIT', 'MEETING', 'NOTE')),
    occurred_at  TIMESTAMPTZ NOT NULL,
    notes        TEXT        NOT NULL DEFAULT '',
    recorded_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX follow_ups_lead ON follow_ups (lead_id, occurred_at);

-- A rep never receives again a lead they lost, until the cooldown ends.
CREATE TABLE lead_cooldowns (
    lead_id   TEXT        NOT NULL REFERENCES leads (lead_id),
    person_id TEXT        NOT NULL,
    until     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (lead_id, person_id)
);

-- The day's rotation seed, drawn by the first run of the day and reused by top-ups.
CREATE TABLE distribution_days (
    business_day TEXT        PRIMARY KEY,
    seed         BIGINT      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE distribution_runs (
    run_id         TEXT        PRIMARY KEY,
    business_day   TEXT        NOT NULL REFERENCES distribution_days (business_day),
    trigger        TEXT        NOT NULL,
    rotation       TEXT        NOT NULL,
    leads_assigned INTEGER     NOT NULL,
    reps_served    INTEGER     NOT NULL,
    reps_short     INTEGER     NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ NOT NULL
);

-- What WatchRepEvents streams: written with the change, read by any replica.
CREATE TABLE rep_events (
    seq        BIGSERIAL   PRIMARY KEY,
    person_id  TEXT        NOT NULL,
    payload    BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX rep_events_person ON rep_events (person_id, seq);

-- Runs of the single-leader jobs (sweeps, scheduled distribution), for audit.
CREATE TABLE job_runs (
    job         TEXT        NOT NULL,
    run_id      TEXT        PRIMARY KEY,
    instance    TEXT        NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL
);

-- Evening reports, one per rep and day.
CREATE TABLE daily_reports (
    person_id    TEXT        NOT NULL REFERENCES reps (person_id),
    business_day TEXT        NOT NULL,
    team         TEXT        NOT NULL,
    calls        INTEGER     NOT NULL CHECK (calls >= 0),
    visits       INTEGER     NOT NULL CHECK (visits >= 0),
    deals        INTEGER     NOT NULL CHECK (deals >= 0),
    summary      TEXT        NOT NULL,
    submitted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (person_id, business_day)
);
CREATE INDEX daily_reports_team_day ON daily_reports (team, business_day);
