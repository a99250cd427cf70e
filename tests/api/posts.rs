//! The Posts API: shapes the SDKs parse, validation that lists every problem, lifecycle, list
//! filters in every encoding the SDKs send, duplicates, and tenant isolation.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use postproxy::domain::platform::Platform;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A profile of `platform` in the account's default group; returns its public id.
async fn profile(t: &TestApp, platform: Platform, external: &str) -> String {
    let id = t
        .insert_profile(&t.account, t.account.group_id, platform, external)
        .await;
    t.state.encode(postproxy::ids::Kind::Profile, id)
}

fn future(secs: i64) -> String {
    postproxy::clock::iso8601(postproxy::clock::now_ms() + secs * 1000)
}

async fn patch(t: &TestApp, path: &str, key: &str, body: Value) -> crate::helpers::TestResponse {
    t.call(Method::PATCH, path, Some(key), Some(body)).await
}

app_test!(create_returns_the_full_post_object, |t: TestApp| async move {
    let key = t.account.key.clone();
    let tw = profile(&t, Platform::Twitter, "tw-1").await;
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Hello world"}, "profiles": [tw.clone()]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let p = &r.body;
    assert_eq!(p["body"], "Hello world");
    assert_eq!(p["status"], "processing");
    assert_eq!(p["draft"], false);
    assert_eq!(p["scheduled_at"], Value::Null);
    assert_eq!(p["source"], "postproxy");
    assert_eq!(p["media"], json!([]));
    assert_eq!(p["thread"], json!([]));
    assert!(p["created_at"].as_str().unwrap().ends_with('Z'));
    let entry = &p["platforms"][0];
    assert_eq!(entry["platform"], "twitter");
    assert_eq!(entry["profile_id"], tw);
    assert_eq!(entry["profile_name"], "@someone");
    assert_eq!(entry["status"], "pending");
    assert_eq!(entry["attempted_at"], Value::Null);
    assert_eq!(entry["error"], Value::Null);
    assert_eq!(entry["error_details"], Value::Null);
    assert!(entry["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(p["platforms"].as_array().unwrap().len(), 1);

    let id = p["id"].as_str().unwrap();
    let g = t.get(&format!("/api/posts/{id}"), &key).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body, r.body);
});

app_test!(platform_names_pick_the_groups_first_profile, |t: TestApp| async move {
    let key = t.account.key.clone();
    let first = profile(&t, Platform::Twitter, "tw-1").await;
    profile(&t, Platform::Twitter, "tw-2").await;
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Hi"}, "profiles": ["twitter"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["platforms"][0]["profile_id"], first);
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Hi"}, "profiles": ["linkedin"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body["errors"],
        json!(["No linkedin profile is connected in this profile group"])
    );
});

app_test!(refusals_name_every_problem, |t: TestApp| async move {
    let key = t.account.key.clone();
    for (platform, external) in [
        (Platform::Twitter, "tw-1"),
        (Platform::Linkedin, "li-1"),
        (Platform::Tiktok, "tt-1"),
        (Platform::Youtube, "yt-1"),
    ] {
        profile(&t, platform, external).await;
    }
    let fb = t
        .insert_profile(&t.account, t.account.group_id, Platform::Facebook, "fb-1")
        .await;
    postproxy::with_pool!(&t.db, p => sqlx::query(
        "INSERT INTO placements (profile_id, external_id, name, created_at_ms) VALUES ($1, 'page-1', 'One', 0), ($1, 'page-2', 'Two', 0)")
        .bind(fb).execute(p).await.map(|_| ())).unwrap();
    let five_images: Vec<String> = (1..=5).map(|n| format!("https://a.example/{n}.jpg")).collect();
    // (what is sent, what the 422 must name: each a part of one problem, or `^…` for a problem
    // that starts so)
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // Every problem of the request at once, none hiding another.
        (
            json!({"post": {"body": "x".repeat(300), "scheduled_at": "2001-01-01T00:00:00Z", "draft": "maybe"},
                   "profiles": ["twitter", "linkedin", "nope123"], "thread": [{"body": "2/"}],
                   "platforms": {"twitter": {"format": "story"}, "linkedin": {"colour": "red"}}}),
            vec![
                "post.draft must be true or false",
                "post.scheduled_at must be in the future",
                "Profile nope123 not found",
                "platforms",
            ],
        ),
        // Once the parameters are right, the platform rules all show up together.
        (
            json!({"post": {"body": "x".repeat(300)}, "profiles": ["twitter", "linkedin"],
                   "thread": [{"body": "2/"}], "media": five_images}),
            vec![
                "^Body is too long for X (300 characters",
                "X takes at most 4",
                "not supported on LinkedIn",
            ],
        ),
        // An unknown value, and an unknown key, of a platform's parameters.
        (
            json!({"post": {"body": "Hi"}, "profiles": ["tiktok"], "media": ["https://a.example/1.jpg"],
                   "platforms": {"tiktok": {"privacy_status": "EVERYONE"}}}),
            vec!["EVERYONE"],
        ),
        (
            json!({"post": {"body": "Hi"}, "profiles": ["tiktok"], "media": ["https://a.example/1.jpg"],
                   "platforms": {"tiktok": {"privacy": "SELF_ONLY"}}}),
            vec!["privacy"],
        ),
        // TikTok needs media; YouTube needs a video.
        (
            json!({"post": {"body": "Hi"}, "profiles": ["tiktok", "youtube"]}),
            vec!["TikTok posts need at least one image", "YouTube posts need a video"],
        ),
        // A Facebook post names one of the connection's Pages.
        (
            json!({"post": {"body": "Hi"}, "profiles": ["facebook"]}),
            vec!["page_id is required"],
        ),
        (
            json!({"post": {"body": "Hi"}, "profiles": ["facebook"], "platforms": {"facebook": {"page_id": "page-9"}}}),
            vec!["page-9 is not a Page"],
        ),
        // An unknown top-level field, alone.
        (
            json!({"post": {"body": "hi"}, "profiles": ["twitter"], "foo": 1}),
            vec!["^foo is not a known field (known: post, profiles"],
        ),
    ];
    for (body, wanted) in cases {
        let r = t.post("/api/posts", &key, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text);
        let errors: Vec<String> = serde_json::from_value(r.body["errors"].clone()).unwrap();
        assert_eq!(r.body["error"], errors[0].as_str(), "error is the first problem");
        for want in &wanted {
            let named = match want.strip_prefix('^') {
                Some(prefix) => errors.iter().any(|e| e.starts_with(prefix)),
                None => errors.iter().any(|e| e.contains(want)),
            };
            assert!(named, "{body}: {want:?} not in {errors:?}");
        }
        if wanted.len() == 1 && wanted[0].starts_with('^') {
            assert_eq!(errors.len(), 1, "{body}: {errors:?}");
        }
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM posts").await, 0, "nothing stored");

    // A Page of the connection is taken, and shown back.
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Hi"}, "profiles": ["facebook"], "platforms": {"facebook": {"page_id": "page-2"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["platforms"][0]["params"], json!({"page_id": "page-2"}));
});

app_test!(expired_profile_is_refused_by_name, |t: TestApp| async move {
    let key = t.account.key.clone();
    let tw = profile(&t, Platform::Twitter, "tw-1").await;
    t.exec("UPDATE profiles SET status = 'expired'").await;
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Hi"}, "profiles": [tw.clone()]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains(&tw) && r.text.contains("expired"), "{}", r.text);
});

app_test!(missing_post_and_profiles_is_400, |t: TestApp| async move {
    let r = t.post("/api/posts", &t.account.key, json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["status"], 400);
    let r = t
        .post("/api/posts", &t.account.key, json!({"post": {"body": "x"}}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"], json!(["Profiles can't be blank"]));
});

app_test!(drafts_schedules_and_publish, |t: TestApp| async move {
    let key = t.account.key.clone();
    profile(&t, Platform::Twitter, "tw-1").await;
    let when = future(3600);
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Later", "scheduled_at": when}, "profiles": ["twitter"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "scheduled");
    assert_eq!(
        postproxy::domain::post::parse_instant(r.body["scheduled_at"].as_str().unwrap()),
        postproxy::domain::post::parse_instant(&when)
    );
    let scheduled = r.body["id"].as_str().unwrap().to_string();
    // Not a draft: publish is refused.
    let r = t
        .post(&format!("/api/posts/{scheduled}/publish"), &key, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"], "Only drafts can be published; this post is scheduled");
    assert_eq!(
        t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'publish_post' AND state = 'queued'")
            .await,
        1
    );

    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Draft", "draft": true}, "profiles": ["twitter"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "draft");
    assert_eq!(r.body["draft"], true);
    let draft = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'publish_post' AND state = 'queued'")
            .await,
        1,
        "drafts enqueue nothing"
    );
    // A bodiless publish, as several SDKs send it.
    let r = t
        .call(Method::POST, &format!("/api/posts/{draft}/publish"), Some(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "processing");
    assert_eq!(r.body["draft"], false);
    let r = t.post(&format!("/api/posts/{draft}/publish"), &key, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'publish_post' AND state = 'queued'")
            .await,
        2
    );
});

app_test!(patch_merges_and_replaces_as_documented, |t: TestApp| async move {
    let key = t.account.key.clone();
    let tw = profile(&t, Platform::Twitter, "tw-1").await;
    let th = profile(&t, Platform::Threads, "th-1").await;
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "One", "draft": true}, "profiles": [tw.clone()],
                   "thread": [{"body": "1b"}], "platforms": {"twitter": {"format": "post"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["thread"][0]["body"], "1b");
    assert_eq!(r.body["thread"][0]["platforms"][0]["profile_id"], tw);

    // post.* merged: only the body changes; thread kept; profiles replaced.
    let r = patch(
        &t,
        &format!("/api/posts/{id}"),
        &key,
        json!({"post": {"body": "Two"}, "profiles": [th.clone()]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["body"], "Two");
    assert_eq!(r.body["status"], "draft");
    assert_eq!(r.body["platforms"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["platforms"][0]["profile_id"], th);
    assert_eq!(r.body["thread"][0]["body"], "1b");
    assert_eq!(r.body["thread"][0]["platforms"][0]["profile_id"], th);
    // thread [] removes; platforms merged.
    let r = patch(
        &t,
        &format!("/api/posts/{id}"),
        &key,
        json!({"thread": [], "platforms": {"threads": {}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["thread"], json!([]));
    assert_eq!(t.count("SELECT COUNT(*) FROM posts").await, 1);
    // A profile's entry keeps its id across edits.
    let entry = r.body["platforms"][0]["id"].clone();
    let r = patch(
        &t,
        &format!("/api/posts/{id}"),
        &key,
        json!({"post": {"body": "Three"}, "profiles": [th.clone(), tw.clone()]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let entries = r.body["platforms"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let kept = entries.iter().find(|e| e["profile_id"] == th).unwrap();
    assert_eq!(kept["id"], entry, "the Threads entry kept its id");
    assert_eq!(kept["status"], "pending");
    let r = patch(&t, &format!("/api/posts/{id}"), &key, json!({"profiles": [th.clone()]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["platforms"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["platforms"][0]["id"], entry);
    // Scheduling through PATCH keeps it a draft until published.
    let r = patch(
        &t,
        &format!("/api/posts/{id}"),
        &key,
        json!({"post": {"scheduled_at": future(7200)}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "draft");
    assert!(r.body["scheduled_at"].is_string());
    let r = patch(
        &t,
        &format!("/api/posts/{id}"),
        &key,
        json!({"post": {"scheduled_at": null, "draft": false}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "processing");
    assert_eq!(r.body["scheduled_at"], Value::Null);
    // Publishing now: no more edits.
    let r = patch(
        &t,
        &format!("/api/posts/{id}"),
        &key,
        json!({"post": {"body": "Three"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
});

app_test!(duplicates_are_refused_unless_skipped, |t: TestApp| async move {
    let key = t.account.key.clone();
    profile(&t, Platform::Twitter, "tw-1").await;
    let body = json!({"post": {"body": "Same"}, "profiles": ["twitter"]});
    let first = t.post("/api/posts", &key, body.clone()).await;
    assert_eq!(first.status, StatusCode::OK);
    let again = t.post("/api/posts", &key, body.clone()).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.body,
        json!({"error": "Duplicate post", "duplicate_post_id": first.body["id"]})
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/posts")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("x-skip-duplicate-check", "true")
        .body(Body::from(body.to_string()))
        .unwrap();
    assert_eq!(t.raw(req).await.status, StatusCode::OK);
    let other = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Other"}, "profiles": ["twitter"]}),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
});

app_test!(list_pages_filters_and_accepts_every_encoding, |t: TestApp| async move {
    let key = t.account.key.clone();
    profile(&t, Platform::Twitter, "tw-1").await;
    profile(&t, Platform::Threads, "th-1").await;
    profile(&t, Platform::Linkedin, "li-1").await;
    let mut ids = Vec::new();
    for (i, p) in ["twitter", "threads", "linkedin", "twitter"].iter().enumerate() {
        let mut post = json!({"body": format!("post {i}")});
        if i == 3 {
            post["scheduled_at"] = json!(future(86_400));
        }
        let r = t.post("/api/posts", &key, json!({"post": post, "profiles": [p], "thread": if *p == "linkedin" { json!([]) } else { json!([{"body": "child"}]) }})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let r = t.get("/api/posts", &key).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["total"], 4);
    assert_eq!(r.body["page"], 0);
    assert_eq!(r.body["per_page"], 10);
    let listed: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    let mut newest_first: Vec<&str> = ids.iter().map(String::as_str).collect();
    newest_first.reverse();
    assert_eq!(listed, newest_first, "newest first, children not at top level");

    let r = t.get("/api/posts?page=1&per_page=3", &key).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["id"], ids[0]);
    for q in [
        "platforms=twitter&platforms=threads",
        "platforms[]=twitter&platforms[]=threads",
        "platforms%5B%5D=twitter&platforms%5B%5D=threads",
        "platforms=twitter,threads",
    ] {
        let r = t.get(&format!("/api/posts?{q}"), &key).await;
        assert_eq!(r.status, StatusCode::OK, "{q}");
        assert_eq!(r.body["total"], 3, "{q}");
    }
    let r = t.get("/api/posts?status=scheduled", &key).await;
    assert_eq!(r.body["total"], 1);
    let after = future(3600);
    for name in ["scheduled_after", "scheduled_at"] {
        let r = t
            .get(
                &format!(
                    "/api/posts?{name}={}",
                    url::form_urlencoded::byte_serialize(after.as_bytes()).collect::<String>()
                ),
                &key,
            )
            .await;
        assert_eq!(r.body["total"], 1, "{name}");
        assert_eq!(r.body["data"][0]["id"], ids[3]);
    }
    for bad in [
        "per_page=101",
        "per_page=0",
        "page=-1",
        "page=x",
        "status=odd",
        "platforms=myspace",
        "scheduled_after=soon",
    ] {
        let r = t.get(&format!("/api/posts?{bad}"), &key).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
});

app_test!(posts_are_private_to_account_and_scope, |t: TestApp| async move {
    let key = t.account.key.clone();
    profile(&t, Platform::Twitter, "tw-1").await;
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Mine"}, "profiles": ["twitter"]}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let other = t.new_account("Other").await;
    assert_eq!(
        t.get(&format!("/api/posts/{id}"), &other.key).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.get("/api/posts", &other.key).await.body["total"], 0);
    assert_eq!(
        t.delete(&format!("/api/posts/{id}"), &other.key).await.status,
        StatusCode::NOT_FOUND
    );
    let r = patch(
        &t,
        &format!("/api/posts/{id}"),
        &other.key,
        json!({"post": {"body": "x"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Another account's profile id is not usable either.
    let r = t
        .post(
            "/api/posts",
            &other.key,
            json!({"post": {"body": "x"}, "profiles": ["twitter"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A key scoped to another group of the same account sees nothing of the default group.
    let g = t.create_group(&key, "Brand B").await;
    let (_, scoped) = t.scoped_key(&t.account, t.decode_group(&g)).await;
    assert_eq!(
        t.get(&format!("/api/posts/{id}"), &scoped).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.get("/api/posts", &scoped).await.body["total"], 0);
    assert_eq!(t.get(&format!("/api/posts/{id}"), &key).await.status, StatusCode::OK);
});

app_test!(delete_removes_post_thread_and_jobs, |t: TestApp| async move {
    let key = t.account.key.clone();
    profile(&t, Platform::Twitter, "tw-1").await;
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Bye", "scheduled_at": future(600)}, "profiles": ["twitter"],
                                         "thread": [{"body": "2"}]}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = t.delete(&format!("/api/posts/{id}"), &key).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"deleted": true}));
    assert_eq!(t.count("SELECT COUNT(*) FROM posts").await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM post_profiles").await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").await, 0);
    assert_eq!(
        t.get(&format!("/api/posts/{id}"), &key).await.status,
        StatusCode::NOT_FOUND
    );
});

app_test!(form_encoded_rails_style_body, |t: TestApp| async move {
    let key = t.account.key.clone();
    let tw = profile(&t, Platform::Twitter, "tw-1").await;
    let form =
        format!("post%5Bbody%5D=Form+post&post%5Bdraft%5D=true&profiles%5B%5D={tw}&thread%5B0%5D%5Bbody%5D=second");
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/posts")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let r = t.raw(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["body"], "Form post");
    assert_eq!(r.body["draft"], true);
    assert_eq!(r.body["thread"][0]["body"], "second");
});

app_test!(due_jobs_never_leave_a_post_waiting, |t: TestApp| async move {
    let key = t.account.key.clone();
    profile(&t, Platform::Twitter, "tw-1").await;
    let r = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Now"}, "profiles": ["twitter"]}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let r2 = t
        .post(
            "/api/posts",
            &key,
            json!({"post": {"body": "Pic"}, "profiles": ["twitter"], "media": ["https://img.invalid/a.jpg"]}),
        )
        .await;
    assert_eq!(r2.body["status"], "pending");
    assert_eq!(r2.body["media"][0]["status"], "pending");
    assert_eq!(r2.body["media"][0]["source_url"], "https://img.invalid/a.jpg");
    postproxy::jobs::drain(&t.state).await.unwrap();
    let r = t.get(&format!("/api/posts/{id}"), &key).await;
    assert_eq!(r.body["status"], "processed");
    let entry = &r.body["platforms"][0];
    assert_eq!(entry["status"], "failed");
    // This profile's sealed tokens were not made with the server's key: a clear, final failure.
    assert!(
        entry["error"].as_str().unwrap().contains("cannot be decrypted"),
        "{entry}"
    );
    assert!(
        entry["error_details"]["postproxy_note"]
            .as_str()
            .unwrap()
            .contains("POSTPROXY_SECRET_KEY")
    );
    assert!(entry["attempted_at"].is_string());
    // The media host does not exist (`.invalid` never resolves): failed at once, not retried.
    let path = format!("/api/posts/{}", r2.body["id"].as_str().unwrap());
    let r2 = t.get(&path, &key).await;
    assert_eq!(r2.body["status"], "media_processing_failed");
    assert_eq!(r2.body["media"][0]["status"], "failed");
    assert!(r2.body["media"][0]["error_message"].is_string());
    assert_eq!(r2.body["platforms"][0]["status"], "failed");
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").await, 0);
});

app_test!(validation_holes_are_422s_that_name_the_field, |t: TestApp| async move {
    let key = t.account.key.clone();
    t.insert_profile(&t.account, t.account.group_id, Platform::Twitter, "x-1")
        .await;
    let problems = |body: Value| {
        let t = &t;
        let key = key.clone();
        async move {
            let r = t.post("/api/posts", &key, body).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
            let errors: Vec<String> = serde_json::from_value(r.body["errors"].clone()).unwrap();
            assert_eq!(r.body["error"], errors[0].as_str());
            errors
        }
    };
    // (what is sent, the one problem named: exactly, or `…` for a message that starts so)
    let cases = [
        // A blank body and no media: X would refuse it at publish time.
        (
            json!({"post": {"body": "   "}, "profiles": ["twitter"]}),
            "Body can't be blank: X needs text or media",
        ),
        // An empty thread part.
        (
            json!({"post": {"body": "1/2"}, "profiles": ["twitter"], "thread": [{"body": " "}]}),
            "thread[0] body can't be blank",
        ),
        // An unknown key in `post` is named, with no blank body beside it.
        (
            json!({"post": {"body": "hi", "foo": 1}, "profiles": ["twitter"]}),
            "post unknown field `foo`…",
        ),
        // Media of the wrong shape, in plain words.
        (
            json!({"post": {"body": "hi"}, "profiles": ["twitter"], "media": [123]}),
            "media item 0: must be a URL (text) or an object with a \"url\"",
        ),
    ];
    for (body, want) in cases {
        let e = problems(body.clone()).await;
        assert_eq!(e.len(), 1, "{body}: {e:?}");
        match want.strip_suffix('…') {
            Some(prefix) => assert!(e[0].starts_with(prefix), "{body}: {e:?}"),
            None => assert_eq!(e[0], want, "{body}"),
        }
    }
});

app_test!(
    platform_parameters_are_checked_platform_by_platform,
    |t: TestApp| async move {
        let key = t.account.key.clone();
        t.insert_profile(&t.account, t.account.group_id, Platform::Threads, "th-1")
            .await;
        let r = t
            .post(
                "/api/posts",
                &key,
                json!({"post": {"body": "Hi", "draft": true}, "profiles": ["threads"],
                   "platforms": {"instagram": {"foo": 1, "first_comment": "x"},
                                 "twitter": {"poll_options": ["a", "b"]},
                                 "linkedin": {"format": "reel"},
                                 "threads": {"topic_tag": "rust", "alt_text": "A cat"},
                                 "pinterest": {}}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let mut errors: Vec<String> = serde_json::from_value(r.body["errors"].clone()).unwrap();
        errors.sort();
        assert_eq!(
            errors,
            [
                "platforms.instagram.foo is not one of Instagram's parameters (known: format, first_comment, alt_text, collaborators)",
                "platforms.linkedin.format \"reel\" is not available (allowed: post)",
                "platforms.pinterest: pinterest is not available on this server yet",
                "platforms.twitter.poll_options polls are not available on this server yet",
            ]
        );
        // The valid keys of every platform are kept and shown back.
        let r = t
            .post(
                "/api/posts",
                &key,
                json!({"post": {"body": "Hi", "draft": true}, "profiles": ["threads"],
                   "platforms": {"threads": {"topic_tag": "rust", "alt_text": "A cat"},
                                 "instagram": {"first_comment": "x", "collaborators": ["a"]}}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["platforms"][0]["params"]["topic_tag"], "rust");
        let r = t
            .post(
                "/api/posts",
                &key,
                json!({"post": {"body": "Hi", "draft": true}, "profiles": ["threads"],
                   "platforms": {"threads": {"topic_tag": "#rust"}}}),
            )
            .await;
        assert_eq!(
            r.body["error"],
            "platforms.threads.topic_tag must be 1 to 50 characters without #, . or &"
        );
    }
);
