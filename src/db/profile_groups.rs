//! Profile groups, always read and written within one account (and, for scoped keys, one group).

use super::Db;
use crate::with_pool;

/// `$1` account, `$2` name, `$3` now.
pub(super) const INSERT_GROUP: &str = "INSERT INTO profile_groups (account_id, name, created_at_ms, updated_at_ms) \
     VALUES ($1, $2, $3, $3) RETURNING id";

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub profiles_count: i64,
}

/// The shared SELECT (a macro, so `concat!` keeps every statement a static string).
macro_rules! select_groups {
    () => {
        "SELECT g.id, g.name, \
       (SELECT COUNT(*) FROM profiles p WHERE p.profile_group_id = g.id) AS profiles_count \
     FROM profile_groups g \
     WHERE g.account_id = $1 AND ($2 IS NULL OR g.id = $2)"
    };
}

/// Every group of the account (or just `only`), in creation order.
pub async fn list(db: &Db, account_id: i64, only: Option<i64>) -> sqlx::Result<Vec<GroupRow>> {
    with_pool!(db, p => sqlx::query_as(concat!(select_groups!(), " ORDER BY g.id")).bind(account_id).bind(only).fetch_all(p).await)
}

/// One group, if it belongs to the account and lies within `only` (when given).
pub async fn get(db: &Db, account_id: i64, only: Option<i64>, id: i64) -> sqlx::Result<Option<GroupRow>> {
    if only.is_some_and(|g| g != id) {
        return Ok(None);
    }
    with_pool!(db, p => sqlx::query_as(concat!(select_groups!(), " AND g.id = $3")).bind(account_id).bind(only).bind(id).fetch_optional(p).await)
}

pub async fn exists(db: &Db, account_id: i64, id: i64) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query_scalar::<_, i64>("SELECT id FROM profile_groups WHERE account_id = $1 AND id = $2")
        .bind(account_id).bind(id).fetch_optional(p).await.map(|r| r.is_some()))
}

pub async fn create(db: &Db, account_id: i64, name: &str, now_ms: i64) -> sqlx::Result<i64> {
    with_pool!(db, p => sqlx::query_scalar(INSERT_GROUP).bind(account_id).bind(name).bind(now_ms).fetch_one(p).await)
}

/// Deletes a group. Its profiles (with their sealed credentials), pending invitations and the
/// keys scoped to it go in the same statement, through `ON DELETE CASCADE`, so the delete is
/// atomic. Returns false when the account has no such group.
pub async fn delete(db: &Db, account_id: i64, id: i64) -> sqlx::Result<bool> {
    let affected = with_pool!(db, p => sqlx::query("DELETE FROM profile_groups WHERE account_id = $1 AND id = $2")
        .bind(account_id).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}
