//! Telegram end to end against the fake Bot API: connecting with a bot token (no app), chats
//! appearing as placements as the bot is made an administrator, text, photo and album posts to
//! a chat, limits, a revoked token, Telegram's rate limit, deletion.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::fake_provider::FakeProvider;
use crate::fake_telegram::FakeTelegram;
use crate::helpers::{TestApp, backends, create_post as create, drain, get_post as get, settle, time_passes};

const CHANNEL: i64 = -1_001_234_567_890;

/// An app whose Telegram is the fake, and the fake.
async fn app(backend: crate::helpers::Backend) -> (TestApp, FakeTelegram, FakeProvider) {
    let tg = FakeTelegram::start().await;
    let fake = FakeProvider::start().await;
    let t = TestApp::builder(backend).fake(&fake).telegram(&tg).spawn().await;
    (t, tg, fake)
}

async fn connect(t: &TestApp, body: Value) -> crate::helpers::TestResponse {
    let path = format!(
        "/api/profile_groups/{}/initialize_connection",
        t.account.group_public_id
    );
    t.post(&path, &t.account.key, body).await
}

/// Connects a new bot and makes it an administrator of a public channel: (profile id, token).
async fn connected_bot(t: &TestApp, tg: &FakeTelegram) -> (String, String) {
    let token = tg.add_bot("Acme Bot", "acme_bot");
    let r = connect(t, json!({"platform": "telegram", "bot_token": token})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    tg.set_member(
        &token,
        CHANNEL,
        "Acme News",
        Some("acmenews"),
        "channel",
        "administrator",
    );
    let id = r.body["profile"]["id"].as_str().unwrap().to_string();
    placements(t, &id).await;
    (id, token)
}

async fn placements(t: &TestApp, profile: &str) -> Vec<Value> {
    let r = t
        .get(&format!("/api/profiles/{profile}/placements"), &t.account.key)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

fn to_channel(body: &str) -> Value {
    json!({"post": {"body": body}, "profiles": ["telegram"],
           "platforms": {"telegram": {"chat_id": CHANNEL.to_string()}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_token_connects_and_chats_appear_as_placements() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        let token = tg.add_bot("Acme Bot", "acme_bot");
        // A chat the bot was added to before connecting is there at once.
        tg.set_member(&token, -100_777, "Earlier Group", None, "supergroup", "administrator");
        let r = connect(&t, json!({"platform": "telegram", "bot_token": token})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["success"], true);
        assert!(r.body.get("url").is_none(), "{}", r.text);
        let profile = &r.body["profile"];
        assert_eq!(profile["network"], "telegram");
        assert_eq!(profile["name"], "Acme Bot");
        assert_eq!(profile["external_username"], "acme_bot");
        let next = r.body["next_step"].as_str().unwrap();
        assert!(next.contains("Add @acme_bot as an administrator"), "{next}");
        let id = profile["id"].as_str().unwrap().to_string();
        let p = t.get(&format!("/api/profiles/{id}"), &t.account.key).await;
        assert_eq!(p.body["platform"], "telegram");
        assert_eq!(p.body["status"], "active");
        assert!(p.body["expires_at"].is_null());
        let ids = |list: Vec<Value>| {
            list.iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(placements(&t, &id).await), vec!["-100777"]);

        // Made an administrator of a channel later: it appears without a reconnect.
        tg.set_member(
            &token,
            CHANNEL,
            "Acme News",
            Some("acmenews"),
            "channel",
            "administrator",
        );
        let list = placements(&t, &id).await;
        assert_eq!(ids(list.clone()), vec!["-100777", &CHANNEL.to_string()]);
        assert_eq!(list[1]["name"], "Acme News");
        // The next look confirms what was read (Telegram then forgets it) and finds nothing new.
        assert_eq!(placements(&t, &id).await.len(), 2);
        assert_eq!(tg.pending_updates(&token), 0);
        // Removed from the group: it goes; the periodic look does the same as the listing.
        tg.set_member(&token, -100_777, "Earlier Group", None, "supergroup", "left");
        postproxy::jobs::schedule_tick(&t.state).await.unwrap();
        drain(&t).await;
        let r = t.get(&format!("/api/profiles/{id}/placements"), &t.account.key).await;
        assert_eq!(
            ids(r.body["data"].as_array().unwrap().clone()),
            vec![CHANNEL.to_string()]
        );

        // Connecting again without refresh_connection is refused; nothing is called.
        let r = connect(&t, json!({"platform": "telegram", "bot_token": token})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["error"], "Platform already connected");
        // The bot token is stored sealed, never in plaintext.
        let dump = crate::helpers::dump_all_rows(&t).await;
        let secret = token.split(':').nth(1).unwrap();
        assert!(!dump.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_tokens_are_clear_422s_and_store_nothing() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        let r = connect(&t, json!({"platform": "telegram"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body["error"].as_str().unwrap().starts_with("Missing bot_token"),
            "{}",
            r.text
        );
        let r = connect(&t, json!({"platform": "telegram", "bot_token": "  "})).await;
        assert!(
            r.body["error"].as_str().unwrap().starts_with("Missing bot_token"),
            "{}",
            r.text
        );
        let r = connect(&t, json!({"platform": "telegram", "bot_token": 12})).await;
        assert_eq!(r.body["error"], "bot_token must be a string", "{}", r.text);
        // Not a token's shape: refused before anything is sent (it would go into a URL path).
        let r = connect(&t, json!({"platform": "telegram", "bot_token": "123:../../getMe"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let msg = r.body["error"].as_str().unwrap();
        assert!(msg.contains("not a Telegram bot token"), "{msg}");
        assert!(tg.calls().is_empty());
        // A bot whose updates go to another program's webhook: refused, saying why.
        let hooked = tg.add_bot("Hooked", "hooked_bot");
        tg.set_webhook(&hooked, "https://elsewhere.example/hook");
        let r = connect(&t, json!({"platform": "telegram", "bot_token": hooked})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let msg = r.body["error"].as_str().unwrap();
        assert!(
            msg.contains("webhook is active") && msg.contains("postproxy needs the bot to itself"),
            "{msg}"
        );
        // Well-formed but unknown: Telegram's 401, in its words.
        let r = connect(
            &t,
            json!({"platform": "telegram", "bot_token": format!("42:{}", "A".repeat(35))}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.body["error"],
            "Telegram refused the credentials: Telegram: Unauthorized"
        );
        let r = t.get("/api/profiles", &t.account.key).await;
        assert_eq!(r.body["data"].as_array().unwrap().len(), 0, "{}", r.text);
        // Telegram unreachable: a 502 that says so, nothing stored.
        drop(tg);
        let r = connect(
            &t,
            json!({"platform": "telegram", "bot_token": format!("42:{}", "A".repeat(35))}),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
        assert!(
            r.body["error"]
                .as_str()
                .unwrap()
                .starts_with("Telegram could not be reached")
        );
        assert_eq!(t.count("SELECT COUNT(*) FROM profiles").await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_photo_and_album_posts_reach_the_chat() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        let (_profile, _) = connected_bot(&t, &tg).await;
        let id = create(
            &t,
            json!({"post": {"body": "<b>Launch</b> today https://example.com"}, "profiles": ["telegram"],
                   "platforms": {"telegram": {"chat_id": CHANNEL, "parse_mode": "HTML",
                                              "disable_notification": true, "disable_link_preview": true}}}),
        )
        .await;
        drain(&t).await;
        let post = get(&t, &id).await;
        let entry = &post["platforms"][0];
        assert_eq!(entry["status"], "published", "{post}");
        let msgs = tg.messages();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(
            (m.chat_id, m.text.as_str()),
            (CHANNEL, "<b>Launch</b> today https://example.com")
        );
        assert_eq!(m.parse_mode.as_deref(), Some("HTML"));
        assert!(m.disable_notification && m.link_preview_disabled);
        assert_eq!(entry["platform_post_id"], m.message_id.to_string());
        assert_eq!(entry["permalink"], format!("https://t.me/acmenews/{}", m.message_id));

        // One photo: sendPhoto with the bytes and the caption.
        let photo = tg.photo_url();
        let one = create(
            &t,
            json!({"post": {"body": "One"}, "profiles": ["telegram"], "media": [photo],
                   "platforms": {"telegram": {"chat_id": CHANNEL.to_string()}}}),
        )
        .await;
        // Three: one album, the caption on its first photo.
        let three = create(
            &t,
            json!({"post": {"body": "Three"}, "profiles": ["telegram"], "media": [photo, photo, photo],
                   "platforms": {"telegram": {"chat_id": CHANNEL.to_string()}}}),
        )
        .await;
        settle(&t).await;
        assert_eq!(get(&t, &one).await["platforms"][0]["status"], "published");
        let three_post = get(&t, &three).await;
        assert_eq!(three_post["platforms"][0]["status"], "published", "{three_post}");
        let msgs = tg.messages();
        assert_eq!(msgs.len(), 5);
        assert_eq!(msgs[1].text, "One");
        assert_eq!(msgs[1].photo.as_deref(), Some(crate::fake_provider::JPEG));
        let album: Vec<_> = msgs[2..].iter().collect();
        assert!(
            album
                .iter()
                .all(|m| m.album == Some(msgs[2].message_id) && m.photo.is_some())
        );
        assert_eq!(
            album.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            vec!["Three", "", ""]
        );
        let ids = album
            .iter()
            .map(|m| m.message_id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(three_post["platforms"][0]["platform_post_id"], ids);

        // Deleting on the platform removes every message of the album.
        let r = t
            .post(
                &format!("/api/posts/{three}/delete_on_platform"),
                &t.account.key,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        drain(&t).await;
        let msgs = tg.messages();
        assert!(msgs[2..].iter().all(|m| m.deleted), "{msgs:?}");
        assert!(!msgs[0].deleted && !msgs[1].deleted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_need_a_chat_of_the_bot_and_fit_telegrams_limits() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        let (_, token) = connected_bot(&t, &tg).await;
        // A group the bot was added to a moment ago is found when a post names it.
        tg.set_member(&token, -100_555, "Fresh Group", None, "group", "member");
        let fresh = json!({"post": {"body": "Hi"}, "profiles": ["telegram"],
                           "platforms": {"telegram": {"chat_id": "-100555"}}});
        let r = t.post("/api/posts", &t.account.key, fresh).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let refused = |r: crate::helpers::TestResponse| {
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let e = refused(
            t.post(
                "/api/posts",
                &t.account.key,
                json!({"post": {"body": "Hi"}, "profiles": ["telegram"]}),
            )
            .await,
        );
        assert!(e.contains("platforms.telegram.chat_id is required"), "{e}");
        let e = refused(
            t.post(
                "/api/posts",
                &t.account.key,
                json!({"post": {"body": "Hi"}, "profiles": ["telegram"], "platforms": {"telegram": {"chat_id": "-100999"}}}),
            )
            .await,
        );
        assert!(e.contains("chat_id -100999 is not a chat"), "{e}");
        let long = "a".repeat(4097);
        let e = refused(t.post("/api/posts", &t.account.key, to_channel(&long)).await);
        assert!(e.contains("maximum is 4096"), "{e}");
        // 4,096 characters of text alone are fine; beside media, 1,024.
        let ok = t
            .post("/api/posts", &t.account.key, to_channel(&"a".repeat(4096)))
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
        let mut with_photo = to_channel(&"b".repeat(1025));
        with_photo["media"] = json!([tg.photo_url()]);
        let e = refused(t.post("/api/posts", &t.account.key, with_photo).await);
        assert!(e.contains("beside media") && e.contains("maximum is 1024"), "{e}");
        let mut thread = to_channel("1/2");
        thread["thread"] = json!([{"body": "2/2"}]);
        let e = refused(t.post("/api/posts", &t.account.key, thread).await);
        assert!(e.contains("Threads of posts are not supported on Telegram"), "{e}");
        let mut bad_mode = to_channel("x");
        bad_mode["platforms"]["telegram"]["parse_mode"] = json!("markdown");
        let e = refused(t.post("/api/posts", &t.account.key, bad_mode).await);
        assert!(e.contains("parse_mode") && e.contains("HTML"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_wait_as_long_as_telegram_says_and_send_once() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        connected_bot(&t, &tg).await;
        tg.rate_limit_next(120);
        let id = create(&t, to_channel("Soon")).await;
        drain(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "processing", "{entry}");
        assert!(
            entry["error"].as_str().unwrap().contains("Too Many Requests"),
            "{entry}"
        );
        let run_at = t.count("SELECT run_at_ms FROM jobs WHERE state = 'queued'").await;
        assert!(
            run_at >= postproxy::clock::now_ms() + 100_000,
            "retry too early: {run_at}"
        );
        assert!(tg.messages().is_empty());
        time_passes(&t).await;
        drain(&t).await;
        assert_eq!(get(&t, &id).await["platforms"][0]["status"], "published");
        assert_eq!(tg.messages().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_makes_the_profile_inactive_until_connected_again() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        let (profile, token) = connected_bot(&t, &tg).await;
        let new_token = tg.revoke(&token);
        let id = create(&t, to_channel("After revocation")).await;
        drain(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "failed", "{entry}");
        assert!(entry["error"].as_str().unwrap().contains("Unauthorized"), "{entry}");
        let p = t.get(&format!("/api/profiles/{profile}"), &t.account.key).await;
        assert_eq!(p.body["status"], "inactive", "{}", p.text);
        // The new token, with refresh_connection, brings the same profile back.
        let r = connect(
            &t,
            json!({"platform": "telegram", "bot_token": new_token, "refresh_connection": true}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["profile"]["id"], profile.as_str());
        let p = t.get(&format!("/api/profiles/{profile}"), &t.account.key).await;
        assert_eq!(p.body["status"], "active");
        assert_eq!(placements(&t, &profile).await.len(), 1);
        create(&t, to_channel("Back")).await;
        drain(&t).await;
        assert_eq!(tg.messages().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_the_bot_left_is_refused_with_what_to_do() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        let (profile, token) = connected_bot(&t, &tg).await;
        let id = create(&t, to_channel("Scheduled before the bot left")).await;
        // Removed before the publish (seen through the bot's updates).
        tg.set_member(&token, CHANNEL, "Acme News", Some("acmenews"), "channel", "left");
        assert!(placements(&t, &profile).await.is_empty());
        drain(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "failed", "{entry}");
        let all = entry.to_string();
        assert!(all.contains("administrator"), "{all}");
        assert!(tg.messages().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_goes_out_with_send_video() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        connected_bot(&t, &tg).await;
        let id = create(
            &t,
            json!({"post": {"body": "Watch"}, "profiles": ["telegram"], "media": [tg.video_url()],
                   "platforms": {"telegram": {"chat_id": CHANNEL.to_string()}}}),
        )
        .await;
        settle(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["platforms"][0]["status"], "published", "{post}");
        let msgs = tg.messages();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].video.as_deref(), Some(crate::fake_telegram::MP4));
        assert_eq!(msgs[0].text, "Watch");
        let (method, params) = tg.calls().into_iter().find(|(m, _)| m == "sendVideo").unwrap();
        assert_eq!(
            (method.as_str(), params["supports_streaming"].as_str()),
            ("sendVideo", Some("true"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_and_videos_mix_in_one_album() {
    for backend in backends() {
        let (t, tg, _fake) = app(backend).await;
        connected_bot(&t, &tg).await;
        let (photo, video) = (tg.photo_url(), tg.video_url());
        let id = create(
            &t,
            json!({"post": {"body": "Mixed"}, "profiles": ["telegram"], "media": [photo, video, video],
                   "platforms": {"telegram": {"chat_id": CHANNEL.to_string()}}}),
        )
        .await;
        settle(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["platforms"][0]["status"], "published", "{post}");
        let msgs = tg.messages();
        assert_eq!(msgs.len(), 3);
        assert!(msgs[0].photo.is_some() && msgs[0].text == "Mixed");
        assert!(
            msgs[1..]
                .iter()
                .all(|m| m.video.as_deref() == Some(crate::fake_telegram::MP4))
        );
        assert!(msgs.iter().all(|m| m.album == Some(msgs[0].message_id)));
    }
}
