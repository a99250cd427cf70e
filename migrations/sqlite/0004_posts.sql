-- Posts, their per-profile publishing results, their media, and job queues per platform.

CREATE TABLE posts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    profile_group_id INTEGER NOT NULL REFERENCES profile_groups(id) ON DELETE CASCADE,
    -- Thread children point at their root post; `position` orders them (root = 0).
    parent_id        INTEGER REFERENCES posts(id) ON DELETE CASCADE,
    position         INTEGER NOT NULL DEFAULT 0,
    body             TEXT    NOT NULL,
    -- draft | pending | scheduled | processing | processed | media_processing_failed
    status           TEXT    NOT NULL,
    scheduled_at_ms  INTEGER,
    -- The `platforms` parameters object as given (JSON).
    platforms_json   TEXT    NOT NULL DEFAULT '{}',
    -- SHA-256 of what makes two posts identical (duplicate protection); NULL for children.
    fingerprint      BLOB,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL
);
CREATE INDEX posts_account_idx ON posts(account_id, parent_id, id);
CREATE INDEX posts_parent_idx ON posts(parent_id, position);
CREATE INDEX posts_fingerprint_idx ON posts(account_id, fingerprint, created_at_ms);

-- One row per (post, profile): the platform result. Thread children have rows of their own,
-- published by their root's job.
CREATE TABLE post_profiles (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    post_id            INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    root_post_id       INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    profile_id         INTEGER REFERENCES profiles(id) ON DELETE SET NULL,
    platform           TEXT    NOT NULL,
    profile_name       TEXT,
    -- pending | processing | published | failed | deleted (| retrying, shown as processing)
    status             TEXT    NOT NULL DEFAULT 'pending',
    -- Facebook Page or LinkedIn organisation chosen for this post.
    placement_id       TEXT,
    platform_post_id   TEXT,
    permalink          TEXT,
    error              TEXT,
    error_code         TEXT,
    error_subcode      TEXT,
    error_message      TEXT,
    error_note         TEXT,
    -- Set just before a request that creates content is sent, cleared when its answer is
    -- recorded: a row found with it set and no platform id had an unknown outcome.
    sending_since_ms   INTEGER,
    -- Intermediate platform state (e.g. a Meta container id), so a retry resumes instead of redoing.
    progress_json      TEXT,
    attempted_at_ms    INTEGER,
    published_at_ms    INTEGER,
    created_at_ms      INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL,
    UNIQUE (post_id, profile_id)
);
CREATE INDEX post_profiles_root_idx ON post_profiles(root_post_id, profile_id);
CREATE INDEX post_profiles_profile_idx ON post_profiles(profile_id, status);

CREATE TABLE media (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    post_id        INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    -- pending | processed | failed
    status         TEXT    NOT NULL,
    error_message  TEXT,
    source_url     TEXT,
    content_type   TEXT,
    kind           TEXT,
    size_bytes     INTEGER,
    sha256         TEXT,
    storage_key    TEXT,
    created_at_ms  INTEGER NOT NULL
);
CREATE INDEX media_post_idx ON media(post_id, position);

-- Storage objects to remove (media of deleted posts), so a crash between the row's deletion
-- and the object's never leaves an orphan.
CREATE TABLE media_garbage (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    storage_key   TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- Jobs run in queues (one per platform for publishing), each with its own concurrency.
ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
CREATE INDEX jobs_queue_ready_idx ON jobs(queue, state, run_at_ms);
