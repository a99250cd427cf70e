//! Accounts, created together with their first profile group and a full-access key.

use super::{BeginWrite, Db, api_keys::INSERT_KEY, profile_groups::INSERT_GROUP};
use crate::crypto;
use crate::with_pool;

/// Name of the profile group every new account starts with.
pub const FIRST_GROUP_NAME: &str = "Default";

/// What creating an account produced; `api_key` is the only copy of the plaintext key.
#[derive(Debug)]
pub struct NewAccount {
    pub account_id: i64,
    pub profile_group_id: i64,
    pub api_key_id: i64,
    pub api_key: String,
}

/// Creates an account, its "Default" group and a full-access key in one transaction.
pub async fn create(db: &Db, name: &str, now_ms: i64) -> sqlx::Result<NewAccount> {
    Ok(create_inner(db, name, now_ms, false)
        .await?
        .expect("an unconditional create always creates"))
}

/// On the very first start against an empty database, creates the "default" account. Exactly
/// one caller ever gets `Some`, even when several replicas start at once on one PostgreSQL; and
/// the "bootstrapped" marker commits together with the account, so a crash in between leaves
/// neither (the next start tries again).
pub async fn bootstrap_default(db: &Db, now_ms: i64) -> sqlx::Result<Option<NewAccount>> {
    create_inner(db, "default", now_ms, true).await
}

async fn create_inner(db: &Db, name: &str, now_ms: i64, bootstrap: bool) -> sqlx::Result<Option<NewAccount>> {
    let key = crypto::new_api_key();
    let prefix = crypto::display_prefix(&key.plaintext);
    let ids = with_pool!(db, p => {
        let mut tx = p.begin_write().await?;
        if bootstrap {
            // A write first, so on SQLite the transaction holds the write lock from here; on
            // PostgreSQL a concurrent first start waits on the marker's key until we commit.
            let inserted = sqlx::query(
                "INSERT INTO server_settings (key, value) VALUES ('bootstrapped', $1) ON CONFLICT (key) DO NOTHING")
                .bind(now_ms.to_string()).execute(&mut *tx).await?.rows_affected() == 1;
            let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&mut *tx).await?;
            if !inserted || accounts > 0 {
                tx.commit().await?;
                return Ok(None);
            }
        }
        let account_id: i64 = sqlx::query_scalar("INSERT INTO accounts (name, created_at_ms) VALUES ($1, $2) RETURNING id")
            .bind(name).bind(now_ms).fetch_one(&mut *tx).await?;
        let group_id: i64 = sqlx::query_scalar(INSERT_GROUP)
            .bind(account_id).bind(FIRST_GROUP_NAME).bind(now_ms).fetch_one(&mut *tx).await?;
        let key_id: i64 = sqlx::query_scalar(INSERT_KEY)
            .bind(account_id).bind(None::<i64>).bind("Default full-access key")
            .bind(&key.hash).bind(&prefix).bind(now_ms)
            .fetch_one(&mut *tx).await?;
        tx.commit().await?;
        (account_id, group_id, key_id)
    });
    let (account_id, profile_group_id, api_key_id) = ids;
    Ok(Some(NewAccount {
        account_id,
        profile_group_id,
        api_key_id,
        api_key: key.plaintext,
    }))
}

pub async fn exists(db: &Db, account_id: i64) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query_scalar::<_, i64>("SELECT id FROM accounts WHERE id = $1")
        .bind(account_id).fetch_optional(p).await.map(|r| r.is_some()))
}

/// An account as `admin list-accounts` shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub created_at_ms: i64,
    /// Keys that still work.
    pub keys: i64,
}

pub async fn list(db: &Db) -> sqlx::Result<Vec<AccountRow>> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT a.id, a.name, a.created_at_ms, \
                (SELECT COUNT(*) FROM api_keys k WHERE k.account_id = a.id AND k.revoked_at_ms IS NULL) AS keys \
         FROM accounts a ORDER BY a.id")
        .fetch_all(p).await)
}

/// The ids of the accounts with this exact name (names are not unique).
pub async fn ids_named(db: &Db, name: &str) -> sqlx::Result<Vec<i64>> {
    with_pool!(db, p => sqlx::query_scalar("SELECT id FROM accounts WHERE name = $1 ORDER BY id LIMIT 2")
        .bind(name).fetch_all(p).await)
}
