-- One renewal record per paid term: who sold it, the prior and quoted prices, the outcome.
CREATE TABLE renewals (
    subscription_id    TEXT        NOT NULL REFERENCES subscriptions (subscription_id),
    period_index       INTEGER     NOT NULL,
    account_id         TEXT        NOT NULL,
    sold_by_person_id  TEXT        NOT NULL DEFAULT '',
    plan_id            TEXT        NOT NULL,
    period_end         TIMESTAMPTZ NOT NULL,
    prior_price_minor  BIGINT      NOT NULL,
    quoted_price_minor BIGINT      NOT NULL,
    quoted_version     INTEGER     NOT NULL,
    currency           TEXT        NOT NULL,
    outcome            TEXT        NOT NULL CHECK (outcome IN ('PENDING', 'RENEWED', 'CHURNED')),
    reason             TEXT        NOT NULL DEFAULT '',
    invoice_id         TEXT        NOT NULL,
    PRIMARY KEY (subscription_id, period_index)
);
CREATE INDEX renewals_period_end ON renewals (period_end);
