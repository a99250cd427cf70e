-- Instants are epoch milliseconds (INTEGER) on both backends: see docs/architecture.md.

CREATE TABLE server_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE profile_groups (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX profile_groups_account_idx ON profile_groups(account_id, id);

CREATE TABLE api_keys (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- NULL = full access to the account; otherwise scoped to this group (and gone with it).
    profile_group_id INTEGER REFERENCES profile_groups(id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    key_hash         BLOB    NOT NULL UNIQUE,
    prefix           TEXT    NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    revoked_at_ms    INTEGER
);
CREATE INDEX api_keys_account_idx ON api_keys(account_id, id);

CREATE TABLE profiles (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    profile_group_id   INTEGER NOT NULL REFERENCES profile_groups(id) ON DELETE CASCADE,
    platform           TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    username           TEXT,
    avatar_url         TEXT,
    external_id        TEXT    NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'active',
    -- Sealed (encrypted) OAuth credentials; never plaintext.
    access_token_enc   BLOB,
    refresh_token_enc  BLOB,
    expires_at_ms      INTEGER,
    created_at_ms      INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL,
    UNIQUE (profile_group_id, platform, external_id)
);
CREATE INDEX profiles_account_idx ON profiles(account_id, id);

CREATE TABLE connection_invitations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    profile_group_id   INTEGER NOT NULL REFERENCES profile_groups(id) ON DELETE CASCADE,
    platform           TEXT    NOT NULL,
    redirect_url       TEXT    NOT NULL,
    refresh_connection BOOLEAN NOT NULL DEFAULT FALSE,
    -- Only the SHA-256 of the URL token is stored.
    token_hash         BLOB    NOT NULL UNIQUE,
    created_at_ms      INTEGER NOT NULL,
    expires_at_ms      INTEGER NOT NULL,
    used_at_ms         INTEGER
);
CREATE INDEX connection_invitations_group_idx ON connection_invitations(profile_group_id);
