//! Pending trips to a platform's consent screen (state + PKCE verifier), single-use.

use super::Db;
use crate::with_pool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthStateRow {
    pub id: i64,
    pub invitation_id: i64,
    pub platform: crate::domain::platform::Platform,
    pub pkce_verifier_enc: Option<Vec<u8>>,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
}

pub async fn insert(
    db: &Db,
    invitation_id: i64,
    platform: &str,
    state_hash: &[u8],
    pkce_verifier_enc: Option<&[u8]>,
    now_ms: i64,
    expires_at_ms: i64,
) -> sqlx::Result<i64> {
    with_pool!(db, p => sqlx::query_scalar(
        "INSERT INTO oauth_states (invitation_id, platform, state_hash, pkce_verifier_enc, created_at_ms, expires_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
        .bind(invitation_id).bind(platform).bind(state_hash).bind(pkce_verifier_enc).bind(now_ms).bind(expires_at_ms)
        .fetch_one(p).await)
}

pub async fn find(db: &Db, state_hash: &[u8]) -> sqlx::Result<Option<OAuthStateRow>> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT id, invitation_id, platform, pkce_verifier_enc, expires_at_ms, used_at_ms FROM oauth_states WHERE state_hash = $1")
        .bind(state_hash).fetch_optional(p).await)
}

/// Marks the state used. Exactly one caller wins; a replay gets `false`.
pub async fn consume(db: &Db, id: i64, now_ms: i64) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query("UPDATE oauth_states SET used_at_ms = $2 WHERE id = $1 AND used_at_ms IS NULL")
        .bind(id).bind(now_ms).execute(p).await.map(|r| r.rows_affected() == 1))
}
