//! Storage: one `Db` type over SQLite and PostgreSQL, with the same SQL text on both.
//!
//! Every query of tenant data takes the caller's account id, so isolation holds by construction.

pub mod accounts;
pub mod api_keys;
pub mod idempotency;
pub mod invitations;
pub mod jobs;
pub mod notify;
pub mod oauth_states;
pub mod posts;
pub mod profile_groups;
pub mod profiles;
pub mod settings;
pub mod tx;
mod types;

pub use tx::Tx;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

/// A connection pool on one of the two supported backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` once per backend with `$p` bound to the concrete pool, so one SQL string serves both.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($p) => $body,
            $crate::db::Db::Postgres($p) => $body,
        }
    };
}

/// Opens a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken
/// up front (waiting out the busy timeout), because a deferred transaction that reads first and
/// writes later fails with `SQLITE_BUSY_SNAPSHOT` whenever another writer committed in between,
/// and no busy handler can save it. PostgreSQL's row locks need nothing special.
pub trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Database>>> + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>>> + Send {
        self.begin()
    }
}

/// Which backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Pool sizing knobs; the defaults suit one server process.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: std::env::var("POSTPROXY_DB_MAX_CONNECTIONS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(8),
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl Db {
    /// Connects to `url`: `postgres://…` selects PostgreSQL; `sqlite:…` or a plain file path selects
    /// SQLite, creating the file when it is missing.
    pub async fn connect(url: &str, cfg: PoolConfig) -> anyhow::Result<Db> {
        match Backend::of_url(url) {
            Backend::Postgres => {
                let opts = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
                // One direct connection first: a pool only reports "timed out", this says why.
                sqlx::Connection::close(
                    <sqlx::PgConnection as sqlx::Connection>::connect_with(&opts)
                        .await
                        .context("cannot connect to PostgreSQL")?,
                )
                .await
                .ok();
                let pool = PgPoolOptions::new()
                    .max_connections(cfg.max_connections)
                    .acquire_timeout(cfg.acquire_timeout)
                    .connect_with(opts)
                    .await
                    .context("cannot connect to PostgreSQL")?;
                Ok(Db::Postgres(pool))
            }
            Backend::Sqlite => {
                let opts = sqlite_options(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let pool = SqlitePoolOptions::new()
                    .max_connections(cfg.max_connections)
                    .acquire_timeout(cfg.acquire_timeout)
                    .connect_with(opts)
                    .await
                    .with_context(|| format!("cannot open SQLite database {}", sqlite_display(url)))?;
                Ok(Db::Sqlite(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the embedded migrations of this backend (idempotent; safe from several replicas,
    /// sqlx takes an advisory lock on PostgreSQL).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await,
            // SQLite has no advisory lock: two processes opening a fresh file at once both try
            // the first pending migration, and the loser fails. Each migration commits
            // atomically, so the loser simply tries again and finds it applied.
            Db::Sqlite(p) => {
                let mut attempt = 0;
                loop {
                    match sqlx::migrate!("migrations/sqlite").run(p).await {
                        Err(_) if attempt < 20 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                        }
                        other => break other,
                    }
                }
            }
        }
        .context("database migration failed")
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> sqlx::Result<()> {
        with_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))
    }

    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}

/// `sqlite://file`, `sqlite:file` and a bare path all name a file.
fn sqlite_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url).context("invalid SQLite URL")
    } else {
        Ok(SqliteConnectOptions::new().filename(url))
    }
}

fn sqlite_display(url: &str) -> &str {
    url.trim_start_matches("sqlite://").trim_start_matches("sqlite:")
}

/// Whether an error is a foreign-key violation (on either backend): the referenced row is gone.
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_foreign_key_violation())
}
