-- The catalog: features (free or paid) and versioned paid plans.
-- What is free today stays free forever: the database refuses otherwise.

CREATE TABLE features (
    feature_key TEXT        PRIMARY KEY,
    name        TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    tier        TEXT        NOT NULL CHECK (tier IN ('FREE', 'PAID')),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION features_free_forever() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.tier = 'FREE' THEN RAISE EXCEPTION 'FREE_FOREVER: a free feature cannot be removed'; END IF;
        RETURN OLD;
    END IF;
    IF OLD.tier = 'FREE' AND NEW.tier <> 'FREE' THEN
        RAISE EXCEPTION 'FREE_FOREVER: a free feature cannot become paid';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER features_free_forever BEFORE UPDATE OR DELETE ON features
    FOR EACH ROW EXECUTE FUNCTION features_free_forever();

CREATE TABLE plans (
    plan_id      TEXT        NOT NULL,
    version      INTEGER     NOT NULL CHECK (version >= 1),
    name         TEXT        NOT NULL,
    price_minor  BIGINT      NOT NULL CHECK (price_minor > 0),
    currency     TEXT        NOT NULL CHECK (length(currency) = 3),
    period       TEXT        NOT NULL CHECK (period IN ('MONTHLY', 'ANNUAL')),
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (plan_id, version),
    CONSTRAINT plans_free_is_implicit CHECK (plan_id <> 'free')
);

CREATE TABLE plan_features (
    plan_id     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    feature_key TEXT    NOT NULL REFERENCES features (feature_key),
    PRIMARY KEY (plan_id, version, feature_key),
    FOREIGN KEY (plan_id, version) REFERENCES plans (plan_id, version)
);

CREATE TABLE outbox (
    seq        BIGSERIAL   PRIMARY KEY,
    event_id   TEXT        NOT NULL UNIQUE,
    subject    TEXT        NOT NULL,
    event_type TEXT        NOT NULL,
    payload    BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
