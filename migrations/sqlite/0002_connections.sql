-- The OAuth connection flow, placements, and the job queue.

-- When the current access token expires (drives refresh); `expires_at_ms` stays the connection's
-- expiry as users see it.
ALTER TABLE profiles ADD COLUMN access_expires_at_ms INTEGER;
ALTER TABLE profiles ADD COLUMN refreshed_at_ms INTEGER;
ALTER TABLE profiles ADD COLUMN status_reason TEXT;

-- One row per trip to a platform's consent screen: single-use, short-lived.
CREATE TABLE oauth_states (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    invitation_id     INTEGER NOT NULL REFERENCES connection_invitations(id) ON DELETE CASCADE,
    platform          TEXT    NOT NULL,
    state_hash        BLOB    NOT NULL UNIQUE,
    pkce_verifier_enc BLOB,
    created_at_ms     INTEGER NOT NULL,
    expires_at_ms     INTEGER NOT NULL,
    used_at_ms        INTEGER
);
CREATE INDEX oauth_states_invitation_idx ON oauth_states(invitation_id);

-- Sub-accounts a profile publishes to: Facebook Pages, LinkedIn organisations.
CREATE TABLE placements (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id       INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    external_id      TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    avatar_url       TEXT,
    access_token_enc BLOB,
    created_at_ms    INTEGER NOT NULL,
    UNIQUE (profile_id, external_id)
);

-- The durable job queue (see src/jobs). `dedupe_key` is set while a job is pending and cleared
-- when it finishes, so at most one pending job exists per key.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'queued',
    run_at_ms       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    locked_until_ms INTEGER,
    locked_by       TEXT,
    last_error      TEXT,
    dedupe_key      TEXT UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    finished_at_ms  INTEGER
);
CREATE INDEX jobs_ready_idx ON jobs(state, run_at_ms);
