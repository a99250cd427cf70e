//! The hosted OAuth connection flow against the fake provider, for all seven platforms.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use postproxy::domain::platform::Platform;
use serde_json::{Value, json};

use crate::fake_provider::FakeProvider;
use crate::helpers::{PUBLIC_URL, TestApp, TestResponse};

pub const REDIRECT_URL: &str = "https://customer.example/done?ref=42";

/// `initialize_connection` → the `/partner_connect/<token>` path.
pub async fn invite(t: &TestApp, group: &str, platform: &str, refresh: bool) -> String {
    let r = t
        .post(
            &format!("/api/profile_groups/{group}/initialize_connection"),
            &t.account.key,
            json!({"platform": platform, "redirect_url": REDIRECT_URL, "refresh_connection": refresh}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{platform}: {}", r.text);
    let url = r.body["url"].as_str().unwrap();
    url.strip_prefix(&*t.state.public_url)
        .unwrap_or_else(|| panic!("{url} is not under the public URL"))
        .to_string()
}

/// Presses "Continue" on the connection page → the platform's authorize URL.
pub async fn start(t: &TestApp, invite_path: &str) -> String {
    let r = t
        .raw(
            Request::builder()
                .method("POST")
                .uri(invite_path)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
    r.headers["location"].to_str().unwrap().to_string()
}

/// Follows the platform's redirect back to our callback.
pub async fn callback(t: &TestApp, callback_url: &str) -> TestResponse {
    let path = callback_url
        .strip_prefix(&*t.state.public_url)
        .expect("callback on our public URL");
    t.call(Method::GET, path, None, None).await
}

/// The query of a redirect to the customer's `redirect_url`.
pub fn redirect_query(r: &TestResponse) -> HashMap<String, String> {
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
    let loc = r.headers["location"].to_str().unwrap();
    assert!(loc.starts_with("https://customer.example/done?ref=42&"), "{loc}");
    url::Url::parse(loc).unwrap().query_pairs().into_owned().collect()
}

/// The whole round trip into the default group; returns the new profile's id.
pub async fn connect(t: &TestApp, fake: &FakeProvider, platform: &str) -> String {
    connect_in(t, fake, &t.account.group_public_id, platform).await
}

/// The whole round trip into `group`; returns the new profile's id.
pub async fn connect_in(t: &TestApp, fake: &FakeProvider, group: &str, platform: &str) -> String {
    let path = invite(t, group, platform, false).await;
    let page = t.call(Method::GET, &path, None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    let authorize = start(t, &path).await;
    let back = fake
        .approve(&authorize)
        .unwrap_or_else(|e| panic!("{platform}: the fake provider refused: {e}"));
    let q = redirect_query(&callback(t, &back).await);
    assert_eq!(
        q.get("status").map(String::as_str),
        Some("success"),
        "{platform}: {q:?}"
    );
    assert_eq!(q["platform"], platform);
    q["profile_id"].clone()
}

async fn profile(t: &TestApp, id: &str) -> Value {
    let r = t.get(&format!("/api/profiles/{id}"), &t.account.key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

async fn count(t: &TestApp, table: &'static str) -> i64 {
    t.count(match table {
        "profiles" => "SELECT COUNT(*) FROM profiles",
        "placements" => "SELECT COUNT(*) FROM placements",
        _ => unreachable!(),
    })
    .await
}

app_test!(
    round_trip_for_every_platform,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        for platform in crate::helpers::oauth_platforms() {
            let name = platform.as_str();
            let id = connect(&t, &fake, name).await;
            let p = profile(&t, &id).await;
            assert_eq!(p["platform"], name);
            assert_eq!(p["status"], "active");
            assert_eq!(p["profile_group_id"], t.account.group_public_id.as_str());
            assert_eq!(p["post_count"], 0);
            assert_eq!(p["platform_id"], format!("{name}-user-1"), "{p}");
            assert!(p["name"].as_str().unwrap().starts_with("Fake "), "{p}");
            for key in [
                "id",
                "name",
                "status",
                "platform",
                "profile_group_id",
                "expires_at",
                "post_count",
                "avatar_url",
                "username",
                "platform_id",
            ] {
                assert!(p.get(key).is_some(), "{name}: {key} missing in {p}");
            }
            // expires_at tells the truth per platform.
            let expires = p["expires_at"].as_str();
            match platform {
                Platform::Twitter | Platform::Youtube => assert_eq!(expires, None, "{name}: {p}"),
                _ => assert!(expires.is_some_and(|e| e.ends_with('Z')), "{name}: {p}"),
            }
        }
        let list = t.get("/api/profiles", &t.account.key).await;
        assert_eq!(list.body["data"].as_array().unwrap().len(), 7);
        let group = t
            .get(
                &format!("/api/profile_groups/{}", t.account.group_public_id),
                &t.account.key,
            )
            .await;
        assert_eq!(group.body["profiles_count"], 7);
        // Each invitation was consumed.
        assert_eq!(
            t.count("SELECT COUNT(*) FROM connection_invitations WHERE used_at_ms IS NULL")
                .await,
            0
        );
    }
);

app_test!(
    platform_quirks_reach_the_wire,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        for p in ["tiktok", "twitter", "youtube", "facebook", "instagram", "threads"] {
            connect(&t, &fake, p).await;
        }
        let reqs = fake.requests();
        let token_call = |p: &str| {
            reqs.iter()
                .find(|r| r.platform == p && r.path == format!("/{p}/token"))
                .unwrap_or_else(|| panic!("no token call for {p}"))
                .clone()
        };
        // TikTok: client_key, not client_id.
        let tk = token_call("tiktok");
        assert_eq!(tk.form_param("client_key"), Some("client-tiktok"));
        assert_eq!(tk.form_param("client_id"), None);
        // X: HTTP Basic client authentication and a PKCE verifier.
        let x = token_call("twitter");
        assert!(
            x.authorization.as_deref().is_some_and(|a| a.starts_with("Basic ")),
            "{x:?}"
        );
        assert!(x.form_param("code_verifier").is_some_and(|v| v.len() >= 43));
        // Google: offline access was asked for (so a refresh token came back), with PKCE.
        let g = token_call("youtube");
        assert!(g.form_param("code_verifier").is_some());
        // Meta: short-lived tokens were swapped for long-lived ones.
        assert!(
            reqs.iter()
                .any(|r| r.query_param("grant_type") == Some("fb_exchange_token"))
        );
        assert!(
            reqs.iter()
                .any(|r| r.query_param("grant_type") == Some("ig_exchange_token"))
        );
        assert!(
            reqs.iter()
                .any(|r| r.query_param("grant_type") == Some("th_exchange_token"))
        );
        // Facebook's token endpoint is a GET.
        assert_eq!(token_call("facebook").method, "GET");
    }
);

app_test!(
    placements_for_facebook_pages_and_linkedin_organisations,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let fb = connect(&t, &fake, "facebook").await;
        let li = connect(&t, &fake, "linkedin").await;
        let x = connect(&t, &fake, "twitter").await;
        let r = t.get(&format!("/api/profiles/{fb}/placements"), &t.account.key).await;
        assert_eq!(r.status, StatusCode::OK);
        let pages = r.body["data"].as_array().unwrap();
        assert_eq!(pages.len(), 2, "{}", r.body);
        for p in pages {
            assert!(
                p["id"].is_string() && p["name"].is_string() && p.get("avatar_url").is_some(),
                "{p}"
            );
        }
        let r = t.get(&format!("/api/profiles/{li}/placements"), &t.account.key).await;
        assert_eq!(r.body["data"][0]["id"], crate::fake_provider::DEFAULT_LINKEDIN_ORG_ID);
        let r = t.get(&format!("/api/profiles/{x}/placements"), &t.account.key).await;
        assert_eq!(r.body, json!({"data": []}));
        // Page tokens are stored sealed too.
        let sealed: Vec<Option<Vec<u8>>> = postproxy::with_pool!(&t.db, p =>
        sqlx::query_scalar("SELECT access_token_enc FROM placements").fetch_all(p).await)
        .unwrap();
        assert_eq!(sealed.iter().filter(|s| s.is_some()).count(), 2);
    }
);

app_test!(
    denial_creates_nothing,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        for p in ["twitter", "linkedin", "facebook"] {
            let path = invite(&t, &t.account.group_public_id, p, false).await;
            let back = fake.deny(&start(&t, &path).await).unwrap();
            let q = redirect_query(&callback(&t, &back).await);
            assert_eq!(q["status"], "error");
            assert_eq!(q["error"], "access_denied", "{p}: {q:?}");
            assert!(!q["error_description"].is_empty());
        }
        assert_eq!(count(&t, "profiles").await, 0);
        assert_eq!(
            t.count("SELECT COUNT(*) FROM connection_invitations WHERE used_at_ms IS NOT NULL")
                .await,
            0
        );
    }
);

app_test!(
    bad_and_replayed_state,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let path = invite(&t, &t.account.group_public_id, "twitter", false).await;
        let back = fake.approve(&start(&t, &path).await).unwrap();
        // A tampered state: we cannot know whose it is, so an HTML error page, and nothing happens.
        let tampered = back.replace("state=", "state=x");
        let r = callback(&t, &tampered).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(r.text.contains("not valid"));
        // Missing state, unknown platform.
        let r = t
            .call(Method::GET, "/oauth/callback/twitter?code=abc", None, None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = t
            .call(Method::GET, "/oauth/callback/myspace?code=abc&state=x", None, None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // A state presented on another platform's callback is refused.
        let other = back.replace("/oauth/callback/twitter", "/oauth/callback/tiktok");
        assert_eq!(callback(&t, &other).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(count(&t, "profiles").await, 0);

        // The genuine callback works once; a replay is refused and changes nothing.
        let q = redirect_query(&callback(&t, &back).await);
        assert_eq!(q["status"], "success");
        let q = redirect_query(&callback(&t, &back).await);
        assert_eq!((q["status"].as_str(), q["error"].as_str()), ("error", "invalid_state"));
        assert_eq!(count(&t, "profiles").await, 1);
    }
);

app_test!(
    expired_and_used_invitations,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        // Expired before the page is opened: a friendly 410.
        let path = invite(&t, &t.account.group_public_id, "tiktok", false).await;
        t.exec("UPDATE connection_invitations SET expires_at_ms = 1").await;
        let r = t.call(Method::GET, &path, None, None).await;
        assert_eq!(r.status, StatusCode::GONE);
        assert!(r.text.contains("expired"));
        let r = t
            .raw(
                Request::builder()
                    .method("POST")
                    .uri(&path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::GONE);

        // Expired while the user was at the platform: back to redirect_url with an error.
        let path = invite(&t, &t.account.group_public_id, "tiktok", false).await;
        let back = fake.approve(&start(&t, &path).await).unwrap();
        t.exec("UPDATE connection_invitations SET expires_at_ms = 1").await;
        let q = redirect_query(&callback(&t, &back).await);
        assert_eq!(q["error"], "invitation_expired");
        assert_eq!(count(&t, "profiles").await, 0);

        // Unknown and used invitations.
        let r = t
            .call(Method::GET, "/partner_connect/nonexistent-token", None, None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        let path = invite(&t, &t.account.group_public_id, "threads", false).await;
        let back = fake.approve(&start(&t, &path).await).unwrap();
        assert_eq!(redirect_query(&callback(&t, &back).await)["status"], "success");
        let r = t.call(Method::GET, &path, None, None).await;
        assert_eq!(r.status, StatusCode::GONE);
        assert!(r.text.contains("already been used"));
    }
);

app_test!(
    token_exchange_and_identity_failures_leave_nothing,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        for p in crate::helpers::oauth_platforms().into_iter().map(|p| p.as_str()) {
            fake.fail_token_exchange(p);
            let path = invite(&t, &t.account.group_public_id, p, false).await;
            let back = fake.approve(&start(&t, &path).await).unwrap();
            let q = redirect_query(&callback(&t, &back).await);
            assert_eq!(
                (q["status"].as_str(), q["error"].as_str()),
                ("error", "token_exchange_failed"),
                "{p}"
            );
            fake.clear_failures(p);

            fake.fail_identity(p);
            // The same invitation can be retried: it was not consumed by the failure.
            let back = fake.approve(&start(&t, &path).await).unwrap();
            let q = redirect_query(&callback(&t, &back).await);
            assert_eq!(
                (q["status"].as_str(), q["error"].as_str()),
                ("error", "identity_fetch_failed"),
                "{p}"
            );
            fake.clear_failures(p);

            let back = fake.approve(&start(&t, &path).await).unwrap();
            assert_eq!(redirect_query(&callback(&t, &back).await)["status"], "success", "{p}");
        }
        assert_eq!(count(&t, "profiles").await, 7);
    }
);

app_test!(
    reconnect_updates_the_same_profile,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let id = connect(&t, &fake, "linkedin").await;
        let before =
            postproxy::db::profiles::credentials(&t.db, t.state.decode(postproxy::ids::Kind::Profile, &id).unwrap())
                .await
                .unwrap()
                .unwrap();
        // Without refresh_connection the API refuses up front.
        let r = t
            .post(
                &format!(
                    "/api/profile_groups/{}/initialize_connection",
                    t.account.group_public_id
                ),
                &t.account.key,
                json!({"platform": "linkedin", "redirect_url": REDIRECT_URL}),
            )
            .await;
        assert_eq!(
            r.body,
            json!({"error": "Platform already connected", "errors": ["Platform already connected"]})
        );
        // With it, the same profile is updated with new tokens.
        let path = invite(&t, &t.account.group_public_id, "linkedin", true).await;
        let back = fake.approve(&start(&t, &path).await).unwrap();
        let q = redirect_query(&callback(&t, &back).await);
        assert_eq!(q["status"], "success");
        assert_eq!(q["profile_id"], id);
        let after = postproxy::db::profiles::credentials(&t.db, before.id)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(after.access_token_enc, before.access_token_enc);
        assert_eq!(count(&t, "profiles").await, 1);
        assert_eq!(count(&t, "placements").await, 1, "placements replaced, not duplicated");
    }
);

app_test!(
    same_account_twice_without_reconnect_is_refused,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        // Two invitations issued before either completes: the second finds the account connected.
        let a = invite(&t, &t.account.group_public_id, "youtube", false).await;
        let b = invite(&t, &t.account.group_public_id, "youtube", false).await;
        let back_a = fake.approve(&start(&t, &a).await).unwrap();
        let back_b = fake.approve(&start(&t, &b).await).unwrap();
        assert_eq!(redirect_query(&callback(&t, &back_a).await)["status"], "success");
        let q = redirect_query(&callback(&t, &back_b).await);
        assert_eq!(
            (q["status"].as_str(), q["error"].as_str()),
            ("error", "already_connected")
        );
        assert_eq!(count(&t, "profiles").await, 1);
        // The refused invitation was not consumed.
        assert_eq!(
            t.count("SELECT COUNT(*) FROM connection_invitations WHERE used_at_ms IS NULL")
                .await,
            1
        );
    }
);

app_test!(
    no_token_is_stored_in_plaintext,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        for p in crate::helpers::oauth_platforms() {
            connect(&t, &fake, p.as_str()).await;
        }
        let secrets = fake.minted_secrets();
        assert!(secrets.len() > 20, "{}", secrets.len());
        let dump = crate::helpers::dump_all_rows(&t).await;
        for s in &secrets {
            assert!(
                !dump.windows(s.len()).any(|w| w == s.as_bytes()),
                "plaintext {s} found in the database"
            );
        }
        // …and the sealed values open with the key to exactly the fake's tokens.
        let row = postproxy::db::profiles::credentials(&t.db, 1).await.unwrap().unwrap();
        let platform = row.platform;
        let key = postproxy::credentials::ProfileKey {
            account_id: row.account_id,
            platform,
            external_id: &row.external_id,
        };
        let token = key
            .open(
                &t.state.sealer,
                postproxy::credentials::Column::AccessToken,
                row.access_token_enc.as_ref().unwrap(),
            )
            .unwrap();
        assert!(fake.valid_access_tokens(platform.as_str()).contains(&token));
    }
);

app_test!(
    refresh_renews_tokens_before_expiry,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        // Short-lived tokens so every profile is due at once.
        for p in [
            "twitter",
            "youtube",
            "tiktok",
            "instagram",
            "threads",
            "facebook",
            "linkedin",
        ] {
            fake.set_expires_in(p, 120);
        }
        let mut ids = Vec::new();
        for p in crate::helpers::oauth_platforms() {
            ids.push((p, connect(&t, &fake, p.as_str()).await));
        }
        let old_x_refresh = fake.valid_refresh_tokens("twitter");
        assert_eq!(postproxy::jobs::schedule_tick(&t.state).await.unwrap(), 7);
        // A second tick enqueues nothing more: one pending refresh per profile.
        assert_eq!(postproxy::jobs::schedule_tick(&t.state).await.unwrap(), 0);
        assert_eq!(postproxy::jobs::drain(&t.state).await.unwrap(), 7);
        for (p, id) in &ids {
            let prof = profile(&t, id).await;
            assert_eq!(prof["status"], "active", "{p}: {prof}");
            let row =
                postproxy::db::profiles::credentials(&t.db, t.state.decode(postproxy::ids::Kind::Profile, id).unwrap())
                    .await
                    .unwrap()
                    .unwrap();
            let key = postproxy::credentials::ProfileKey {
                account_id: row.account_id,
                platform: *p,
                external_id: &row.external_id,
            };
            let token = key
                .open(
                    &t.state.sealer,
                    postproxy::credentials::Column::AccessToken,
                    row.access_token_enc.as_ref().unwrap(),
                )
                .unwrap();
            assert!(
                fake.valid_access_tokens(p.as_str()).contains(&token),
                "{p}: stored token is current"
            );
        }
        // X rotated its refresh token and we kept the new one (the old one no longer works).
        let new_x_refresh = fake.valid_refresh_tokens("twitter");
        assert_ne!(old_x_refresh, new_x_refresh);
        assert!(
            fake.requests()
                .iter()
                .any(|r| r.platform == "twitter" && r.form_param("grant_type") == Some("refresh_token"))
        );
        assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE state = 'done'").await, 7);
    }
);

app_test!(
    rejected_refresh_expires_and_revoked_access_deactivates,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        fake.set_expires_in("twitter", 60);
        fake.set_expires_in("instagram", 60);
        let x = connect(&t, &fake, "twitter").await;
        let ig = connect(&t, &fake, "instagram").await;
        fake.reject_refresh("twitter", false);
        fake.reject_refresh("instagram", true);
        postproxy::jobs::schedule_tick(&t.state).await.unwrap();
        postproxy::jobs::drain(&t.state).await.unwrap();
        assert_eq!(profile(&t, &x).await["status"], "expired");
        assert_eq!(profile(&t, &ig).await["status"], "inactive");
        // Neither is refreshed again.
        assert_eq!(postproxy::jobs::schedule_tick(&t.state).await.unwrap(), 0);
        // A reconnect brings the profile back.
        let path = invite(&t, &t.account.group_public_id, "twitter", true).await;
        fake.clear_failures("twitter");
        let back = fake.approve(&start(&t, &path).await).unwrap();
        assert_eq!(redirect_query(&callback(&t, &back).await)["profile_id"], x);
        assert_eq!(profile(&t, &x).await["status"], "active");
    }
);

app_test!(
    lapsed_connections_are_marked_expired,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let id = connect(&t, &fake, "linkedin").await;
        t.exec("UPDATE profiles SET expires_at_ms = 1, access_expires_at_ms = NULL")
            .await;
        postproxy::jobs::schedule_tick(&t.state).await.unwrap();
        assert_eq!(profile(&t, &id).await["status"], "expired");
    }
);

app_test!(
    transient_refresh_failures_retry_without_changing_status,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        fake.set_expires_in("tiktok", 60);
        let id = connect(&t, &fake, "tiktok").await;
        // The platform goes away: the refresh fails with a connection error and is retried later.
        drop(fake);
        postproxy::jobs::schedule_tick(&t.state).await.unwrap();
        assert_eq!(postproxy::jobs::drain(&t.state).await.unwrap(), 1);
        assert_eq!(profile(&t, &id).await["status"], "active");
        let (attempts, state, run_at): (i64, String, i64) = postproxy::with_pool!(&t.db, p =>
        sqlx::query_as("SELECT attempts, state, run_at_ms FROM jobs").fetch_one(p).await)
        .unwrap();
        assert_eq!((attempts, state.as_str()), (1, "queued"));
        assert!(run_at > postproxy::clock::now_ms() + 20_000, "backed off");
    }
);

app_test!(
    profiles_api_scoping_and_delete,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let key = t.account.key.clone();
        let x = connect(&t, &fake, "twitter").await;
        let other_group = t.create_group(&key, "Client").await;
        let path = invite(&t, &other_group, "tiktok", false).await;
        let back = fake.approve(&start(&t, &path).await).unwrap();
        let tk = redirect_query(&callback(&t, &back).await)["profile_id"].clone();

        // Filter by group; scoped keys see only their group.
        let r = t
            .get(&format!("/api/profiles?profile_group_id={other_group}"), &key)
            .await;
        let ids: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [tk.as_str()]);
        let (_, scoped) = t.scoped_key(&t.account, t.decode_group(&other_group)).await;
        let r = t.get("/api/profiles", &scoped).await;
        assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(
            t.get(&format!("/api/profiles/{x}"), &scoped).await.status,
            StatusCode::NOT_FOUND
        );
        let r = t
            .get(
                &format!("/api/profiles?profile_group_id={}", t.account.group_public_id),
                &scoped,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            t.get("/api/profiles?profile_group_id=garbage", &key).await.status,
            StatusCode::NOT_FOUND
        );

        // Another account sees nothing of ours.
        let intruder = t.new_account("intruder").await;
        assert_eq!(t.get("/api/profiles", &intruder.key).await.body, json!({"data": []}));
        for path in [format!("/api/profiles/{x}"), format!("/api/profiles/{x}/placements")] {
            assert_eq!(t.get(&path, &intruder.key).await.status, StatusCode::NOT_FOUND);
        }
        assert_eq!(
            t.delete(&format!("/api/profiles/{x}"), &intruder.key).await.status,
            StatusCode::NOT_FOUND
        );
        // A profile id is not a group id and vice versa.
        assert_eq!(
            t.get(&format!("/api/profiles/{other_group}"), &key).await.status,
            StatusCode::NOT_FOUND
        );

        // Delete: revoked at the platform, then gone.
        let x_token = fake.valid_access_tokens("twitter");
        let r = t.delete(&format!("/api/profiles/{x}"), &key).await;
        assert_eq!((r.status, r.body), (StatusCode::OK, json!({"success": true})));
        assert!(fake.revoked_tokens().iter().any(|tok| x_token.contains(tok)));
        assert_eq!(
            t.get(&format!("/api/profiles/{x}"), &key).await.status,
            StatusCode::NOT_FOUND
        );
        // Deleting still works when the platform's revocation fails (it is best effort).
        drop(fake);
        let r = t.delete(&format!("/api/profiles/{tk}"), &key).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(count(&t, "profiles").await, 0);
    }
);

app_test!(
    connection_page_is_safe_html,
    fake,
    |t: TestApp, _fake: FakeProvider| async move {
        let key = t.account.key.clone();
        let group = t.create_group(&key, "<script>alert(1)</script> & Co").await;
        let path = invite(&t, &group, "instagram", false).await;
        let r = t.call(Method::GET, &path, None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text.contains("Continue to Instagram"));
        assert!(r.text.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
        assert!(!r.text.contains("<script>"));
        assert!(r.text.contains("name=\"viewport\""));
        let h = &r.headers;
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
);

app_test!(
    refresh_runs_once_across_replicas,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        // Five X profiles (rotating refresh tokens: a second concurrent refresh of one of them
        // would fail and expire it), in five groups.
        fake.set_expires_in("twitter", 60);
        let key = t.account.key.clone();
        let mut ids = Vec::new();
        for i in 0..5 {
            let group = t.create_group(&key, &format!("Brand {i}")).await;
            fake.set_identity(
                "twitter",
                &format!("x-{i}"),
                &format!("Brand {i}"),
                &format!("brand{i}"),
            );
            let path = invite(&t, &group, "twitter", false).await;
            let back = fake.approve(&start(&t, &path).await).unwrap();
            ids.push(redirect_query(&callback(&t, &back).await)["profile_id"].clone());
        }
        // A second replica: its own pool on the same database.
        let db2 = postproxy::db::Db::connect(&t.db_url, Default::default()).await.unwrap();
        let replica = postproxy::startup::build_state(
            db2,
            PUBLIC_URL,
            crate::helpers::fake_providers(&fake),
            postproxy::sealing::Sealer::new(&crate::helpers::TEST_SECRET_KEY),
        )
        .await
        .unwrap();
        let (a, b) = tokio::join!(
            postproxy::jobs::schedule_tick(&t.state),
            postproxy::jobs::schedule_tick(&replica)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 5, "each due profile enqueued once");
        let (a, b) = tokio::join!(postproxy::jobs::drain(&t.state), postproxy::jobs::drain(&replica));
        assert_eq!(a.unwrap() + b.unwrap(), 5, "each job run once");
        let refreshes = fake
            .requests()
            .iter()
            .filter(|r| r.platform == "twitter" && r.form_param("grant_type") == Some("refresh_token"))
            .count();
        assert_eq!(refreshes, 5);
        for id in ids {
            assert_eq!(profile(&t, &id).await["status"], "active");
        }
    }
);
