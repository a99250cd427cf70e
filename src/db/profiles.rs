//! Connected social profiles. Credentials are stored sealed (see the connection flow); this
//! module never sees plaintext tokens.

use super::Db;
use crate::domain::platform::Platform;
use crate::with_pool;

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
pub async fn group_has_platform(
    db: &Db,
    account_id: i64,
    group_id: i64,
    platform: Platform,
) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT id FROM profiles WHERE account_id = $1 AND profile_group_id = $2 AND platform = $3 LIMIT 1")
        .bind(account_id).bind(group_id).bind(platform.as_str()).fetch_optional(p).await.map(|r| r.is_some()))
}
