-- Reps, leads, the append-only lead history, and the outbox.

CREATE TABLE reps (
    person_id     TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    team          TEXT    NOT NULL,
    city          TEXT    NOT NULL,
    daily_quota   INTEGER NOT NULL DEFAULT 40 CHECK (daily_quota BETWEEN 30 AND 50),
    status        TEXT    NOT NULL CHECK (status IN ('ONBOARDING', 'ACTIVE', 'PAUSED', 'ON_LEAVE', 'DEPARTED')),
    status_reason TEXT    NOT NULL DEFAULT '',
    hired_at      TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX reps_team ON reps (team, person_id);
CREATE INDEX reps_active_city ON reps (city) WHERE status = 'ACTIVE';

CREATE TABLE leads (
    lead_id           TEXT    PRIMARY KEY,
    kind              TEXT    NOT NULL CHECK (kind IN ('NEW_BUSINESS', 'RENEWAL')),
    company_name      TEXT    NOT NULL,
    company_key       TEXT    NOT NULL,
    contact_name      TEXT    NOT NULL,
    phone             TEXT    NOT NULL,
    email             TEXT    NOT NULL DEFAULT '',
    city              TEXT    NOT NULL,
    industry          TEXT    NOT NULL DEFAULT '',
    source            TEXT    NOT NULL DEFAULT '',
    score             INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    state             TEXT    NOT NULL CHECK (state IN ('POOL', 'ASSIGNED', 'PRIVATE', 'CONVERTED', 'CLOSED')),
    owner_person_id   TEXT    REFERENCES reps (person_id),
    assigned_at       TEXT,
    private_since     TEXT,
    last_follow_up_at TEXT,
    next_deadline_at  TEXT,
    pool_priority     INTEGER NOT NULL DEFAULT 0,
    subscription_id   TEXT,
    account_id        TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    -- One owner exactly while ASSIGNED or PRIVATE, none otherwise.
    CONSTRAINT leads_owner_iff_held CHECK ((state IN ('ASSIGNED', 'PRIVATE')) = (owner_person_id IS NOT NULL))
) STRICT;
-- Duplicate detection for new business: one lead per phone, one per company.
CREATE UNIQUE INDEX leads_new_business_phone ON leads (phone) WHERE kind = 'NEW_BUSINESS';
CREATE UNIQUE INDEX leads_new_business_company ON leads (company_key) WHERE kind = 'NEW_BUSINESS';
CREATE INDEX leads_pool_order ON leads (pool_priority DESC, score DESC, created_at, lead_id) WHERE state = 'POOL';
CREATE INDEX leads_owner ON leads (owner_person_id, state);

CREATE TABLE lead_history (
    lead_id             TEXT    NOT NULL REFERENCES leads (lead_id),
    sequence            INTEGER NOT NULL CHECK (sequence > 0),
    occurred_at         TEXT    NOT NULL,
    actor               TEXT    NOT NULL,
    from_state          TEXT,
    to_state            TEXT    NOT NULL,
    from_owner          TEXT,
    to_owner            TEXT,
    rule                TEXT    NOT NULL,
    reason              TEXT    NOT NULL DEFAULT '',
    distribution_run_id TEXT,
    rotation_position   INTEGER,
    PRIMARY KEY (lead_id, sequence)
) STRICT;

-- The history is append-only.
CREATE TRIGGER lead_history_no_update BEFORE UPDATE ON lead_history
BEGIN
    SELECT RAISE(ABORT, 'lead_history is append-only');
END;
CREATE TRIGGER lead_history_no_delete BEFORE DELETE ON lead_history
BEGIN
    SELECT RAISE(ABORT, 'lead_history is append-only');
END;

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL UNIQUE,
    subject    TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    created_at TEXT    NOT NULL
) STRICT;
