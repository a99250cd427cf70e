//! Connection invitations: the single-use, expiring tokens behind `/partner_connect/<token>`.

use super::Db;
use crate::domain::connection::ConnectionRequest;
use crate::with_pool;

pub struct NewInvitation<'a> {
    pub account_id: i64,
    pub profile_group_id: i64,
    pub request: &'a ConnectionRequest,
    pub token_hash: &'a [u8],
    pub expires_at_ms: i64,
}

/// Stores an invitation. `None` when its group was deleted meanwhile (a concurrent delete).
pub async fn insert(db: &Db, inv: &NewInvitation<'_>, now_ms: i64) -> sqlx::Result<Option<i64>> {
    let result = with_pool!(db, p => sqlx::query_scalar(
        "INSERT INTO connection_invitations (account_id, profile_group_id, platform, redirect_url, refresh_connection, \
                                             token_hash, created_at_ms, expires_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
        .bind(inv.account_id).bind(inv.profile_group_id).bind(inv.request.platform.as_str())
        .bind(&inv.request.redirect_url).bind(inv.request.refresh_connection)
        .bind(inv.token_hash).bind(now_ms).bind(inv.expires_at_ms)
        .fetch_one(p).await);
    match result {
        Ok(id) => Ok(Some(id)),
        Err(e) if super::is_foreign_key_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: i64,
    pub account_id: i64,
    pub profile_group_id: i64,
    pub platform: crate::domain::platform::Platform,
    pub redirect_url: String,
    pub refresh_connection: bool,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
}

/// Looks an invitation up by the hash of its URL token.
pub async fn find_by_token_hash(db: &Db, token_hash: &[u8]) -> sqlx::Result<Option<InvitationRow>> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT id, account_id, profile_group_id, platform, redirect_url, refresh_connection, expires_at_ms, used_at_ms \
         FROM connection_invitations WHERE token_hash = $1")
        .bind(token_hash).fetch_optional(p).await)
}

pub async fn find(db: &Db, id: i64) -> sqlx::Result<Option<InvitationRow>> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT id, account_id, profile_group_id, platform, redirect_url, refresh_connection, expires_at_ms, used_at_ms \
         FROM connection_invitations WHERE id = $1")
        .bind(id).fetch_optional(p).await)
}

/// The name of the invitation's group, for the connection page.
pub async fn group_name(db: &Db, inv: &InvitationRow) -> sqlx::Result<Option<String>> {
    with_pool!(db, p => sqlx::query_scalar("SELECT name FROM profile_groups WHERE id = $1 AND account_id = $2")
        .bind(inv.profile_group_id).bind(inv.account_id).fetch_optional(p).await)
}
