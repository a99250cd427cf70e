//! Opening the database, building the application state, and running the server.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::clock::now_ms;
use crate::crypto;
use crate::db::{self, Db, PoolConfig, settings};
use crate::ids::Ids;
use crate::platforms::Providers;
use crate::sealing::{self, Sealer};
use crate::state::AppState;
use tokio_util::sync::CancellationToken;

/// Connects and applies migrations: every command starts here.
pub async fn open_db(url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(url, PoolConfig::default()).await?;
    db.migrate().await?;
    Ok(db)
}

/// The installation's id codecs, keyed by a secret drawn once and shared through the database.
pub async fn load_ids(db: &Db) -> anyhow::Result<Ids> {
    let secret = settings::get_or_init(db, "id_secret", &crypto::random_token())
        .await
        .context("cannot read the id secret")?;
    Ok(Ids::new(&secret))
}

pub async fn build_state(db: Db, public_url: &str, providers: Providers, sealer: Sealer) -> anyhow::Result<AppState> {
    let ids = load_ids(&db).await?;
    Ok(AppState::new(db, ids, public_url, providers, sealer))
}

/// `media` beside the SQLite file; the working directory's `media` on PostgreSQL.
pub fn default_media_dir(database_url: &str) -> String {
    if database_url.starts_with("sqlite:") {
        let key_file = sealing::key_file_for_sqlite(database_url);
        let dir = key_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| ".".into());
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        dir.join("media").to_string_lossy().into_owned()
    } else {
        std::path::absolute("media")
            .unwrap_or_else(|_| "media".into())
            .to_string_lossy()
            .into_owned()
    }
}

/// The public base URL: as configured, else derived from the listen address.
pub fn public_url(args: &ServeArgs) -> anyhow::Result<String> {
    let url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let parsed = url::Url::parse(&url).with_context(|| format!("invalid public URL {url:?}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some(),
        "invalid public URL {url:?}: must be an absolute http(s) URL"
    );
    Ok(url.trim_end_matches('/').to_string())
}

pub async fn serve(database_url: &str, secret_key: Option<&str>, args: &ServeArgs) -> anyhow::Result<()> {
    crate::crypto::install_crypto_provider();
    let public_url = public_url(args)?;
    let addr: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("invalid listen address {:?} (expected host:port)", args.listen))?;
    let key = sealing::resolve_key(database_url, secret_key)?;
    let providers = Providers::from_env();
    let configured: Vec<&str> = providers.configured().iter().map(|p| p.as_str()).collect();
    let db = open_db(database_url).await?;
    let media_url = args
        .media_url
        .clone()
        .unwrap_or_else(|| default_media_dir(database_url));
    let media_secret = settings::get_or_init(&db, "media_url_secret", &crypto::random_token())
        .await
        .context("cannot read the media URL secret")?;
    let media = crate::media::Media::open(&media_url, args.allow_private_urls, media_secret.as_bytes())?;
    let mut state = build_state(db.clone(), &public_url, providers, Sealer::new(&key))
        .await?
        .with_rate_limit(args.rate_limit_per_minute)
        .with_media(media);
    state.worker_slots = usize::from(args.worker_concurrency);

    if let Some(account) = db::accounts::bootstrap_default(&db, now_ms()).await? {
        // The one time this key exists in plaintext: stdout, never the log.
        println!(
            "Created account \"default\" (id {}) with profile group \"Default\" (id {}).",
            state.encode(crate::ids::Kind::Account, account.account_id),
            state.encode(crate::ids::Kind::ProfileGroup, account.profile_group_id),
        );
        println!("API key (shown only now, store it safely): {}", account.api_key);
        println!("More keys: postproxy admin create-key --account default; accounts: postproxy admin list-accounts");
        println!(
            "Try: curl -H \"Authorization: Bearer {}\" {public_url}/api/profile_groups",
            account.api_key
        );
    }

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, %public_url, backend = ?db.backend(), platforms = ?configured, "postproxy listening");
    let shutdown = CancellationToken::new();
    let worker = crate::jobs::spawn(state.clone(), shutdown.clone());
    let app = crate::http::app(state);
    let signal = shutdown.clone();
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        signal.cancel();
    })
    .await
    .context("server error")?;
    tracing::info!("requests in flight finished");
    shutdown.cancel();
    let _ = worker.await;
    db.close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
