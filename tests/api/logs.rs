//! No secret ever reaches the logs: every scenario of the connection flow, refresh, revocation,
//! idempotency and authentication runs with logging at TRACE level captured, and the capture is
//! searched for every API key, token, code, invitation token and OAuth state in play.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;

use crate::connect::{callback, invite, start};
use crate::fake_provider::FakeProvider;
use crate::helpers::{TestApp, backends};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything secret that a scenario handled.
async fn scenario(backend: crate::helpers::Backend) -> Vec<String> {
    let fake = FakeProvider::start().await;
    let tg = crate::fake_telegram::FakeTelegram::start().await;
    let bsky = crate::fake_bluesky::FakeBluesky::start().await;
    let t = TestApp::builder(backend)
        .fake(&fake)
        .telegram(&tg)
        .bluesky(&bsky)
        .spawn()
        .await;
    let mut secrets = vec![t.account.key.clone()];
    // Telegram: the bot token travels in URL paths; connect, post, fail on a revoked token.
    let bot = tg.add_bot("Log Bot", "log_bot");
    let connect = format!(
        "/api/profile_groups/{}/initialize_connection",
        t.account.group_public_id
    );
    let r = t
        .post(
            &connect,
            &t.account.key,
            json!({"platform": "telegram", "bot_token": bot}),
        )
        .await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text);
    tg.set_member(&bot, -1001, "Logs", Some("logs"), "channel", "administrator");
    let post = json!({"post": {"body": "logged"}, "profiles": ["telegram"],
                      "platforms": {"telegram": {"chat_id": "-1001"}}});
    t.post("/api/posts", &t.account.key, post.clone()).await;
    postproxy::jobs::drain(&t.state).await.unwrap();
    let renewed = tg.revoke(&bot);
    t.post("/api/posts", &t.account.key, post).await;
    postproxy::jobs::drain(&t.state).await.unwrap();
    for token in [&bot, &renewed] {
        secrets.push(token.split(':').nth(1).unwrap().to_string());
    }
    // Bluesky: an app password, sessions renewed and signed in again, a refused sign-in.
    let app_password = "logs-pass-word-1234";
    let did = bsky.add_account("logs.test", "Logs", app_password);
    for password in ["wrong-pass-word-0000", app_password] {
        t.post(
            &connect,
            &t.account.key,
            json!({"platform": "bluesky", "identifier": "logs.test", "app_password": password}),
        )
        .await;
    }
    bsky.expire_access_tokens();
    t.post(
        "/api/posts",
        &t.account.key,
        json!({"post": {"body": "b1"}, "profiles": ["bluesky"]}),
    )
    .await;
    postproxy::jobs::drain(&t.state).await.unwrap();
    bsky.expire_sessions();
    t.post(
        "/api/posts",
        &t.account.key,
        json!({"post": {"body": "b2"}, "profiles": ["bluesky"]}),
    )
    .await;
    postproxy::jobs::drain(&t.state).await.unwrap();
    bsky.revoke_app_password(&did);
    t.post(
        "/api/posts",
        &t.account.key,
        json!({"post": {"body": "b3"}, "profiles": ["bluesky"]}),
    )
    .await;
    postproxy::jobs::drain(&t.state).await.unwrap();
    assert!(bsky.records().len() == 2, "the Bluesky scenario ran");
    secrets.push(app_password.to_string());
    secrets.push("wrong-pass-word-0000".to_string());
    secrets.extend(bsky.minted());
    drop(tg); // unreachable: the connection error names the URL, never the token
    t.post(
        &connect,
        &t.account.key,
        json!({"platform": "telegram", "bot_token": renewed, "refresh_connection": true}),
    )
    .await;
    for p in crate::helpers::oauth_platforms() {
        fake.set_expires_in(p.as_str(), 60);
    }
    // Connections (recording each invitation token and OAuth state), failures included.
    for p in crate::helpers::oauth_platforms() {
        let path = invite(&t, &t.account.group_public_id, p.as_str(), false).await;
        secrets.push(path.rsplit('/').next().unwrap().to_string());
        fake.fail_token_exchange(p.as_str());
        let authorize = start(&t, &path).await;
        let back = fake.approve(&authorize).unwrap();
        callback(&t, &back).await;
        fake.clear_failures(p.as_str());
        let authorize = start(&t, &path).await;
        let state = url::Url::parse(&authorize)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.to_string())
            .unwrap();
        secrets.push(state);
        callback(&t, &fake.approve(&authorize).unwrap()).await;
    }
    // The same account again through a second group's invitation of the first group: refused.
    let again = invite(&t, &t.account.group_public_id, "twitter", true).await;
    callback(&t, &fake.approve(&start(&t, &again).await).unwrap()).await;
    let other = t.create_group(&t.account.key, "Second").await;
    crate::connect::connect_in(&t, &fake, &other, "youtube").await;
    // Refresh (success and rejection), revocation on delete.
    postproxy::jobs::schedule_tick(&t.state).await.unwrap();
    postproxy::jobs::drain(&t.state).await.unwrap();
    fake.reject_refresh("tiktok", false);
    fake.expire_access_tokens("tiktok");
    t.exec("UPDATE profiles SET access_expires_at_ms = 1").await;
    postproxy::jobs::schedule_tick(&t.state).await.unwrap();
    postproxy::jobs::drain(&t.state).await.unwrap();
    let profiles = t.get("/api/profiles", &t.account.key).await.body["data"].clone();
    for p in profiles.as_array().unwrap() {
        t.delete(&format!("/api/profiles/{}", p["id"].as_str().unwrap()), &t.account.key)
            .await;
    }
    // Authentication failures and an idempotent write.
    let revoked = t.new_account("revoked").await;
    postproxy::db::api_keys::revoke(&t.db, revoked.key_id, 0).await.unwrap();
    secrets.push(revoked.key.clone());
    t.get("/api/profile_groups", &revoked.key).await;
    let wrong = format!("{}x", t.account.key);
    t.get("/api/profile_groups", &wrong).await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/profile_groups")
        .header("authorization", format!("Bearer {}", t.account.key))
        .header("content-type", "application/json")
        .header("idempotency-key", "log-test")
        .body(Body::from(json!({"name": "Logged"}).to_string()))
        .unwrap();
    t.raw(req).await;
    secrets.extend(fake.minted_secrets());
    secrets
}

#[test]
fn logs_never_contain_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests run on other threads without a subscriber; a callsite they register at the
    // moment this one is installed can cache "never". Recompute every callsite's interest now
    // that this subscriber exists.
    tracing::callsite::rebuild_interest_cache();
    // One thread, so every task's events reach this thread's subscriber.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut secrets = Vec::new();
    for backend in backends() {
        tracing::callsite::rebuild_interest_cache();
        secrets.extend(rt.block_on(scenario(backend)));
    }
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).to_string();
    assert!(logs.contains("profile connected"), "the capture works");
    assert!(logs.contains("tokens refreshed") && logs.contains("refresh rejected"));
    assert!(secrets.len() > 40, "{}", secrets.len());
    for s in &secrets {
        assert!(s.len() >= 16, "{s}");
        assert!(
            !logs.contains(s.as_str()),
            "a secret ({}…) appears in the logs",
            &s[..8]
        );
    }
}
