//! Stored outcomes of idempotent write requests, per account and key.

use super::Db;
use crate::with_pool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub id: i64,
    pub fingerprint: Vec<u8>,
    pub state: String,
    pub status_code: Option<i64>,
    pub content_type: Option<String>,
    pub response_body: Option<Vec<u8>>,
    pub locked_until_ms: i64,
    pub expires_at_ms: i64,
}

/// Claims `key` for a new request. `Ok(None)`: claimed, go ahead. `Ok(Some(row))`: the key is
/// already taken (running, done, or expired) — the caller decides.
pub async fn claim(
    db: &Db,
    account_id: i64,
    key: &str,
    fingerprint: &[u8],
    now_ms: i64,
    locked_until_ms: i64,
    expires_at_ms: i64,
) -> sqlx::Result<Option<IdempotencyRow>> {
    let inserted = with_pool!(db, p => sqlx::query(
        "INSERT INTO idempotency_keys (account_id, key, fingerprint, state, created_at_ms, locked_until_ms, expires_at_ms) \
         VALUES ($1, $2, $3, 'running', $4, $5, $6) ON CONFLICT (account_id, key) DO NOTHING")
        .bind(account_id).bind(key).bind(fingerprint).bind(now_ms).bind(locked_until_ms).bind(expires_at_ms)
        .execute(p).await.map(|r| r.rows_affected() == 1))?;
    if inserted {
        return Ok(None);
    }
    with_pool!(db, p => sqlx::query_as(
        "SELECT id, fingerprint, state, status_code, content_type, response_body, locked_until_ms, expires_at_ms \
         FROM idempotency_keys WHERE account_id = $1 AND key = $2")
        .bind(account_id).bind(key).fetch_optional(p).await)
    .map(|row| {
        row.or(Some(IdempotencyRow {
            // Deleted between the insert and the select (a failed first request): report it as
            // running so the client retries, rather than guessing.
            id: 0,
            fingerprint: fingerprint.to_vec(),
            state: "running".into(),
            status_code: None,
            content_type: None,
            response_body: None,
            locked_until_ms: i64::MAX,
            expires_at_ms: i64::MAX,
        }))
    })
}

/// Takes over a key whose holder died (its lock ran out) or whose record expired. Only one
/// caller wins.
pub async fn take_over(
    db: &Db,
    row: &IdempotencyRow,
    fingerprint: &[u8],
    now_ms: i64,
    locked_until_ms: i64,
    expires_at_ms: i64,
) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query(
        "UPDATE idempotency_keys SET fingerprint = $2, state = 'running', status_code = NULL, content_type = NULL, \
                response_body = NULL, created_at_ms = $3, locked_until_ms = $4, expires_at_ms = $5 \
         WHERE id = $1 AND locked_until_ms = $6 AND expires_at_ms = $7")
        .bind(row.id).bind(fingerprint).bind(now_ms).bind(locked_until_ms).bind(expires_at_ms)
        .bind(row.locked_until_ms).bind(row.expires_at_ms)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

/// Stores the successful response of a claimed key.
pub async fn store(
    db: &Db,
    account_id: i64,
    key: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status_code = $3, content_type = $4, response_body = $5 \
         WHERE account_id = $1 AND key = $2")
        .bind(account_id).bind(key).bind(status as i64).bind(content_type).bind(body)
        .execute(p).await.map(|_| ()))
}

/// Frees a key whose request failed: errors are not stored, so the client may retry.
pub async fn release(db: &Db, account_id: i64, key: &str) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query("DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND state = 'running'")
        .bind(account_id).bind(key).execute(p).await.map(|_| ()))
}

pub async fn purge_expired(db: &Db, now_ms: i64) -> sqlx::Result<u64> {
    with_pool!(db, p => sqlx::query("DELETE FROM idempotency_keys WHERE expires_at_ms <= $1")
        .bind(now_ms).execute(p).await.map(|r| r.rows_affected()))
}
