//! Bluesky end to end against the fake service, PLC directory and PDS: connecting with a handle
//! (or email) and an app password, a custom PDS, posts with facets at byte offsets, images with
//! alt text, threads as reply chains, link cards, the 300-grapheme limit, sessions refreshed or
//! signed in again, a revoked app password, an unknown outcome looked up by its record key,
//! Bluesky's rate limit, deletion.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::fake_bluesky::FakeBluesky;
use crate::fake_provider::FakeProvider;
use crate::helpers::{Backend, TestApp, backends, create_post as create, drain, get_post as get, settle, time_passes};

const PASSWORD: &str = "abcd-efgh-ijkl-mnop";

async fn app(backend: Backend) -> (TestApp, FakeBluesky, FakeProvider) {
    let bsky = FakeBluesky::start().await;
    let fake = FakeProvider::start().await;
    let t = TestApp::builder(backend).fake(&fake).bluesky(&bsky).spawn().await;
    (t, bsky, fake)
}

async fn connect(t: &TestApp, body: Value) -> crate::helpers::TestResponse {
    let path = format!(
        "/api/profile_groups/{}/initialize_connection",
        t.account.group_public_id
    );
    t.post(&path, &t.account.key, body).await
}

/// Alice connected: her profile id and DID.
async fn alice(t: &TestApp, bsky: &FakeBluesky) -> (String, String) {
    let did = bsky.add_account("alice.test", "Alice", PASSWORD);
    let r = connect(
        t,
        json!({"platform": "bluesky", "identifier": "alice.test", "app_password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (r.body["profile"]["id"].as_str().unwrap().to_string(), did)
}

fn bluesky_post(body: &str) -> Value {
    json!({"post": {"body": body}, "profiles": ["bluesky"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_and_app_password_connect_and_nothing_secret_is_stored_plain() {
    for backend in backends() {
        let (t, bsky, _fake) = app(backend).await;
        let did = bsky.add_account("alice.test", "Alice", PASSWORD);
        let r = connect(
            &t,
            json!({"platform": "bluesky", "identifier": "@Alice.test", "app_password": PASSWORD}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["success"], true);
        let p = &r.body["profile"];
        assert_eq!(
            (
                p["network"].as_str(),
                p["name"].as_str(),
                p["external_username"].as_str()
            ),
            (Some("bluesky"), Some("Alice"), Some("alice.test"))
        );
        assert!(
            r.body.get("url").is_none() && r.body.get("next_step").is_none(),
            "{}",
            r.text
        );
        let id = p["id"].as_str().unwrap();
        let profile = t.get(&format!("/api/profiles/{id}"), &t.account.key).await.body;
        assert_eq!(profile["status"], "active");
        assert_eq!(profile["platform"], "bluesky");
        assert!(
            profile["expires_at"].is_null(),
            "an app password does not expire: {profile}"
        );
        // The handle went through the service, the DID document through the directory.
        let calls: Vec<String> = bsky.calls().into_iter().map(|(n, _)| n).collect();
        assert!(
            calls.contains(&"com.atproto.identity.resolveHandle".to_string()),
            "{calls:?}"
        );
        assert_eq!(
            t.count("SELECT COUNT(*) FROM profiles WHERE endpoint IS NOT NULL AND credential_enc IS NOT NULL")
                .await,
            1
        );
        let dump = crate::helpers::dump_all_rows(&t).await;
        let has = |s: &str| dump.windows(s.len()).any(|w| w == s.as_bytes());
        assert!(!has(PASSWORD) && !has("refresh-"), "secrets stored in plaintext");
        assert!(has(&did), "the DID is the profile's external id");
        // The same account again, by email, with refresh_connection: the same profile.
        let r = connect(
            &t,
            json!({"platform": "bluesky", "identifier": "alice@example.com", "app_password": PASSWORD,
                   "refresh_connection": true}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["profile"]["id"], id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_handles_are_422s_that_store_nothing() {
    for backend in backends() {
        let (t, bsky, _fake) = app(backend).await;
        bsky.add_account("alice.test", "Alice", PASSWORD);
        let r = connect(
            &t,
            json!({"platform": "bluesky", "identifier": "alice.test", "app_password": "wrong-wrong-wrong-wrong"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let msg = r.body["error"].as_str().unwrap();
        assert!(
            msg.starts_with("Bluesky refused the credentials: Bluesky: Invalid identifier or password"),
            "{msg}"
        );
        let r = connect(
            &t,
            json!({"platform": "bluesky", "identifier": "nobody.test", "app_password": PASSWORD}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body["error"]
                .as_str()
                .unwrap()
                .contains("nobody.test does not resolve"),
            "{}",
            r.text
        );
        let r = connect(&t, json!({"platform": "bluesky", "identifier": "alice.test"})).await;
        assert!(
            r.body["error"].as_str().unwrap().starts_with("Missing app_password"),
            "{}",
            r.text
        );
        let r = connect(&t, json!({"platform": "bluesky", "app_password": PASSWORD})).await;
        assert!(
            r.body["error"].as_str().unwrap().starts_with("Missing identifier"),
            "{}",
            r.text
        );
        // A credential of the wrong type is refused whatever the platform.
        let r = connect(
            &t,
            json!({"platform": "facebook", "redirect_url": "https://a.example/cb", "identifier": {}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["error"], "identifier must be a string");
        assert_eq!(t.count("SELECT COUNT(*) FROM profiles").await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_on_its_own_pds_connects_and_posts_there() {
    for backend in backends() {
        let (t, bsky, _fake) = app(backend).await;
        let own = FakeBluesky::start().await;
        bsky.add_account_on(&own, "carol.example", "Carol", PASSWORD);
        let r = connect(
            &t,
            json!({"platform": "bluesky", "identifier": "carol.example", "app_password": PASSWORD}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        create(&t, bluesky_post("From my own PDS")).await;
        drain(&t).await;
        assert_eq!(own.records().len(), 1);
        assert!(bsky.records().is_empty());
        assert_eq!(own.records()[0].value["text"], "From my own PDS");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_carry_facets_at_byte_offsets_images_threads_and_link_cards() {
    for backend in backends() {
        let (t, bsky, _fake) = app(backend).await;
        let (_, did) = alice(&t, &bsky).await;
        let bob = bsky.add_account("bob.test", "Bob", "bob-pass-word-1234");
        // Multi-byte text before every facet, so byte offsets differ from character offsets.
        let text = "Café ☕ 日本 with @bob.test: see https://example.com/launch. #launch! @ghost.test";
        let id = create(&t, bluesky_post(text)).await;
        drain(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        let rec = bsky.records()[0].clone();
        assert_eq!(rec.did, did);
        assert_eq!(
            entry["platform_post_id"],
            format!("at://{did}/app.bsky.feed.post/{}", rec.rkey)
        );
        assert_eq!(
            entry["permalink"],
            format!("https://bsky.app/profile/alice.test/post/{}", rec.rkey)
        );
        let facets = rec.value["facets"].as_array().unwrap();
        let slice = |f: &Value| {
            let (s, e) = (
                f["index"]["byteStart"].as_u64().unwrap() as usize,
                f["index"]["byteEnd"].as_u64().unwrap() as usize,
            );
            text[s..e].to_string()
        };
        let kinds: Vec<(String, String)> = facets
            .iter()
            .map(|f| (f["features"][0]["$type"].as_str().unwrap().to_string(), slice(f)))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("app.bsky.richtext.facet#mention".into(), "@bob.test".into()),
                (
                    "app.bsky.richtext.facet#link".into(),
                    "https://example.com/launch".into()
                ),
                ("app.bsky.richtext.facet#tag".into(), "#launch".into()),
            ],
            "an unknown handle stays plain text"
        );
        assert_eq!(facets[0]["features"][0]["did"], bob.as_str());
        assert_eq!(facets[2]["features"][0]["tag"], "launch");

        // Two images with their alt text.
        let photo = format!("{}/pages/thumb.jpg", bsky.service_url());
        let pics = create(
            &t,
            json!({"post": {"body": "Two pictures"}, "profiles": ["bluesky"], "media": [photo, photo],
                   "platforms": {"bluesky": {"alt_text": "A tiny test image"}}}),
        )
        .await;
        // A thread: each part a reply, all under the first.
        let thread = create(
            &t,
            json!({"post": {"body": "1/3"}, "profiles": ["bluesky"], "thread": [{"body": "2/3"}, {"body": "3/3"}]}),
        )
        .await;
        // A link card from the page's Open Graph tags, with its image as a blob.
        let card = create(&t, bluesky_post(&format!("Read this {}", bsky.page_url()))).await;
        settle(&t).await;
        for id in [&pics, &thread, &card] {
            let post = get(&t, id).await;
            assert!(
                post["platforms"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| p["status"] == "published"),
                "{post}"
            );
        }
        let records = bsky.records();
        let by_text = |s: &str| records.iter().find(|r| r.value["text"] == s).unwrap().clone();
        let images = by_text("Two pictures").value["embed"].clone();
        assert_eq!(images["$type"], "app.bsky.embed.images");
        assert_eq!(images["images"].as_array().unwrap().len(), 2);
        assert_eq!(images["images"][0]["alt"], "A tiny test image");
        let first_blob = images["images"][0]["image"]["ref"]["$link"].as_str().unwrap();
        let blob = bsky.blobs().into_iter().find(|b| b.cid == first_blob).unwrap();
        assert_eq!(
            (blob.mime.as_str(), blob.bytes.as_slice()),
            ("image/jpeg", crate::fake_provider::JPEG)
        );
        let (one, two, three) = (by_text("1/3"), by_text("2/3"), by_text("3/3"));
        let uri = |r: &crate::fake_bluesky::Record| format!("at://{}/app.bsky.feed.post/{}", r.did, r.rkey);
        assert!(one.value.get("reply").is_none());
        assert_eq!(two.value["reply"]["root"], json!({"uri": uri(&one), "cid": one.cid}));
        assert_eq!(two.value["reply"]["parent"], json!({"uri": uri(&one), "cid": one.cid}));
        assert_eq!(three.value["reply"]["root"], json!({"uri": uri(&one), "cid": one.cid}));
        assert_eq!(
            three.value["reply"]["parent"],
            json!({"uri": uri(&two), "cid": two.cid})
        );
        let external = by_text(&format!("Read this {}", bsky.page_url())).value["embed"].clone();
        assert_eq!(external["$type"], "app.bsky.embed.external");
        assert_eq!(external["external"]["uri"], bsky.page_url());
        assert_eq!(external["external"]["title"], "Launch & more");
        assert_eq!(external["external"]["description"], "The whole story");
        assert!(external["external"]["thumb"]["ref"]["$link"].is_string(), "{external}");

        // Deleting on the platform removes every part of the thread.
        let r = t
            .post(
                &format!("/api/posts/{thread}/delete_on_platform"),
                &t.account.key,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        drain(&t).await;
        let records = bsky.records();
        for text in ["1/3", "2/3", "3/3"] {
            assert!(
                records.iter().find(|r| r.value["text"] == text).unwrap().deleted,
                "{text}"
            );
        }
        assert!(
            !records
                .iter()
                .find(|r| r.value["text"] == "Two pictures")
                .unwrap()
                .deleted
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_is_counted_in_graphemes_up_to_300() {
    for backend in backends() {
        let (t, bsky, _fake) = app(backend).await;
        alice(&t, &bsky).await;
        // 300 family emoji are 300 graphemes (2,100 chars' worth of code points): accepted.
        let family = "👨‍👩‍👧".repeat(300);
        let r = t.post("/api/posts", &t.account.key, bluesky_post(&family)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = t
            .post("/api/posts", &t.account.key, bluesky_post(&"e\u{301}".repeat(301)))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let msg = r.body["error"].as_str().unwrap();
        assert!(
            msg.contains("too long for Bluesky (301") && msg.contains("maximum is 300"),
            "{msg}"
        );
        let mut five = json!({"post": {"body": "5"}, "profiles": ["bluesky"]});
        five["media"] = json!([
            "https://a.example/1.jpg",
            "https://a.example/2.jpg",
            "https://a.example/3.jpg",
            "https://a.example/4.jpg",
            "https://a.example/5.jpg"
        ]);
        let r = t.post("/api/posts", &t.account.key, five).await;
        assert!(
            r.body["error"].as_str().unwrap().contains("Bluesky takes at most 4"),
            "{}",
            r.text
        );
        drain(&t).await;
        // An image above the blob limit is refused when it is downloaded, saying so.
        let big = create(
            &t,
            json!({"post": {"body": "Big"}, "profiles": ["bluesky"],
                   "media": [format!("{}/pages/big.jpg", bsky.service_url())]}),
        )
        .await;
        settle(&t).await;
        let post = get(&t, &big).await;
        let shown = post.to_string();
        assert!(
            shown.contains("Bluesky accepts images up to 1,000,000 bytes; this one is 1,100,002 bytes"),
            "{post}"
        );
        assert_eq!(post["platforms"][0]["status"], "failed", "{post}");
        assert_eq!(bsky.records().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_renewed_then_signed_in_again_and_a_revoked_password_deactivates() {
    for backend in backends() {
        let (t, bsky, _fake) = app(backend).await;
        let (profile, did) = alice(&t, &bsky).await;
        // An access token that expired: refreshSession, then the post goes.
        bsky.expire_access_tokens();
        let a = create(&t, bluesky_post("After refresh")).await;
        drain(&t).await;
        assert_eq!(get(&t, &a).await["platforms"][0]["status"], "published");
        // The refresh token gone too: a new session from the kept app password.
        bsky.expire_sessions();
        let b = create(&t, bluesky_post("After sign-in")).await;
        drain(&t).await;
        assert_eq!(get(&t, &b).await["platforms"][0]["status"], "published");
        let calls: Vec<String> = bsky.calls().into_iter().map(|(n, _)| n).collect();
        assert!(calls.contains(&"com.atproto.server.refreshSession".to_string()));
        assert_eq!(
            calls
                .iter()
                .filter(|c| *c == "com.atproto.server.createSession")
                .count(),
            2
        );
        // The scheduled refresh renews before expiry too.
        t.exec("UPDATE profiles SET access_expires_at_ms = 1").await;
        postproxy::jobs::schedule_tick(&t.state).await.unwrap();
        drain(&t).await;
        let p = t.get(&format!("/api/profiles/{profile}"), &t.account.key).await.body;
        assert_eq!(p["status"], "active", "{p}");
        // The app password revoked: the profile is inactive, the post fails with what to do.
        bsky.revoke_app_password(&did);
        let c = create(&t, bluesky_post("After revocation")).await;
        settle(&t).await;
        let entry = get(&t, &c).await["platforms"][0].clone();
        assert_eq!(entry["status"], "failed", "{entry}");
        let p = t.get(&format!("/api/profiles/{profile}"), &t.account.key).await.body;
        assert_eq!(p["status"], "inactive", "{p}");
        assert_eq!(bsky.records().len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_looked_up_by_its_record_key_and_rate_limits_are_waited_out() {
    for backend in backends() {
        let (t, bsky, _fake) = app(backend).await;
        alice(&t, &bsky).await;
        // The record is created but the answer is a 500: looked up, found, never sent twice.
        bsky.lose_next_create();
        let id = create(&t, bluesky_post("Exactly once")).await;
        drain(&t).await;
        assert_eq!(get(&t, &id).await["platforms"][0]["status"], "processing");
        t.exec("UPDATE post_profiles SET sending_since_ms = 1 WHERE sending_since_ms IS NOT NULL")
            .await;
        settle(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        let records = bsky.records();
        assert_eq!(records.len(), 1, "sent once");
        assert!(entry["platform_post_id"].as_str().unwrap().ends_with(&records[0].rkey));
        let creates = bsky
            .calls()
            .iter()
            .filter(|(n, _)| n == "com.atproto.repo.createRecord")
            .count();
        assert_eq!(creates, 1);

        // 429 with ratelimit-reset: the retry waits until then.
        bsky.rate_limit_next(600);
        let later = create(&t, bluesky_post("Later")).await;
        drain(&t).await;
        let entry = get(&t, &later).await["platforms"][0].clone();
        assert_eq!(entry["status"], "processing", "{entry}");
        let run_at = t.count("SELECT run_at_ms FROM jobs WHERE state = 'queued'").await;
        assert!(
            run_at >= postproxy::clock::now_ms() + 500_000,
            "retry too early: {run_at}"
        );
        time_passes(&t).await;
        drain(&t).await;
        assert_eq!(get(&t, &later).await["platforms"][0]["status"], "published");
        assert_eq!(bsky.records().len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_is_a_blob_in_a_video_embed() {
    for backend in backends() {
        let (t, bsky, _fake) = app(backend).await;
        alice(&t, &bsky).await;
        let clip = format!("{}/pages/clip.mp4", bsky.service_url());
        let id = create(
            &t,
            json!({"post": {"body": "A clip"}, "profiles": ["bluesky"], "media": [clip],
                   "platforms": {"bluesky": {"alt_text": "Waves on a beach"}}}),
        )
        .await;
        settle(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["platforms"][0]["status"], "published", "{post}");
        let embed = bsky.records()[0].value["embed"].clone();
        assert_eq!(embed["$type"], "app.bsky.embed.video");
        assert_eq!(embed["alt"], "Waves on a beach");
        let cid = embed["video"]["ref"]["$link"].as_str().unwrap();
        let blob = bsky.blobs().into_iter().find(|b| b.cid == cid).unwrap();
        assert_eq!(
            (blob.mime.as_str(), blob.bytes.as_slice()),
            ("video/mp4", crate::fake_telegram::MP4)
        );
    }
}
