-- One token refresh per profile at a time, across every replica and both refresh paths (the
-- scheduled job and the refresh before a publish): a short lease, taken by a conditional update.
ALTER TABLE profiles ADD COLUMN refresh_lock_until_ms BIGINT;
