//! Connected social profiles. Credentials are stored sealed (see the connection flow); this
//! module never sees plaintext tokens.

use super::{BeginWrite, Db, Tx};
use crate::domain::connection::ProfileStatus;
use crate::domain::platform::Platform;
use crate::{with_pool, with_tx};

/// The fields of a new profile.
#[derive(Debug, Clone)]
pub struct NewProfile<'a> {
    pub account_id: i64,
    pub profile_group_id: i64,
    pub platform: Platform,
    pub name: &'a str,
    pub username: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub external_id: &'a str,
    pub status: &'a str,
    pub access_token_enc: Option<&'a [u8]>,
    pub refresh_token_enc: Option<&'a [u8]>,
    pub expires_at_ms: Option<i64>,
}

pub async fn insert(db: &Db, p: &NewProfile<'_>, now_ms: i64) -> sqlx::Result<i64> {
    with_pool!(db, pool => sqlx::query_scalar(
        "INSERT INTO profiles (account_id, profile_group_id, platform, name, username, avatar_url, external_id, status, \
                               access_token_enc, refresh_token_enc, expires_at_ms, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id")
        .bind(p.account_id).bind(p.profile_group_id).bind(p.platform.as_str()).bind(p.name)
        .bind(p.username).bind(p.avatar_url).bind(p.external_id).bind(p.status)
        .bind(p.access_token_enc).bind(p.refresh_token_enc).bind(p.expires_at_ms).bind(now_ms)
        .fetch_one(pool).await)
}

/// Whether the group already has a profile on this platform.
pub async fn group_has_platform(db: &Db, account_id: i64, group_id: i64, platform: Platform) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT id FROM profiles WHERE account_id = $1 AND profile_group_id = $2 AND platform = $3 LIMIT 1")
        .bind(account_id).bind(group_id).bind(platform.as_str()).fetch_optional(p).await.map(|r| r.is_some()))
}

/// A profile as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProfileRow {
    pub id: i64,
    pub profile_group_id: i64,
    pub platform: Platform,
    pub name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub external_id: String,
    pub status: ProfileStatus,
    pub expires_at_ms: Option<i64>,
    /// Posts published through this profile (thread parts not counted).
    pub post_count: i64,
}

macro_rules! select_profiles {
    () => {
        "SELECT id, profile_group_id, platform, name, username, avatar_url, external_id, status, expires_at_ms, \
                (SELECT COUNT(*) FROM post_profiles r WHERE r.profile_id = profiles.id AND r.status = 'published' \
                   AND r.post_id = r.root_post_id) AS post_count \
         FROM profiles WHERE account_id = $1 AND ($2 IS NULL OR profile_group_id = $2)"
    };
}

/// The account's profiles, optionally only one group's, oldest first.
pub async fn list(db: &Db, account_id: i64, group: Option<i64>) -> sqlx::Result<Vec<ProfileRow>> {
    with_pool!(db, p => sqlx::query_as(concat!(select_profiles!(), " ORDER BY id"))
        .bind(account_id).bind(group).fetch_all(p).await)
}

/// One profile of the account, within `group` when given (a scoped key's group).
pub async fn get(db: &Db, account_id: i64, group: Option<i64>, id: i64) -> sqlx::Result<Option<ProfileRow>> {
    with_pool!(db, p => sqlx::query_as(concat!(select_profiles!(), " AND id = $3"))
        .bind(account_id).bind(group).bind(id).fetch_optional(p).await)
}

/// Deletes a profile (its placements go with it) in the caller's transaction, which also cancels
/// its pending publishes; what it had still to publish fails with a reason, so no result waits
/// for a profile that is gone. False when there was none.
pub async fn delete(tx: &mut Tx, account_id: i64, id: i64, now: i64) -> sqlx::Result<bool> {
    with_tx!(tx, c => {
        sqlx::query(
            "UPDATE post_profiles SET status = 'failed', error = $3, error_message = $3, error_note = $4, updated_at_ms = $5 \
             WHERE account_id = $1 AND profile_id = $2 AND status IN ('pending', 'processing', 'retrying')")
            .bind(account_id).bind(id)
            .bind("The profile was deleted before this post was published")
            .bind("Nothing was sent to the platform. Connect the account again and create the post again.")
            .bind(now).execute(&mut *c).await?;
        // Posts with nothing else left to publish are done.
        sqlx::query(
            "UPDATE posts SET status = 'processed', updated_at_ms = $2 \
             WHERE status IN ('scheduled', 'processing') \
               AND COALESCE(parent_id, id) IN (SELECT root_post_id FROM post_profiles WHERE profile_id = $1) \
               AND NOT EXISTS (SELECT 1 FROM post_profiles r WHERE r.root_post_id = COALESCE(posts.parent_id, posts.id) \
                                 AND r.status IN ('pending', 'processing', 'retrying'))")
            .bind(id).bind(now).execute(&mut *c).await?;
        let deleted = sqlx::query("DELETE FROM profiles WHERE account_id = $1 AND id = $2")
            .bind(account_id).bind(id).execute(&mut *c).await?.rows_affected() == 1;
        Ok(deleted)
    })
}

/// The sealed credentials of a profile, for refresh and revocation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CredentialRow {
    pub id: i64,
    pub account_id: i64,
    pub platform: Platform,
    pub external_id: String,
    pub status: ProfileStatus,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub access_expires_at_ms: Option<i64>,
    pub username: Option<String>,
    /// The sealed secret kept to sign in again (Bluesky's app password); loaded for refreshes.
    #[sqlx(default)]
    pub credential_enc: Option<Vec<u8>>,
    /// The account's own API host (a Bluesky PDS).
    pub endpoint: Option<String>,
    /// The sealed token of the placement a publish goes to (a Facebook Page), when the query
    /// that loaded this row brought it.
    #[sqlx(default)]
    pub placement_token_enc: Option<Vec<u8>>,
}

/// Takes the profile's refresh lease until `until_ms`, unless another holder has it.
pub async fn lock_refresh(db: &Db, id: i64, now_ms: i64, until_ms: i64) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query(
        "UPDATE profiles SET refresh_lock_until_ms = $3 WHERE id = $1 \
           AND (refresh_lock_until_ms IS NULL OR refresh_lock_until_ms < $2)")
        .bind(id).bind(now_ms).bind(until_ms).execute(p).await.map(|r| r.rows_affected() == 1))
}

pub async fn unlock_refresh(db: &Db, id: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query("UPDATE profiles SET refresh_lock_until_ms = NULL WHERE id = $1")
        .bind(id).execute(p).await.map(|_| ()))
}

/// The sealed token of one placement (a Facebook Page).
pub async fn placement_token(db: &Db, profile_id: i64, external_id: &str) -> sqlx::Result<Option<Option<Vec<u8>>>> {
    with_pool!(db, p => sqlx::query_scalar(
        "SELECT access_token_enc FROM placements WHERE profile_id = $1 AND external_id = $2")
        .bind(profile_id).bind(external_id).fetch_optional(p).await)
}

pub async fn credentials(db: &Db, id: i64) -> sqlx::Result<Option<CredentialRow>> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT id, account_id, platform, external_id, status, access_token_enc, refresh_token_enc, access_expires_at_ms, \
                username, credential_enc, endpoint FROM profiles WHERE id = $1")
        .bind(id).fetch_optional(p).await)
}

/// Stores renewed tokens and marks the profile active again.
pub async fn store_refreshed(
    db: &Db,
    id: i64,
    access_token_enc: &[u8],
    refresh_token_enc: Option<&[u8]>,
    access_expires_at_ms: Option<i64>,
    expires_at_ms: Option<i64>,
    now_ms: i64,
) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE profiles SET access_token_enc = $2, refresh_token_enc = $3, access_expires_at_ms = $4, expires_at_ms = $5, \
                refreshed_at_ms = $6, updated_at_ms = $6, status = 'active', status_reason = NULL WHERE id = $1")
        .bind(id).bind(access_token_enc).bind(refresh_token_enc).bind(access_expires_at_ms).bind(expires_at_ms).bind(now_ms)
        .execute(p).await.map(|_| ()))
}

pub async fn set_status(db: &Db, id: i64, status: ProfileStatus, reason: &str, now_ms: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query("UPDATE profiles SET status = $2, status_reason = $3, updated_at_ms = $4 WHERE id = $1")
        .bind(id).bind(status.as_str()).bind(reason).bind(now_ms).execute(p).await.map(|_| ()))
}

/// Active profiles of a platform whose access token expires before `before_ms`.
pub async fn due_for_refresh(db: &Db, platform: Platform, before_ms: i64) -> sqlx::Result<Vec<i64>> {
    with_pool!(db, p => sqlx::query_scalar(
        "SELECT id FROM profiles WHERE platform = $1 AND status = 'active' \
           AND access_expires_at_ms IS NOT NULL AND access_expires_at_ms <= $2 ORDER BY access_expires_at_ms")
        .bind(platform.as_str()).bind(before_ms).fetch_all(p).await)
}

/// Marks active profiles whose connection has run out as expired; returns how many.
pub async fn expire_lapsed(db: &Db, now_ms: i64) -> sqlx::Result<u64> {
    with_pool!(db, p => sqlx::query(
        "UPDATE profiles SET status = 'expired', status_reason = 'token_expired', updated_at_ms = $1 \
         WHERE status = 'active' AND expires_at_ms IS NOT NULL AND expires_at_ms <= $1")
        .bind(now_ms).execute(p).await.map(|r| r.rows_affected()))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlacementRow {
    pub external_id: String,
    pub name: String,
    pub avatar_url: Option<String>,
}

pub async fn placements(db: &Db, profile_id: i64) -> sqlx::Result<Vec<PlacementRow>> {
    with_pool!(db, p => sqlx::query_as("SELECT external_id, name, avatar_url FROM placements WHERE profile_id = $1 ORDER BY id")
        .bind(profile_id).fetch_all(p).await)
}

/// A placement to store, token already sealed.
#[derive(Debug, Clone)]
pub struct NewPlacement {
    pub external_id: String,
    pub name: String,
    pub avatar_url: Option<String>,
    pub access_token_enc: Option<Vec<u8>>,
    pub username: Option<String>,
}

/// Everything a connection learned, credentials already sealed.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The invitation the OAuth callback consumes; none for a sign-in with credentials.
    pub invitation_id: Option<i64>,
    pub account_id: i64,
    pub profile_group_id: i64,
    pub platform: Platform,
    pub refresh_connection: bool,
    pub name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub external_id: String,
    pub access_token_enc: Vec<u8>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub credential_enc: Option<Vec<u8>>,
    pub endpoint: Option<String>,
    pub access_expires_at_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub placements: Vec<NewPlacement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// The invitation was used (or expired) meanwhile.
    InvitationUsed,
    /// This platform account is already connected in the group, and this was no reconnect.
    AlreadyConnected,
}

/// Consumes the invitation (if any) and creates (or, on a reconnect, updates) the profile with
/// its placements, all in one transaction: either everything is written or nothing is.
pub async fn complete_connection(db: &Db, c: &Connected, now_ms: i64) -> sqlx::Result<Result<i64, ConnectError>> {
    with_pool!(db, p => {
        let mut tx = p.begin_write().await?;
        // A write first, so SQLite takes its write lock at once (no upgrade deadlock).
        let consumed = match c.invitation_id {
            Some(id) => sqlx::query(
                "UPDATE connection_invitations SET used_at_ms = $2 WHERE id = $1 AND used_at_ms IS NULL AND expires_at_ms > $2")
                .bind(id).bind(now_ms).execute(&mut *tx).await?.rows_affected() == 1,
            None => sqlx::query("UPDATE profile_groups SET updated_at_ms = updated_at_ms WHERE id = $1")
                .bind(c.profile_group_id).execute(&mut *tx).await?.rows_affected() == 1,
        };
        if !consumed {
            return Ok(Err(ConnectError::InvitationUsed));
        }
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM profiles WHERE profile_group_id = $1 AND platform = $2 AND external_id = $3")
            .bind(c.profile_group_id).bind(c.platform.as_str()).bind(&c.external_id)
            .fetch_optional(&mut *tx).await?;
        let profile_id = match existing {
            Some(_) if !c.refresh_connection => return Ok(Err(ConnectError::AlreadyConnected)),
            Some(id) => {
                sqlx::query(
                    "UPDATE profiles SET name = $2, username = $3, avatar_url = $4, status = 'active', status_reason = NULL, \
                            access_token_enc = $5, refresh_token_enc = $6, access_expires_at_ms = $7, expires_at_ms = $8, \
                            refreshed_at_ms = $9, updated_at_ms = $9, credential_enc = $10, endpoint = $11 WHERE id = $1")
                    .bind(id).bind(&c.name).bind(&c.username).bind(&c.avatar_url)
                    .bind(&c.access_token_enc).bind(&c.refresh_token_enc).bind(c.access_expires_at_ms).bind(c.expires_at_ms)
                    .bind(now_ms).bind(&c.credential_enc).bind(&c.endpoint).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM placements WHERE profile_id = $1").bind(id).execute(&mut *tx).await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO profiles (account_id, profile_group_id, platform, name, username, avatar_url, external_id, status, \
                                           access_token_enc, refresh_token_enc, access_expires_at_ms, expires_at_ms, \
                                           refreshed_at_ms, created_at_ms, updated_at_ms, credential_enc, endpoint) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $10, $11, $12, $12, $12, $13, $14) RETURNING id")
                    .bind(c.account_id).bind(c.profile_group_id).bind(c.platform.as_str()).bind(&c.name)
                    .bind(&c.username).bind(&c.avatar_url).bind(&c.external_id)
                    .bind(&c.access_token_enc).bind(&c.refresh_token_enc).bind(c.access_expires_at_ms).bind(c.expires_at_ms)
                    .bind(now_ms).bind(&c.credential_enc).bind(&c.endpoint).fetch_one(&mut *tx).await?
            }
        };
        for pl in &c.placements {
            sqlx::query(
                "INSERT INTO placements (profile_id, external_id, name, avatar_url, access_token_enc, created_at_ms, username) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(profile_id).bind(&pl.external_id).bind(&pl.name).bind(&pl.avatar_url).bind(&pl.access_token_enc)
                .bind(now_ms).bind(&pl.username).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Ok(profile_id))
    })
}

/// Applies placements that appeared or went (Telegram's chats) and stores where to look from
/// next time. Idempotent: replicas looking at once write the same rows.
pub async fn apply_placement_changes(
    db: &Db,
    profile_id: i64,
    added: &[NewPlacement],
    removed: &[String],
    next_offset: Option<i64>,
    now_ms: i64,
) -> sqlx::Result<()> {
    with_pool!(db, p => {
        let mut tx = p.begin_write().await?;
        if let Some(offset) = next_offset {
            sqlx::query("UPDATE profiles SET updates_offset = $2 WHERE id = $1 AND (updates_offset IS NULL OR updates_offset < $2)")
                .bind(profile_id).bind(offset).execute(&mut *tx).await?;
        }
        for id in removed {
            sqlx::query("DELETE FROM placements WHERE profile_id = $1 AND external_id = $2")
                .bind(profile_id).bind(id).execute(&mut *tx).await?;
        }
        for pl in added {
            sqlx::query(
                "INSERT INTO placements (profile_id, external_id, name, avatar_url, access_token_enc, created_at_ms, username) \
                 SELECT $1, $2, $3, $4, NULL, $5, $6 WHERE EXISTS (SELECT 1 FROM profiles WHERE id = $1) \
                 ON CONFLICT (profile_id, external_id) DO UPDATE SET name = excluded.name, username = excluded.username")
                .bind(profile_id).bind(&pl.external_id).bind(&pl.name).bind(&pl.avatar_url).bind(now_ms).bind(&pl.username)
                .execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    })
}

/// Where a profile's placement updates are read from next (Telegram's update offset).
pub async fn updates_offset(db: &Db, profile_id: i64) -> sqlx::Result<Option<i64>> {
    with_pool!(db, p => sqlx::query_scalar::<_, Option<i64>>("SELECT updates_offset FROM profiles WHERE id = $1")
        .bind(profile_id).fetch_optional(p).await.map(Option::flatten))
}

/// Active profiles of a platform (for periodic work such as Telegram's placement updates).
pub async fn active_of(db: &Db, platform: Platform) -> sqlx::Result<Vec<i64>> {
    with_pool!(db, p => sqlx::query_scalar("SELECT id FROM profiles WHERE platform = $1 AND status = 'active' ORDER BY id")
        .bind(platform.as_str()).fetch_all(p).await)
}

/// A placement's public handle, if the placement is still the profile's (`None`: it is gone).
pub async fn placement_username(db: &Db, profile_id: i64, external_id: &str) -> sqlx::Result<Option<Option<String>>> {
    with_pool!(db, p => sqlx::query_scalar(
        "SELECT username FROM placements WHERE profile_id = $1 AND external_id = $2")
        .bind(profile_id).bind(external_id).fetch_optional(p).await)
}
