//! A write transaction on either backend, so that a multi-statement write is an ordinary
//! function taking `&mut Tx` (the post's rows and its jobs today, an event beside each state
//! change with webhooks), and one caller can put several such functions in one transaction.

use super::{BeginWrite, Db};

/// An open write transaction. Dropped without `commit`, it rolls back.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$c` bound to the transaction's connection on its backend, so one SQL string
/// serves both (the transaction's twin of `with_pool!`). Use `&mut *$c` for each statement.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}

impl Db {
    /// Opens a write transaction (`BEGIN IMMEDIATE` on SQLite, see `BeginWrite`).
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_write().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin_write().await?),
        })
    }
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}
