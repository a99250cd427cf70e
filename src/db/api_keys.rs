//! API keys: stored only as SHA-256 hashes.

use super::Db;
use crate::domain::access::{Caller, Scope};
use crate::with_pool;

/// `$1` account, `$2` group (NULL = full access), `$3` name, `$4` hash, `$5` prefix, `$6` now.
pub(super) const INSERT_KEY: &str = "INSERT INTO api_keys (account_id, profile_group_id, name, key_hash, prefix, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: i64,
    pub account_id: i64,
    pub profile_group_id: Option<i64>,
    pub name: String,
    pub prefix: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// Resolves a presented key (by its hash) to the caller, if the key exists and is not revoked.
/// No cache: a revoked key fails on the next request, on every replica.
pub async fn authenticate(db: &Db, key_hash: &[u8]) -> sqlx::Result<Option<Caller>> {
    let row: Option<(i64, i64, Option<i64>)> = with_pool!(db, p => sqlx::query_as(
        "SELECT id, account_id, profile_group_id FROM api_keys WHERE key_hash = $1 AND revoked_at_ms IS NULL")
        .bind(key_hash).fetch_optional(p).await)?;
    Ok(row.map(|(api_key_id, account_id, group)| Caller {
        account_id,
        api_key_id,
        scope: group.map_or(Scope::Full, Scope::Group),
    }))
}

/// Inserts a key for an account. The caller has checked that `profile_group_id` belongs to it.
pub async fn insert(
    db: &Db,
    account_id: i64,
    profile_group_id: Option<i64>,
    name: &str,
    key_hash: &[u8],
    prefix: &str,
    now_ms: i64,
) -> sqlx::Result<i64> {
    with_pool!(db, p => sqlx::query_scalar(INSERT_KEY)
        .bind(account_id).bind(profile_group_id).bind(name).bind(key_hash).bind(prefix).bind(now_ms)
        .fetch_one(p).await)
}

pub async fn list(db: &Db, account_id: i64) -> sqlx::Result<Vec<ApiKeyRow>> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT id, account_id, profile_group_id, name, prefix, created_at_ms, revoked_at_ms \
         FROM api_keys WHERE account_id = $1 ORDER BY id")
        .bind(account_id).fetch_all(p).await)
}

/// The account's keys that still work, oldest first.
pub async fn list_active(db: &Db, account_id: i64) -> sqlx::Result<Vec<ApiKeyRow>> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT id, account_id, profile_group_id, name, prefix, created_at_ms, revoked_at_ms \
         FROM api_keys WHERE account_id = $1 AND revoked_at_ms IS NULL ORDER BY id")
        .bind(account_id).fetch_all(p).await)
}

/// Revokes one of the account's working keys (what `DELETE /api/api_keys/:id` does). False when
/// the account has no such working key.
pub async fn revoke_in_account(db: &Db, account_id: i64, key_id: i64, now_ms: i64) -> sqlx::Result<bool> {
    let affected = with_pool!(db, p => sqlx::query(
        "UPDATE api_keys SET revoked_at_ms = $3 WHERE id = $2 AND account_id = $1 AND revoked_at_ms IS NULL")
        .bind(account_id).bind(key_id).bind(now_ms).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}

/// Marks a key revoked. Returns false when no such key exists; revoking twice keeps the first time.
pub async fn revoke(db: &Db, key_id: i64, now_ms: i64) -> sqlx::Result<bool> {
    let affected = with_pool!(db, p => sqlx::query(
        "UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE id = $1")
        .bind(key_id).bind(now_ms).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}
