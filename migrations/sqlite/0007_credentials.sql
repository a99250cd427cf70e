-- Platforms connected with credentials instead of an OAuth app (Bluesky, Telegram).
-- credential_enc: a sealed secret kept to sign in again (Bluesky's app password).
-- endpoint: the account's own API host (a Bluesky PDS), when it is not the platform's.
-- updates_offset: the next Telegram update to read (placements appear through the bot's updates).
ALTER TABLE profiles ADD COLUMN credential_enc BLOB;
ALTER TABLE profiles ADD COLUMN endpoint TEXT;
ALTER TABLE profiles ADD COLUMN updates_offset INTEGER;
-- A placement's public handle (a Telegram channel's @username), for permalinks.
ALTER TABLE placements ADD COLUMN username TEXT;
