-- Subscriptions, invoices and payments.

CREATE TABLE subscriptions (
    subscription_id      TEXT        PRIMARY KEY,
    account_id           TEXT        NOT NULL REFERENCES accounts (account_id),
    plan_id              TEXT        NOT NULL,
    plan_version         INTEGER     NOT NULL,
    price_minor          BIGINT      NOT NULL CHECK (price_minor > 0),
    currency             TEXT        NOT NULL,
    period_months        INTEGER     NOT NULL CHECK (period_months IN (1, 12)),
    state                TEXT        NOT NULL CHECK (state IN ('PENDING_PAYMENT', 'ACTIVE', 'PAST_DUE', 'EXPIRED', 'CANCELED')),
    anchor_date          TEXT,
    period_index         INTEGER     NOT NULL DEFAULT 0,
    period_start         TIMESTAMPTZ,
    period_end           TIMESTAMPTZ,
    sold_by_person_id    TEXT,
    cancel_at_period_end BOOLEAN     NOT NULL DEFAULT FALSE,
    grace_ends_at        TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (plan_id, plan_version) REFERENCES plans (plan_id, version),
    CONSTRAINT subscriptions_active_has_period CHECK (state = 'PENDING_PAYMENT' OR (period_start IS NOT NULL AND period_end > period_start))
);
-- One live subscription per account and plan.
CREATE UNIQUE INDEX subscriptions_one_live ON subscriptions (account_id, plan_id)
    WHERE state IN ('PENDING_PAYMENT', 'ACTIVE', 'PAST_DUE');
CREATE INDEX subscriptions_account ON subscriptions (account_id);

CREATE TABLE invoices (
    invoice_id      TEXT        PRIMARY KEY,
    subscription_id TEXT        NOT NULL REFERENCES subscriptions (subscription_id),
    account_id      TEXT        NOT NULL,
    kind            TEXT        NOT NULL CHECK (kind IN ('INITIAL', 'RENEWAL', 'PRORATION')),
    status          TEXT        NOT NULL CHECK (status IN ('OPEN', 'PAID', 'VOID')),
    amount_minor    BIGINT      NOT NULL CHECK (amount_minor > 0),
    paid_minor      BIGINT      NOT NULL DEFAULT 0,
    currency        TEXT        NOT NULL,
    period_index    INTEGER     NOT NULL,
    period_start    TIMESTAMPTZ,
    period_end      TIMESTAMPTZ,
    issued_at       TIMESTAMPTZ NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL,
    -- Never more paid than due, never counted twice.
    CONSTRAINT invoices_never_overpaid CHECK (paid_minor BETWEEN 0 AND amount_minor)
);
-- One invoice per subscription period.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (subscription_id, period_index) WHERE kind IN ('INITIAL', 'RENEWAL');
CREATE INDEX invoices_account ON invoices (account_id);

CREATE TABLE payments (
    payment_id         TEXT        PRIMARY KEY,
    invoice_id         TEXT        NOT NULL REFERENCES invoices (invoice_id),
    amount_minor       BIGINT      NOT NULL CHECK (amount_minor > 0),
    currency           TEXT        NOT NULL,
    method             TEXT        NOT NULL,
    external_reference TEXT        NOT NULL DEFAULT '',
    received_at        TIMESTAMPTZ NOT NULL,
    -- A payment key counts once, whatever the caller.
    idempotency_key    TEXT        NOT NULL UNIQUE,
    recorded_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX payments_invoice ON payments (invoice_id);
