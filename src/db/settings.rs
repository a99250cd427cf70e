//! Installation-wide settings shared by every replica.

use super::Db;
use crate::with_pool;

/// Returns the value stored under `key`, storing `candidate` first if there is none. Concurrent
/// callers (several replicas starting at once) all get the same, first-written value.
pub async fn get_or_init(db: &Db, key: &str, candidate: &str) -> sqlx::Result<String> {
    with_pool!(db, p => {
        sqlx::query("INSERT INTO server_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(candidate)
            .execute(p)
            .await?;
        sqlx::query_scalar("SELECT value FROM server_settings WHERE key = $1")
            .bind(key)
            .fetch_one(p)
            .await
    })
}
