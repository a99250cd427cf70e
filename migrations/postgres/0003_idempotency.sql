-- Idempotency keys of write requests (see src/http/idempotency.rs): a replay within 24 hours
-- returns the stored response instead of doing the work again.
CREATE TABLE idempotency_keys (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key             TEXT    NOT NULL,
    fingerprint     BYTEA    NOT NULL,
    state           TEXT    NOT NULL,
    status_code     BIGINT,
    content_type    TEXT,
    response_body   BYTEA,
    created_at_ms   BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL,
    expires_at_ms   BIGINT NOT NULL,
    UNIQUE (account_id, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys(expires_at_ms);
