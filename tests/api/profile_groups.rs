//! The Profile Groups API, status and body exactly as specified.

use axum::http::{Method, StatusCode};
use postproxy::domain::platform::Platform;
use serde_json::json;

use crate::helpers::{PUBLIC_URL, TestApp};

app_test!(
    list_shows_groups_in_creation_order_with_counts,
    |t: TestApp| async move {
        let key = t.account.key.clone();
        let b = t.create_group(&key, "Brand B").await;
        let c = t.create_group(&key, "Client C").await;
        t.insert_profile(&t.account, t.decode_group(&b), Platform::Twitter, "tw-1")
            .await;
        t.insert_profile(&t.account, t.decode_group(&b), Platform::Facebook, "fb-1")
            .await;

        let r = t.get("/api/profile_groups", &key).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.body,
            json!({"data": [
                {"id": t.account.group_public_id, "name": "Default", "profiles_count": 0},
                {"id": b, "name": "Brand B", "profiles_count": 2},
                {"id": c, "name": "Client C", "profiles_count": 0},
            ]}),
            "{:?}",
            t.backend
        );
        assert_eq!(r.headers["content-type"], "application/json");
    }
);

app_test!(get_returns_one_group, |t: TestApp| async move {
    let key = t.account.key.clone();
    let id = t.create_group(&key, "Main Brand").await;
    t.insert_profile(&t.account, t.decode_group(&id), Platform::Instagram, "ig-1")
        .await;
    let r = t.get(&format!("/api/profile_groups/{id}"), &key).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"id": id, "name": "Main Brand", "profiles_count": 1}));
});

app_test!(get_unknown_or_undecodable_is_404, |t: TestApp| async move {
    let key = t.account.key.clone();
    // A well-formed id of a group that does not exist, ids of other resource types, garbage.
    let missing = t.state.encode(postproxy::ids::Kind::ProfileGroup, 999_999);
    let profile_id = t.state.encode(postproxy::ids::Kind::Profile, t.account.group_id);
    let account_id = t.account.public_id.clone();
    for id in [
        missing.as_str(),
        profile_id.as_str(),
        account_id.as_str(),
        "grp123abc",
        "0",
        "%00",
        "a%2Fb",
        "ÿ",
    ] {
        for method in [Method::GET, Method::DELETE] {
            let r = t
                .call(method.clone(), &format!("/api/profile_groups/{id}"), Some(&key), None)
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {id}: {}", r.text);
            assert_eq!(r.body, json!({"error": "Not found"}));
        }
        let r = t
            .post(
                &format!("/api/profile_groups/{id}/initialize_connection"),
                &key,
                json!({"platform": "twitter", "redirect_url": "https://a.example/cb"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {}", r.text);
    }
});

app_test!(
    create_accepts_documented_top_level_and_form_bodies,
    |t: TestApp| async move {
        let key = t.account.key.clone();
        let r = t
            .post(
                "/api/profile_groups",
                &key,
                json!({"profile_group": {"name": "Documented"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["name"], "Documented");
        assert_eq!(r.body["profiles_count"], 0);
        let id = r.body["id"].as_str().unwrap();
        assert!(
            id.len() >= 9 && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{id}"
        );

        let r = t.post("/api/profile_groups", &key, json!({"name": "Top level"})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.body["name"], "Top level");

        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/api/profile_groups")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(
                "profile_group%5Bname%5D=Form+encoded+%F0%9F%9A%80",
            ))
            .unwrap();
        let r = t.raw(req).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["name"], "Form encoded 🚀");

        let names: Vec<String> = t.get("/api/profile_groups", &key).await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["Default", "Documented", "Top level", "Form encoded 🚀"]);
    }
);

app_test!(create_stores_unicode_names_exactly, |t: TestApp| async move {
    let key = t.account.key.clone();
    for name in ["🚀 Launch 🎉", "مرحبا بالعالم", "שלום", "名前", &"é".repeat(255)] {
        let id = t.create_group(&key, name).await;
        let r = t.get(&format!("/api/profile_groups/{id}"), &key).await;
        assert_eq!(r.body["name"], name);
    }
});

app_test!(create_validates_name, |t: TestApp| async move {
    let key = t.account.key.clone();
    let blank = json!({"error": "Name can't be blank", "errors": ["Name can't be blank"]});
    for body in [
        json!({}),
        json!({"profile_group": {}}),
        json!({"profile_group": {"name": ""}}),
        json!({"profile_group": {"name": "   "}}),
        json!({"name": null}),
        json!({"profile_group": {"name": null}}),
    ] {
        let r = t.post("/api/profile_groups", &key, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.body, blank, "{body}");
    }
    let r = t
        .post("/api/profile_groups", &key, json!({"name": "a".repeat(256)}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body["errors"],
        json!(["Name is too long (maximum is 255 characters)"])
    );
    assert_eq!(r.body["error"], "Name is too long (maximum is 255 characters)");

    let r = t
        .post("/api/profile_groups", &key, json!({"name": "a".repeat(255)}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    for bad in ["nul\u{0}byte", "bell\u{7}", "new\nline"] {
        let r = t.post("/api/profile_groups", &key, json!({"name": bad})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert_eq!(r.body["errors"], json!(["Name can't contain control characters"]));
    }
    for bad in [
        json!({"name": "A", "profile_group": "B"}),
        json!({"profile_group": [null, null]}),
    ] {
        let r = t.post("/api/profile_groups", &key, bad.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(r.body["errors"], json!(["profile_group must be an object"]));
    }
    let r = t.post("/api/profile_groups", &key, json!({"name": 42})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"], json!(["Name must be a string"]));

    // Nothing invalid was stored: Default plus the one 255-character group.
    assert_eq!(t.count("SELECT COUNT(*) FROM profile_groups").await, 2);
});

app_test!(delete_removes_group_profiles_and_scoped_keys, |t: TestApp| async move {
    let key = t.account.key.clone();
    let id = t.create_group(&key, "Doomed").await;
    let gid = t.decode_group(&id);
    t.insert_profile(&t.account, gid, Platform::Linkedin, "li-1").await;
    t.insert_profile(&t.account, gid, Platform::Youtube, "yt-1").await;
    // A profile in another group survives.
    t.insert_profile(&t.account, t.account.group_id, Platform::Youtube, "yt-2")
        .await;
    let (_, scoped) = t.scoped_key(&t.account, gid).await;
    assert_eq!(t.get("/api/profile_groups", &scoped).await.status, StatusCode::OK);
    let r = t
        .post(
            &format!("/api/profile_groups/{id}/initialize_connection"),
            &key,
            json!({"platform": "tiktok", "redirect_url": "https://a.example/cb"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let r = t.delete(&format!("/api/profile_groups/{id}"), &key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, json!({"deleted": true}));

    assert_eq!(
        t.get(&format!("/api/profile_groups/{id}"), &key).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM profiles").await, 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM connection_invitations").await, 0);
    let r = t.get("/api/profile_groups", &scoped).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, json!({"error": "Invalid API key"}));
    // Deleting again is a 404.
    assert_eq!(
        t.delete(&format!("/api/profile_groups/{id}"), &key).await.status,
        StatusCode::NOT_FOUND
    );
});

app_test!(initialize_connection_returns_single_use_url, |t: TestApp| async move {
    let key = t.account.key.clone();
    let gid = t.account.group_public_id.clone();
    let path = format!("/api/profile_groups/{gid}/initialize_connection");
    let mut urls = std::collections::HashSet::new();
    for platform in [
        "facebook",
        "instagram",
        "tiktok",
        "linkedin",
        "youtube",
        "twitter",
        "threads",
    ] {
        let r = t
            .post(
                &path,
                &key,
                json!({"platform": platform, "redirect_url": "https://myapp.com/oauth/callback"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{platform}: {}", r.text);
        assert_eq!(r.body["success"], true);
        let url = r.body["url"].as_str().unwrap().to_string();
        let token = url
            .strip_prefix(&format!("{PUBLIC_URL}/partner_connect/"))
            .expect("public url prefix");
        assert!(token.len() >= 43, "{token}");
        assert_eq!(r.body.as_object().unwrap().len(), 2);
        // Stored as a hash only, with its group, platform, redirect and a one-hour expiry.
        let inv = postproxy::db::invitations::find_by_token_hash(&t.db, &postproxy::crypto::hash_secret(token))
            .await
            .unwrap()
            .expect("invitation stored");
        assert_eq!(inv.profile_group_id, t.account.group_id);
        assert_eq!(inv.account_id, t.account.id);
        assert_eq!(inv.platform.as_str(), platform);
        assert_eq!(inv.redirect_url, "https://myapp.com/oauth/callback");
        assert!(!inv.refresh_connection);
        assert_eq!(inv.used_at_ms, None);
        let ttl = inv.expires_at_ms - postproxy::clock::now_ms();
        assert!((59 * 60 * 1000..=60 * 60 * 1000).contains(&ttl), "{ttl}");
        assert!(urls.insert(url));
    }
    let stored: i64 = t.count("SELECT COUNT(*) FROM connection_invitations").await;
    assert_eq!(stored, 7);
});

app_test!(initialize_connection_validates_in_order, |t: TestApp| async move {
    let key = t.account.key.clone();
    let path = format!(
        "/api/profile_groups/{}/initialize_connection",
        t.account.group_public_id
    );
    let cases = [
        (json!({}), "Missing redirect_url"),
        (json!({"platform": "twitter"}), "Missing redirect_url"),
        (
            json!({"platform": "twitter", "redirect_url": ""}),
            "Missing redirect_url",
        ),
        (
            json!({"platform": "twitter", "redirect_url": "not a url"}),
            "Invalid redirect_url",
        ),
        (
            json!({"platform": "twitter", "redirect_url": "/relative/path"}),
            "Invalid redirect_url",
        ),
        (
            json!({"platform": "twitter", "redirect_url": "ftp://a.example/x"}),
            "Invalid redirect_url",
        ),
        (
            json!({"platform": "twitter", "redirect_url": "javascript:alert(1)"}),
            "Invalid redirect_url",
        ),
        (
            json!({"platform": "twitter", "redirect_url": 12}),
            "Invalid redirect_url",
        ),
        (json!({"redirect_url": "https://a.example/cb"}), "Missing platform"),
        (
            json!({"platform": "", "redirect_url": "https://a.example/cb"}),
            "Missing platform",
        ),
        (
            json!({"platform": "myspace", "redirect_url": "https://a.example/cb"}),
            "Unsupported platform",
        ),
        (
            json!({"platform": "Twitter", "redirect_url": "https://a.example/cb"}),
            "Unsupported platform",
        ),
        (
            json!({"platform": ["twitter"], "redirect_url": "https://a.example/cb"}),
            "Missing platform",
        ),
    ];
    for (body, error) in cases {
        let r = t.post(&path, &key, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // "Unsupported platform" goes on to say which platforms there are.
        let got = r.body["error"].as_str().unwrap();
        assert!(got == error || got.starts_with(&format!("{error}: ")), "{body}: {got}");
        assert_eq!(r.body["errors"], json!([got]), "{body}");
    }
    // No body at all, as the Python SDK sends nothing else for an empty dict.
    let r = t.call(Method::POST, &path, Some(&key), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body,
        json!({"error": "Missing redirect_url", "errors": ["Missing redirect_url"]})
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM connection_invitations").await, 0);
});

app_test!(
    initialize_connection_refuses_connected_platform_unless_refreshing,
    |t: TestApp| async move {
        let key = t.account.key.clone();
        let path = format!(
            "/api/profile_groups/{}/initialize_connection",
            t.account.group_public_id
        );
        t.insert_profile(&t.account, t.account.group_id, Platform::Linkedin, "li-1")
            .await;
        let r = t
            .post(
                &path,
                &key,
                json!({"platform": "linkedin", "redirect_url": "https://a.example/cb"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.body,
            json!({"error": "Platform already connected", "errors": ["Platform already connected"]})
        );

        let r = t
            .post(
                &path,
                &key,
                json!({"platform": "linkedin", "redirect_url": "https://a.example/cb", "refresh_connection": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let token = r.body["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        let inv = postproxy::db::invitations::find_by_token_hash(&t.db, &postproxy::crypto::hash_secret(&token))
            .await
            .unwrap()
            .unwrap();
        assert!(inv.refresh_connection);

        // Another platform in the same group, or LinkedIn in another group, is fine.
        let r = t
            .post(
                &path,
                &key,
                json!({"platform": "twitter", "redirect_url": "https://a.example/cb"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let other = t.create_group(&key, "Other").await;
        let r = t
            .post(
                &format!("/api/profile_groups/{other}/initialize_connection"),
                &key,
                json!({"platform": "linkedin", "redirect_url": "http://localhost:3000/cb"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
);

app_test!(initialize_connection_accepts_form_encoding, |t: TestApp| async move {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!(
            "/api/profile_groups/{}/initialize_connection",
            t.account.group_public_id
        ))
        .header("authorization", format!("Bearer {}", t.account.key))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(
            "platform=youtube&redirect_url=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1",
        ))
        .unwrap();
    let r = t.raw(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["success"], true);
});

app_test!(
    concurrent_creates_all_succeed_with_distinct_ids,
    |t: TestApp| async move {
        let t = std::sync::Arc::new(t);
        let mut tasks = Vec::new();
        for i in 0..24 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let key = t.account.key.clone();
                let r = t
                    .post("/api/profile_groups", &key, json!({"name": format!("Group {i}")}))
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
                (r.body["id"].as_str().unwrap().to_string(), i)
            }));
        }
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            let (id, i) = task.await.unwrap();
            let r = t.get(&format!("/api/profile_groups/{id}"), &t.account.key).await;
            assert_eq!(r.body["name"], format!("Group {i}"));
            assert!(ids.insert(id));
        }
        let list = t.get("/api/profile_groups", &t.account.key).await;
        assert_eq!(list.body["data"].as_array().unwrap().len(), 25);
    }
);

app_test!(
    initialize_connection_needs_a_configured_platform,
    |t: TestApp| async move {
        // A server with only X configured.
        let only_x = postproxy::platforms::Providers::from_lookup(|k| match k {
            "POSTPROXY_TWITTER_CLIENT_ID" | "POSTPROXY_TWITTER_CLIENT_SECRET" => Some("x".into()),
            _ => None,
        });
        let t2 = TestApp::builder(t.backend).providers(only_x).spawn().await;
        let path = format!(
            "/api/profile_groups/{}/initialize_connection",
            t2.account.group_public_id
        );
        let r = t2
            .post(
                &path,
                &t2.account.key,
                json!({"platform": "tiktok", "redirect_url": "https://a.example/cb"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.body,
            json!({"error": "Platform not configured", "errors": ["Platform not configured"]})
        );
        let r = t2
            .post(
                &path,
                &t2.account.key,
                json!({"platform": "twitter", "redirect_url": "https://a.example/cb"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
);
