//! Test harness: a fresh database per test and backend, the real router, and fixtures.

use std::str::FromStr;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use postproxy::db::{self, Db, PoolConfig};
use postproxy::domain::platform::Platform;
use postproxy::http::App;
use postproxy::ids::Kind;
use postproxy::platforms::Providers;

use crate::fake_provider::FakeProvider;
use postproxy::sealing::Sealer;
use postproxy::state::AppState;
use serde_json::Value;
use tower::ServiceExt;

/// The one test macro: the test runs once per enabled backend, each time on a fresh database.
/// - `app_test!(name, |t: TestApp| …)`: the app alone;
/// - `app_test!(name, fake, |t: TestApp, fake: FakeProvider| …)`: with a fresh fake platform
///   provider, every platform configured against it;
/// - `app_test!(name, listening, |t: TestApp, fake: FakeProvider, base: String| …)`: also on a
///   real socket at `base` (for clients outside the process, and platforms that pull media).
macro_rules! app_test {
    ($(#[$m:meta])* $name:ident, fake, $body:expr) => {
        $(#[$m])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in $crate::helpers::backends() {
                let fake = $crate::fake_provider::FakeProvider::start().await;
                let t = $crate::helpers::TestApp::builder(backend).fake(&fake).spawn().await;
                ($body)(t, fake).await;
            }
        }
    };
    ($(#[$m:meta])* $name:ident, listening, $body:expr) => {
        $(#[$m])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in $crate::helpers::backends() {
                let fake = $crate::fake_provider::FakeProvider::start().await;
                let t = $crate::helpers::TestApp::builder(backend).fake(&fake).listening().spawn().await;
                let base = t.base.clone();
                ($body)(t, fake, base).await;
            }
        }
    };
    ($(#[$m:meta])* $name:ident, $body:expr) => {
        $(#[$m])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in $crate::helpers::backends() {
                let app = $crate::helpers::TestApp::spawn(backend).await;
                ($body)(app).await;
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL as well when `TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if std::env::var("TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        v.push(Backend::Postgres);
    }
    v
}

/// An account made through the storage layer, with its public ids and full-access key.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub public_id: String,
    pub group_id: i64,
    pub group_public_id: String,
    pub key_id: i64,
    pub key: String,
}

pub struct TestApp {
    pub backend: Backend,
    /// The app's public URL: a real socket's address for `.listening()` apps.
    pub base: String,
    pub db: Db,
    pub db_url: String,
    pub state: AppState,
    pub app: App,
    /// The first account, created on the fresh database.
    pub account: Account,
    _dir: Option<tempfile::TempDir>,
    /// Where this app stores media.
    _media_dir: tempfile::TempDir,
}

/// A `Drop` impl keeps closures in `app_test!` from capturing single fields (and so
/// dropping the temporary database directory while a test still uses its URL).
impl Drop for TestApp {
    fn drop(&mut self) {}
}

/// The sealing key of every test app (tests read sealed rows back with it).
pub const TEST_SECRET_KEY: [u8; 32] = [42; 32];

pub const PUBLIC_URL: &str = "https://postproxy.test";

/// The key of every test app's signed media URLs.
pub const MEDIA_SECRET: &[u8] = b"test media url secret";

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

/// See `TestApp::builder`.
pub struct Builder {
    backend: Backend,
    providers: Providers,
    listening: bool,
}

impl Builder {
    pub fn fake(mut self, fake: &FakeProvider) -> Builder {
        self.providers = fake_providers(fake);
        self
    }

    /// Telegram's Bot API is this fake.
    pub fn telegram(mut self, fake: &crate::fake_telegram::FakeTelegram) -> Builder {
        self.providers
            .insert(credentials_config(Platform::Telegram, fake.api_url(), vec![]));
        self
    }

    /// Bluesky's service, PLC directory and PDS are this fake.
    pub fn bluesky(mut self, fake: &crate::fake_bluesky::FakeBluesky) -> Builder {
        self.providers.insert(credentials_config(
            Platform::Bluesky,
            fake.service_url(),
            vec![("PLC_URL", fake.plc_url())],
        ));
        self
    }

    pub fn providers(mut self, providers: Providers) -> Builder {
        self.providers = providers;
        self
    }

    pub fn listening(mut self) -> Builder {
        self.listening = true;
        self
    }

    pub async fn spawn(self) -> TestApp {
        if !self.listening {
            return TestApp::spawn_at(self.backend, self.providers, PUBLIC_URL).await;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let t = TestApp::spawn_at(self.backend, self.providers, &base).await;
        let app = t.app.clone();
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
            )
            .await;
        });
        t
    }
}

impl TestApp {
    /// A fresh app with every platform configured at an address nothing listens on (tests that
    /// talk to a platform use `builder(..).fake(..)`).
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::builder(backend).spawn().await
    }

    /// The one way to make a test app: `TestApp::builder(backend)`, then `.fake(&fake)` (its
    /// platforms are the fake provider's) or `.providers(..)`, `.listening()` (also on a real
    /// 127.0.0.1 socket, for browsers and SDKs; `t.base` is its address), then `.spawn()`.
    pub fn builder(backend: Backend) -> Builder {
        Builder {
            backend,
            providers: unreachable_providers(),
            listening: false,
        }
    }

    async fn spawn_at(backend: Backend, providers: Providers, public_url: &str) -> TestApp {
        let (db_url, dir) = fresh_database_url(backend).await;
        let db = postproxy::startup::open_db(&db_url).await.expect("open test database");
        let media_dir = tempfile::tempdir().expect("media dir");
        // Downloads may reach 127.0.0.1: the tests' fake servers live there.
        let media =
            postproxy::media::Media::open(&media_dir.path().to_string_lossy(), true, MEDIA_SECRET).expect("media");
        let mut state =
            postproxy::startup::build_state(db.clone(), public_url, providers, Sealer::new(&TEST_SECRET_KEY))
                .await
                .expect("state")
                .with_media(media);
        // Platforms' processing is polled quickly in tests.
        state.publish_poll = std::time::Duration::from_millis(20);
        let app = postproxy::http::app(state.clone());
        let mut t = TestApp {
            backend,
            base: public_url.to_string(),
            db,
            db_url,
            state,
            app,
            account: Account {
                id: 0,
                public_id: String::new(),
                group_id: 0,
                group_public_id: String::new(),
                key_id: 0,
                key: String::new(),
            },
            _dir: dir,
            _media_dir: media_dir,
        };
        t.account = t.new_account("first").await;
        t
    }

    pub async fn new_account(&self, name: &str) -> Account {
        let a = db::accounts::create(&self.db, name, postproxy::clock::now_ms())
            .await
            .expect("create account");
        Account {
            id: a.account_id,
            public_id: self.state.encode(Kind::Account, a.account_id),
            group_id: a.profile_group_id,
            group_public_id: self.state.encode(Kind::ProfileGroup, a.profile_group_id),
            key_id: a.api_key_id,
            key: a.api_key,
        }
    }

    /// A key scoped to one group, returned as (key id, plaintext).
    pub async fn scoped_key(&self, account: &Account, group_id: i64) -> (i64, String) {
        let key = postproxy::crypto::new_api_key();
        let id = db::api_keys::insert(
            &self.db,
            account.id,
            Some(group_id),
            "scoped",
            &key.hash,
            &postproxy::crypto::display_prefix(&key.plaintext),
            postproxy::clock::now_ms(),
        )
        .await
        .expect("insert key");
        (id, key.plaintext)
    }

    pub fn decode_group(&self, public_id: &str) -> i64 {
        self.state
            .ids
            .decode(Kind::ProfileGroup, public_id)
            .expect("a group id")
    }

    /// Inserts a connected profile through the storage layer (the OAuth flow is not needed).
    pub async fn insert_profile(&self, account: &Account, group_id: i64, platform: Platform, external_id: &str) -> i64 {
        db::profiles::insert(
            &self.db,
            &db::profiles::NewProfile {
                account_id: account.id,
                profile_group_id: group_id,
                platform,
                name: "Someone",
                username: Some("someone"),
                avatar_url: None,
                external_id,
                status: "active",
                access_token_enc: Some(b"sealed-access"),
                refresh_token_enc: Some(b"sealed-refresh"),
                expires_at_ms: None,
            },
            postproxy::clock::now_ms(),
        )
        .await
        .expect("insert profile")
    }

    /// Sends a request through the real middleware stack and router (no socket).
    pub async fn raw(&self, req: Request<Body>) -> TestResponse {
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, json: Option<Value>) -> TestResponse {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            b = b.header("authorization", format!("Bearer {k}"));
        }
        let req = match json {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.raw(req).await
    }

    pub async fn get(&self, path: &str, key: &str) -> TestResponse {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, json: Value) -> TestResponse {
        self.call(Method::POST, path, Some(key), Some(json)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> TestResponse {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// Creates a group through the API and returns its public id.
    pub async fn create_group(&self, key: &str, name: &str) -> String {
        let r = self
            .post(
                "/api/profile_groups",
                key,
                serde_json::json!({"profile_group": {"name": name}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}: {}", self.backend, r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Runs a statement straight on the database (to stage states the API cannot produce).
    pub async fn exec(&self, sql: &'static str) {
        postproxy::with_pool!(&self.db, p => sqlx::query(sql).execute(p).await.map(|_| ())).expect(sql)
    }

    /// A count straight from the database, bypassing the API.
    pub async fn count(&self, sql: &'static str) -> i64 {
        postproxy::with_pool!(&self.db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).expect(sql)
    }
}

/// Every platform configured against the fake provider, with the default scopes (LinkedIn also
/// asks for the organisation scopes, so its placements are exercised).
pub fn fake_providers(fake: &FakeProvider) -> Providers {
    let mut providers = Providers::default();
    for p in Platform::ALL {
        if postproxy::platforms::network(p).spec().oauth().is_none() {
            continue; // credential platforms have fakes of their own (`Builder::telegram`)
        }
        let name = p.as_str();
        let mut scopes: Vec<String> = postproxy::platforms::network(p)
            .spec()
            .scopes
            .iter()
            .map(|s| s.to_string())
            .collect();
        if p == Platform::Linkedin {
            scopes.extend(["r_organization_admin".to_string(), "w_organization_social".to_string()]);
        }
        providers.insert(postproxy::platforms::ProviderConfig {
            platform: p,
            client_id: FakeProvider::client_id(name),
            client_secret: FakeProvider::client_secret(name),
            authorize_url: fake.authorize_url(name),
            token_url: fake.token_url(name),
            api_url: fake.api_url(name),
            scopes,
            urls: vec![],
        });
    }
    providers
}

/// A platform connected with credentials (no app), at a fake's address.
pub fn credentials_config(
    platform: Platform,
    api_url: String,
    urls: Vec<(&'static str, String)>,
) -> postproxy::platforms::ProviderConfig {
    postproxy::platforms::ProviderConfig {
        platform,
        client_id: String::new(),
        client_secret: String::new(),
        authorize_url: String::new(),
        token_url: String::new(),
        api_url,
        scopes: vec![],
        urls,
    }
}

/// The platforms that connect through OAuth (the fake provider's).
pub fn oauth_platforms() -> Vec<Platform> {
    Platform::ALL
        .into_iter()
        .filter(|p| postproxy::platforms::network(*p).spec().oauth().is_some())
        .collect()
}

/// Every platform configured, pointing at a closed port.
pub fn unreachable_providers() -> Providers {
    Providers::from_lookup(|k| {
        if k.ends_with("CLIENT_ID") || k.ends_with("CLIENT_SECRET") {
            Some("test".into())
        } else if k.ends_with("_URL") {
            Some("http://127.0.0.1:9/unreachable".into())
        } else {
            None
        }
    })
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Drops, in the background, the test databases earlier runs left behind (each test makes its
/// own and nothing drops it): those named more than an hour ago, or in the old unnamed-time
/// format, so a run going on beside this one keeps its own.
fn sweep_old_databases(base: String) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(async move {
            let Ok(pool) = sqlx::PgPool::connect(&base).await else {
                return;
            };
            let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
            let cutoff = unix_secs().saturating_sub(3600);
            for name in names {
                let made = name.split('_').nth(1).and_then(|t| t.parse::<u64>().ok());
                let old_format = name.len() == 2 + 16 && !name[2..].contains('_');
                if made.is_some_and(|t| t < cutoff) || old_format {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                        .execute(&pool)
                        .await;
                }
            }
        });
    });
}

/// A URL naming a new, empty database (a temp SQLite file, or a new PostgreSQL database).
pub async fn fresh_database_url(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            (url, Some(dir))
        }
        Backend::Postgres => {
            let base = std::env::var("TEST_POSTGRES_URL").expect("TEST_POSTGRES_URL");
            static SWEEP: std::sync::Once = std::sync::Once::new();
            SWEEP.call_once(|| sweep_old_databases(base.clone()));
            // The creation time in the name lets a later run drop what this one leaves.
            let name = format!("t_{}_{}", unix_secs(), hex::encode(rand_bytes()));
            let admin = Db::connect(
                &base,
                PoolConfig {
                    max_connections: 1,
                    acquire_timeout: std::time::Duration::from_secs(5),
                },
            )
            .await
            .expect("connect to TEST_POSTGRES_URL");
            if let Db::Postgres(p) = &admin {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(p)
                    .await
                    .expect("create database");
            }
            admin.close().await;
            let mut url = url::Url::from_str(&base).expect("TEST_POSTGRES_URL is a URL");
            url.set_path(&format!("/{name}"));
            (url.to_string(), None)
        }
    }
}

fn rand_bytes() -> [u8; 8] {
    let token = postproxy::crypto::random_token();
    let mut out = [0u8; 8];
    out.copy_from_slice(&postproxy::crypto::hash_secret(&token)[..8]);
    out
}

/// Every byte stored in every table, as text and blobs, for "no plaintext secret" checks.
pub async fn dump_all_rows(t: &TestApp) -> Vec<u8> {
    const TABLES: [&str; 9] = [
        "accounts",
        "profile_groups",
        "api_keys",
        "profiles",
        "connection_invitations",
        "oauth_states",
        "placements",
        "jobs",
        "server_settings",
    ];
    let mut out = Vec::new();
    for table in TABLES {
        let sql = format!("SELECT * FROM {table}");
        postproxy::with_pool!(&t.db, p => {
            use sqlx::Row;
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(p).await.expect("dump");
            for row in rows {
                for (i, _) in row.columns().iter().enumerate() {
                    if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        out.extend_from_slice(s.as_bytes());
                    } else if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                        out.extend_from_slice(&b);
                    }
                    out.push(0);
                }
            }
        });
    }
    out
}

/// Creates a post with the account's key; its id (the create must answer 200).
pub async fn create_post(t: &TestApp, body: serde_json::Value) -> String {
    let r = t.post("/api/posts", &t.account.key, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// A post as the API shows it (it must exist).
pub async fn get_post(t: &TestApp, id: &str) -> serde_json::Value {
    let r = t.get(&format!("/api/posts/{id}"), &t.account.key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

/// Runs every job that is due, as the worker would, until none is.
pub async fn drain(t: &TestApp) {
    postproxy::jobs::drain(&t.state).await.expect("drain");
}

/// Runs media downloads, then the publishes waiting for them (each round makes what waits due).
pub async fn settle(t: &TestApp) {
    for _ in 0..3 {
        drain(t).await;
        time_passes(t).await;
    }
}

/// Makes every queued job due now (a retry's backoff has passed).
pub async fn time_passes(t: &TestApp) {
    t.exec("UPDATE jobs SET run_at_ms = 0 WHERE state = 'queued'").await;
}
