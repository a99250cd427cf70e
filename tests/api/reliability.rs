//! Idempotency keys and per-key rate limiting.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{TestApp, TestResponse};

fn post_with_key(path: &str, api_key: &str, idem: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {api_key}"))
        .header("content-type", "application/json")
        .header("idempotency-key", idem)
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn groups(t: &TestApp, key: &str) -> usize {
    t.get("/api/profile_groups", key).await.body["data"]
        .as_array()
        .unwrap()
        .len()
}

app_test!(idempotent_create_replays_the_first_response, |t: TestApp| async move {
    let key = t.account.key.clone();
    let body = json!({"profile_group": {"name": "Once"}});
    let first = t
        .raw(post_with_key("/api/profile_groups", &key, "create-once-1", &body))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = t
        .raw(post_with_key("/api/profile_groups/", &key, "create-once-1", &body))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.headers["content-type"], "application/json");
    assert_eq!(groups(&t, &key).await, 2);

    // The same key with another request.
    let other = t
        .raw(post_with_key(
            "/api/profile_groups",
            &key,
            "create-once-1",
            &json!({"name": "Twice"}),
        ))
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(other.body["error"].as_str().unwrap().contains("different request"));
    assert_eq!(groups(&t, &key).await, 2);

    // Keys belong to the account: another account's identical key is independent.
    let b = t.new_account("b").await;
    let r = t
        .raw(post_with_key("/api/profile_groups", &b.key, "create-once-1", &body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(r.body["id"], first.body["id"]);
});

app_test!(failed_requests_leave_the_key_free, |t: TestApp| async move {
    let key = t.account.key.clone();
    let r = t
        .raw(post_with_key(
            "/api/profile_groups",
            &key,
            "k-fail",
            &json!({"name": ""}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = t
        .raw(post_with_key(
            "/api/profile_groups",
            &key,
            "k-fail",
            &json!({"name": "Fixed"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM idempotency_keys").await, 1);
    // Unauthenticated requests are not recorded at all.
    let r = t
        .raw(post_with_key(
            "/api/profile_groups",
            "pp_bogus",
            "k-anon",
            &json!({"name": "X"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.count("SELECT COUNT(*) FROM idempotency_keys").await, 1);
});

app_test!(in_flight_key_is_a_conflict, |t: TestApp| async move {
    let key = t.account.key.clone();
    let body = json!({"name": "Slow"});
    // Stage the first request as still running (as another replica would hold it).
    let fp =
        postproxy::http::idempotency::fingerprint("POST", "/api/profile_groups", None, body.to_string().as_bytes());
    let now = postproxy::clock::now_ms();
    postproxy::db::idempotency::claim(&t.db, t.account.id, "k-busy", &fp, now, now + 60_000, now + 86_400_000)
        .await
        .unwrap();
    let r = t.raw(post_with_key("/api/profile_groups", &key, "k-busy", &body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["error"].as_str().unwrap().contains("in progress"));
    assert_eq!(groups(&t, &key).await, 1);
    // A holder that died (its lock ran out) is taken over.
    t.exec("UPDATE idempotency_keys SET locked_until_ms = 1").await;
    let r = t.raw(post_with_key("/api/profile_groups", &key, "k-busy", &body)).await;
    assert_eq!(r.status, StatusCode::CREATED);
});

app_test!(concurrent_duplicates_create_once, |t: TestApp| async move {
    let t = std::sync::Arc::new(t);
    let body = json!({"name": "Raced"});
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let t = t.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            t.raw(post_with_key("/api/profile_groups", &t.account.key, "k-race", &body))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::CREATED));
    assert_eq!(
        t.count("SELECT COUNT(*) FROM profile_groups WHERE name = 'Raced'")
            .await,
        1
    );
});

app_test!(
    idempotency_covers_delete_and_initialize_connection_and_replicas,
    |t: TestApp| async move {
        let key = t.account.key.clone();
        let gid = t.create_group(&key, "Doomed").await;
        let del = |k: &str| {
            Request::builder()
                .method("DELETE")
                .uri(format!("/api/profile_groups/{gid}"))
                .header("authorization", format!("Bearer {key}"))
                .header("idempotency-key", k.to_string())
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(t.raw(del("k-del")).await.status, StatusCode::OK);
        // A retry of the delete gets the original answer, not a 404.
        let r = t.raw(del("k-del")).await;
        assert_eq!((r.status, r.body), (StatusCode::OK, json!({"deleted": true})));
        // Without the key it is a fresh request: 404.
        assert_eq!(
            t.delete(&format!("/api/profile_groups/{gid}"), &key).await.status,
            StatusCode::NOT_FOUND
        );

        let path = format!(
            "/api/profile_groups/{}/initialize_connection",
            t.account.group_public_id
        );
        let body = json!({"platform": "twitter", "redirect_url": "https://a.example/cb"});
        let a = t.raw(post_with_key(&path, &key, "k-init", &body)).await;
        // Another replica (its own router and pool on the same database) replays it.
        let db2 = postproxy::db::Db::connect(&t.db_url, Default::default()).await.unwrap();
        let replica = postproxy::http::app(
            postproxy::startup::build_state(
                db2,
                crate::helpers::PUBLIC_URL,
                crate::helpers::unreachable_providers(),
                postproxy::sealing::Sealer::new(&crate::helpers::TEST_SECRET_KEY),
            )
            .await
            .unwrap(),
        );
        let b = replica
            .oneshot(post_with_key(&path, &key, "k-init", &body))
            .await
            .unwrap();
        assert_eq!(b.status(), StatusCode::OK);
        let b: Value = serde_json::from_slice(&axum::body::to_bytes(b.into_body(), usize::MAX).await.unwrap()).unwrap();
        assert_eq!(a.body["url"], b["url"]);
        assert_eq!(t.count("SELECT COUNT(*) FROM connection_invitations").await, 1);
    }
);

app_test!(expired_keys_are_purged_and_reusable, |t: TestApp| async move {
    let key = t.account.key.clone();
    let r = t
        .raw(post_with_key(
            "/api/profile_groups",
            &key,
            "k-old",
            &json!({"name": "Day one"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    t.exec("UPDATE idempotency_keys SET expires_at_ms = 1").await;
    postproxy::jobs::schedule_tick(&t.state).await.unwrap();
    assert_eq!(t.count("SELECT COUNT(*) FROM idempotency_keys").await, 0);
    let r = t
        .raw(post_with_key(
            "/api/profile_groups",
            &key,
            "k-old",
            &json!({"name": "Day two"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.headers.get("idempotent-replayed").is_none());
});

app_test!(bad_idempotency_keys_are_400, |t: TestApp| async move {
    let key = t.account.key.clone();
    let long = "k".repeat(256);
    let r = t
        .raw(post_with_key("/api/profile_groups", &key, &long, &json!({"name": "X"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "Bad Request");
    let ok = "k".repeat(255);
    assert_eq!(
        t.raw(post_with_key("/api/profile_groups", &key, &ok, &json!({"name": "X"})))
            .await
            .status,
        StatusCode::CREATED
    );
    // GETs ignore the header.
    let req = Request::builder()
        .uri("/api/profile_groups")
        .header("authorization", format!("Bearer {key}"))
        .header("idempotency-key", "k-get")
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.raw(req).await.status, StatusCode::OK);
    assert_eq!(t.count("SELECT COUNT(*) FROM idempotency_keys").await, 1);
});

async fn call(app: &postproxy::http::App, key: &str) -> TestResponse {
    let req = Request::builder()
        .uri("/api/profile_groups")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    TestResponse {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::new(),
    }
}

app_test!(
    rate_limit_per_key_answers_429_with_retry_after,
    |t: TestApp| async move {
        let limited = postproxy::http::app(t.state.clone().with_rate_limit(3));
        for _ in 0..3 {
            assert_eq!(call(&limited, &t.account.key).await.status, StatusCode::OK);
        }
        let r = call(&limited, &t.account.key).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(r.body["error"].as_str().unwrap().contains("Rate limit"));
        // Another key has its own budget; invalid keys are 401, not 429.
        let other = t.new_account("other").await;
        assert_eq!(call(&limited, &other.key).await.status, StatusCode::OK);
        assert_eq!(call(&limited, "pp_nope").await.status, StatusCode::UNAUTHORIZED);
        // Unauthenticated probes are never limited.
        for _ in 0..10 {
            let resp = limited
                .clone()
                .oneshot(Request::builder().uri("/healthz").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
    }
);

app_test!(
    delete_racing_initialize_connection_never_500s,
    |t: TestApp| async move {
        let t = std::sync::Arc::new(t);
        let mut seen = std::collections::HashSet::new();
        for i in 0..30 {
            let gid = t.create_group(&t.account.key, &format!("Race {i}")).await;
            let (a, b) = tokio::join!(
                {
                    let t = t.clone();
                    let gid = gid.clone();
                    async move {
                        t.delete(&format!("/api/profile_groups/{gid}"), &t.account.key)
                            .await
                            .status
                    }
                },
                {
                    let t = t.clone();
                    let gid = gid.clone();
                    async move {
                        t.post(
                            &format!("/api/profile_groups/{gid}/initialize_connection"),
                            &t.account.key,
                            json!({"platform": "twitter", "redirect_url": "https://a.example/cb"}),
                        )
                        .await
                        .status
                    }
                }
            );
            assert_eq!(a, StatusCode::OK);
            assert!(b == StatusCode::OK || b == StatusCode::NOT_FOUND, "{b}");
            seen.insert(b);
        }
        // Whatever interleaving happened, no invitation outlives its group.
        assert_eq!(t.count("SELECT COUNT(*) FROM connection_invitations").await, 0);
    }
);

app_test!(
    concurrent_first_starts_bootstrap_exactly_once,
    |t: TestApp| async move {
        // A fresh, empty database shared by eight "replicas" starting at once.
        let (url, _dir) = crate::helpers::fresh_database_url(t.backend).await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let db = postproxy::startup::open_db(&url).await.unwrap();
                postproxy::db::accounts::bootstrap_default(&db, postproxy::clock::now_ms())
                    .await
                    .unwrap()
                    .is_some()
            }));
        }
        let mut created = 0;
        for task in tasks {
            created += task.await.unwrap() as usize;
        }
        assert_eq!(created, 1);
        let db = postproxy::startup::open_db(&url).await.unwrap();
        let n: i64 =
            postproxy::with_pool!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(p).await)
                .unwrap();
        assert_eq!(n, 1);
    }
);

app_test!(idempotency_keys_never_change_404_405_or_401, |t: TestApp| async move {
    let key = t.account.key.clone();
    let body = json!({"name": "First"});
    assert_eq!(
        t.raw(post_with_key("/api/profile_groups", &key, "k-shared", &body))
            .await
            .status,
        StatusCode::CREATED
    );
    // Another method or an unknown route with the same key answers as without it.
    let put = Request::builder()
        .method("PUT")
        .uri("/api/profile_groups")
        .header("authorization", format!("Bearer {key}"))
        .header("idempotency-key", "k-shared")
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.raw(put).await.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = t
        .raw(post_with_key("/api/does-not-exist", &key, "k-shared", &body))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Bad credentials are a 401 even with an invalid key.
    let r = t
        .raw(post_with_key("/api/profile_groups", "pp_nope", &"k".repeat(300), &body))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
});
