-- Idempotency keys of write requests (see src/http/idempotency.rs): a replay within 24 hours
-- returns the stored response instead of doing the work again.
CREATE TABLE idempotency_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key             TEXT    NOT NULL,
    fingerprint     BLOB    NOT NULL,
    state           TEXT    NOT NULL,
    status_code     INTEGER,
    content_type    TEXT,
    response_body   BLOB,
    created_at_ms   INTEGER NOT NULL,
    locked_until_ms INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    UNIQUE (account_id, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys(expires_at_ms);
