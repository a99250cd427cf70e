//! What every request handler and job can reach.

use std::sync::Arc;
use std::time::Duration;

use crate::db::Db;
use crate::error::ApiError;
use crate::ids::{Ids, Kind};
use crate::platforms::Providers;
use crate::sealing::Sealer;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub ids: Arc<Ids>,
    /// Base of the URLs the server hands out, without a trailing slash.
    pub public_url: Arc<str>,
    /// The configured social platforms (OAuth apps and endpoints).
    pub providers: Arc<Providers>,
    /// Encrypts OAuth credentials at rest.
    pub sealer: Arc<Sealer>,
    /// Outgoing HTTP to the platforms.
    pub http: reqwest::Client,
    /// Requests per minute per API key, in this process (`None`: unlimited).
    pub limiter: Option<Arc<KeyLimiter>>,
    /// Wakes this process's job workers when work is enqueued.
    pub job_wakeup: Arc<tokio::sync::Notify>,
    /// What other replicas notify (PostgreSQL `LISTEN`), for whoever subscribes.
    pub hub: crate::db::notify::Hub,
    /// First pause between polls of a platform's asynchronous processing.
    pub publish_poll: Duration,
    /// How often idle workers look for due jobs without being woken.
    pub job_poll: Duration,
    /// How long a claimed job is its worker's; renewed every third of it while the job runs,
    /// so a killed worker's jobs come back within this (see `jobs`).
    pub job_lease: Duration,
    /// Jobs this process runs at once (`--worker-concurrency`).
    pub worker_slots: usize,
    /// Media storage, downloads and signed URLs.
    pub media: Arc<crate::media::Media>,
    /// Per-account publishing quotas last read from the platforms.
    pub quotas: Arc<crate::platforms::quota::Quotas>,
}

/// A token bucket per API key id.
pub type KeyLimiter = governor::DefaultKeyedRateLimiter<i64>;

impl AppState {
    pub fn new(db: Db, ids: Ids, public_url: &str, providers: Providers, sealer: Sealer) -> Self {
        AppState {
            db,
            ids: Arc::new(ids),
            public_url: public_url.trim_end_matches('/').into(),
            providers: Arc::new(providers),
            sealer: Arc::new(sealer),
            http: http_client(),
            limiter: None,
            job_wakeup: Arc::new(tokio::sync::Notify::new()),
            hub: crate::db::notify::Hub::default(),
            // Containers are checked at once, then after 250 ms, 500 ms, 1 s… (a text post is
            // usually ready within a second).
            publish_poll: Duration::from_millis(250),
            job_poll: Duration::from_secs(1),
            job_lease: Duration::from_secs(15),
            worker_slots: 96,
            // Replaced by `with_media` wherever media is handled (serve, tests); commands that
            // never touch media keep this throwaway store.
            media: Arc::new(
                crate::media::Media::open(
                    &std::env::temp_dir().join("postproxy-media").to_string_lossy(),
                    false,
                    &crate::crypto::random_token().into_bytes(),
                )
                .expect("a temporary media directory"),
            ),
            quotas: Arc::default(),
        }
    }

    pub fn with_media(mut self, media: crate::media::Media) -> Self {
        self.media = Arc::new(media);
        self
    }

    /// Limits each API key to `per_minute` requests a minute (bursts up to that many); 0 = no limit.
    pub fn with_rate_limit(mut self, per_minute: u32) -> Self {
        self.limiter = std::num::NonZeroU32::new(per_minute)
            .map(|n| Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(n))));
        self
    }

    /// Tells the workers that jobs were enqueued, so they need not wait for a poll tick: this
    /// process's at once, and on PostgreSQL every replica's (`NOTIFY`; a lost notification only
    /// costs the poll interval).
    pub async fn jobs_enqueued(&self) {
        self.job_wakeup.notify_one();
        if let Err(e) = crate::db::notify::send(&self.db, crate::db::notify::Channel::Jobs, "").await {
            tracing::warn!(error = %e, "could not notify other replicas of new jobs");
        }
    }

    /// Decodes a public id of the given type; anything undecodable is simply not found.
    pub fn decode(&self, kind: Kind, public_id: &str) -> Result<i64, ApiError> {
        self.ids.decode(kind, public_id).ok_or(ApiError::NotFound)
    }

    pub fn encode(&self, kind: Kind, id: i64) -> String {
        self.ids.encode(kind, id)
    }
}

/// One client for all platform calls: bounded timeouts, no redirects followed (a token endpoint
/// that redirects is misconfigured), an identifying User-Agent.
fn http_client() -> reqwest::Client {
    crate::crypto::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("postproxy/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid")
}
