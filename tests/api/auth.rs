//! API keys: authentication, revocation, group scope and tenant isolation.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

app_test!(missing_malformed_and_unknown_keys_are_401, |t: TestApp| async move {
    let invalid = json!({"error": "Invalid API key"});
    let unknown = postproxy::crypto::new_api_key().plaintext;
    let long = "x".repeat(10_000);
    let headers = [
        None,
        Some(String::new()),
        Some(format!("Basic {}", t.account.key)),
        Some(t.account.key.clone()), // no scheme
        Some(format!("Bearer {unknown}")),
        Some(format!("Bearer {}x", t.account.key)),
        Some(format!("Bearer {long}")),
    ];
    for h in headers {
        for (method, path) in [
            (Method::GET, "/api/profile_groups".to_string()),
            (Method::POST, "/api/profile_groups".to_string()),
            (
                Method::GET,
                format!("/api/profile_groups/{}", t.account.group_public_id),
            ),
        ] {
            let mut b = axum::http::Request::builder().method(method.clone()).uri(&path);
            if let Some(h) = &h {
                b = b.header("authorization", h);
            }
            let r = t.raw(b.body(axum::body::Body::empty()).unwrap()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} {h:?}");
            assert_eq!(r.body, invalid);
            assert_eq!(r.headers["www-authenticate"], "Bearer");
        }
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM profile_groups").await, 1);
});

app_test!(bearer_scheme_is_case_insensitive, |t: TestApp| async move {
    let req = axum::http::Request::builder()
        .uri("/api/profile_groups")
        .header("authorization", format!("bearer {}", t.account.key))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(t.raw(req).await.status, StatusCode::OK);
});

app_test!(revoked_key_fails_at_once, |t: TestApp| async move {
    let other = t.new_account("other").await;
    assert_eq!(t.get("/api/profile_groups", &other.key).await.status, StatusCode::OK);
    assert!(
        postproxy::db::api_keys::revoke(&t.db, other.key_id, postproxy::clock::now_ms())
            .await
            .unwrap()
    );
    let r = t.get("/api/profile_groups", &other.key).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, json!({"error": "Invalid API key"}));
    // Other keys are untouched.
    assert_eq!(
        t.get("/api/profile_groups", &t.account.key).await.status,
        StatusCode::OK
    );
});

app_test!(keys_are_stored_only_as_hashes, |t: TestApp| async move {
    let stored: Vec<Vec<u8>> = postproxy::with_pool!(&t.db, p =>
        sqlx::query_scalar("SELECT key_hash FROM api_keys").fetch_all(p).await)
    .unwrap();
    assert_eq!(stored, vec![postproxy::crypto::hash_secret(&t.account.key)]);
    let prefixes: Vec<String> = postproxy::with_pool!(&t.db, p =>
        sqlx::query_scalar("SELECT prefix FROM api_keys").fetch_all(p).await)
    .unwrap();
    assert!(t.account.key.starts_with(&prefixes[0]));
    assert!(prefixes[0].len() < 16);
});

app_test!(scoped_key_sees_and_uses_only_its_group, |t: TestApp| async move {
    let full = t.account.key.clone();
    let mine = t.create_group(&full, "Mine").await;
    let theirs = t.create_group(&full, "Not mine").await;
    let (_, scoped) = t.scoped_key(&t.account, t.decode_group(&mine)).await;

    let r = t.get("/api/profile_groups", &scoped).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"data": [{"id": mine, "name": "Mine", "profiles_count": 0}]})
    );
    // The SDKs' profile_group_id query parameter does not widen the scope.
    let r = t
        .get(&format!("/api/profile_groups?profile_group_id={theirs}"), &scoped)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);

    assert_eq!(
        t.get(&format!("/api/profile_groups/{mine}"), &scoped).await.status,
        StatusCode::OK
    );
    let r = t.get(&format!("/api/profile_groups/{theirs}"), &scoped).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"error": "Not found"}));

    let r = t
        .post(
            &format!("/api/profile_groups/{mine}/initialize_connection"),
            &scoped,
            json!({"platform": "threads", "redirect_url": "https://a.example/cb"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .post(
            &format!("/api/profile_groups/{theirs}/initialize_connection"),
            &scoped,
            json!({"platform": "threads", "redirect_url": "https://a.example/cb"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let denied =
        json!({"error": "Your API key has no such permission", "errors": ["Your API key has no such permission"]});
    let r = t
        .post(
            "/api/profile_groups",
            &scoped,
            json!({"profile_group": {"name": "Sneaky"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body, denied);
    for id in [&mine, &theirs] {
        let r = t.delete(&format!("/api/profile_groups/{id}"), &scoped).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body, denied);
    }
    // Nothing changed.
    assert_eq!(t.count("SELECT COUNT(*) FROM profile_groups").await, 3);
});

app_test!(another_account_cannot_touch_my_groups, |t: TestApp| async move {
    let intruder = t.new_account("intruder").await;
    let mine = t.account.group_public_id.clone();
    t.insert_profile(
        &t.account,
        t.account.group_id,
        postproxy::domain::platform::Platform::Twitter,
        "tw",
    )
    .await;

    let r = t.get(&format!("/api/profile_groups/{mine}"), &intruder.key).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::NOT_FOUND, json!({"error": "Not found"}))
    );
    let r = t.delete(&format!("/api/profile_groups/{mine}"), &intruder.key).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::NOT_FOUND, json!({"error": "Not found"}))
    );
    let r = t
        .post(
            &format!("/api/profile_groups/{mine}/initialize_connection"),
            &intruder.key,
            json!({"platform": "facebook", "redirect_url": "https://evil.example/cb"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::NOT_FOUND, json!({"error": "Not found"}))
    );

    // Each account lists only its own groups.
    let r = t.get("/api/profile_groups", &intruder.key).await;
    assert_eq!(
        r.body,
        json!({"data": [{"id": intruder.group_public_id, "name": "Default", "profiles_count": 0}]})
    );
    let r = t.get(&format!("/api/profile_groups/{mine}"), &t.account.key).await;
    assert_eq!(r.body["profiles_count"], 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM connection_invitations").await, 0);
});
