-- Idempotency keys (tiejun_platform::idempotency): the first response of each
-- (scope, key), and the fingerprint of the request that produced it.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     BLOB,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
