//! One door to PostgreSQL's `LISTEN`/`NOTIFY`, for what replicas must tell each other at once:
//! `send` notifies every replica on a channel, and a process's `Hub` keeps one listening
//! connection for all channels and hands each notification to whoever subscribed (the job
//! workers today; the API-key cache's revocations next). On SQLite one process serves the file:
//! nothing is sent or heard, and in-process wake-ups cover it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::Db;

/// What replicas notify each other of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// New jobs were enqueued: workers look at the queue now.
    Jobs,
}

impl Channel {
    pub const ALL: [Channel; 1] = [Channel::Jobs];

    /// The PostgreSQL channel name (kept across releases: replicas of two versions talk).
    pub fn name(self) -> &'static str {
        match self {
            Channel::Jobs => "postproxy_jobs",
        }
    }

    fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A notification another replica (or this one) sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: Channel,
    pub payload: String,
}

/// Notifies every replica on `channel` (PostgreSQL; nothing on SQLite).
pub async fn send(db: &Db, channel: Channel, payload: &str) -> sqlx::Result<()> {
    match db {
        Db::Postgres(p) => sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel.name())
            .bind(payload)
            .execute(p)
            .await
            .map(|_| ()),
        Db::Sqlite(_) => Ok(()),
    }
}

/// This process's listening side: one connection, every channel, any number of subscribers.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Notification>,
    listening: Arc<AtomicBool>,
}

impl Default for Hub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(256);
        Hub {
            sender,
            listening: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Hub {
    /// Every notification heard from now on. A subscriber that falls behind is told so
    /// (`RecvError::Lagged`) and should act as if it heard everything (look again).
    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.sender.subscribe()
    }

    /// Starts listening on PostgreSQL until `shutdown` (once per process; a call while it
    /// listens does nothing). `PgListener` reconnects by itself; should it fail anyway, it
    /// tries again every 5 s, and subscribers' own polls cover the gap.
    pub fn start(&self, db: &Db, shutdown: CancellationToken) {
        let Db::Postgres(pool) = db else { return };
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let (pool, sender, listening) = (pool.clone(), self.sender.clone(), self.listening.clone());
        tokio::spawn(async move {
            listen(pool, sender, shutdown).await;
            listening.store(false, Ordering::SeqCst);
        });
    }
}

async fn listen(pool: sqlx::PgPool, sender: broadcast::Sender<Notification>, shutdown: CancellationToken) {
    let retry = Duration::from_secs(5);
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for notifications; polling only");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(retry) => continue,
                }
            }
        };
        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.name()).collect();
        if let Err(e) = listener.listen_all(names).await {
            tracing::warn!(error = %e, "cannot listen for notifications; polling only");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(retry) => continue,
            }
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                n = listener.recv() => match n {
                    Ok(n) => {
                        if let Some(channel) = Channel::from_name(n.channel()) {
                            // No subscriber is not an error: nobody needed to hear it.
                            let _ = sender.send(Notification { channel, payload: n.payload().to_string() });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "notifications interrupted; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}
