-- The catalog: features (free or paid) and versioned paid plans.
-- What is free today stays free forever: the database refuses otherwise.

CREATE TABLE features (
    feature_key TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tier        TEXT NOT NULL CHECK (tier IN ('FREE', 'PAID')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TRIGGER features_free_forever_update BEFORE UPDATE OF tier ON features
WHEN OLD.tier = 'FREE' AND NEW.tier <> 'FREE'
BEGIN
    SELECT RAISE(ABORT, 'FREE_FOREVER: a free feature cannot become paid');
END;
CREATE TRIGGER features_free_forever_delete BEFORE DELETE ON features
WHEN OLD.tier = 'FREE'
BEGIN
    SELECT RAISE(ABORT, 'FREE_FOREVER: a free feature cannot be removed');
END;

CREATE TABLE plans (
    plan_id     TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    name        TEXT    NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor > 0),
    currency    TEXT    NOT NULL CHECK (length(currency) = 3),
    period      TEXT    NOT NULL CHECK (period IN ('MONTHLY', 'ANNUAL')),
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (plan_id, version),
    CONSTRAINT plans_free_is_implicit CHECK (plan_id <> 'free')
) STRICT;

CREATE TABLE plan_features (
    plan_id     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    feature_key TEXT    NOT NULL REFERENCES features (feature_key),
    PRIMARY KEY (plan_id, version, feature_key),
    FOREIGN KEY (plan_id, version) REFERENCES plans (plan_id, version)
) STRICT;

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL UNIQUE,
    subject    TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    created_at TEXT    NOT NULL
) STRICT;
