//! Cross-cutting HTTP behaviour: errors as JSON, limits, headers, trailing slashes, probes.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

app_test!(unknown_routes_and_methods_are_json, |t: TestApp| async move {
    let key = t.account.key.clone();
    for path in ["/nope", "/api", "/api/profile_groups/x/y/z", "/api/queues"] {
        let r = t.get(path, &key).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body, json!({"error": "Not found"}));
    }
    for (method, path) in [
        (Method::PUT, "/api/profile_groups"),
        (Method::PATCH, "/api/profile_groups/abc"),
        (Method::DELETE, "/api/profile_groups"),
        (Method::GET, "/api/profile_groups/abc/initialize_connection"),
    ] {
        let r = t.call(method.clone(), path, Some(&key), None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(r.body["error"].is_string());
    }
});

app_test!(malformed_bodies_are_400_with_the_rails_shape, |t: TestApp| async move {
    let deep = "[".repeat(100_000);
    for body in ["{", "{\"name\":", "not json", "[1,2]", "\"str\"", deep.as_str()] {
        let req = Request::builder()
            .method("POST")
            .uri("/api/profile_groups")
            .header("authorization", format!("Bearer {}", t.account.key))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let r = t.raw(req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:.20}");
        assert_eq!(r.body["status"], 400);
        assert_eq!(r.body["error"], "Bad Request");
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM profile_groups").await, 1);
});

app_test!(oversized_and_wrong_type_bodies, |t: TestApp| async move {
    let big = format!("{{\"name\":\"{}\"}}", "a".repeat(1024 * 1024 + 1));
    let req = Request::builder()
        .method("POST")
        .uri("/api/profile_groups")
        .header("authorization", format!("Bearer {}", t.account.key))
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    let r = t.raw(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body["error"].is_string());

    let req = Request::builder()
        .method("POST")
        .uri("/api/profile_groups")
        .header("authorization", format!("Bearer {}", t.account.key))
        .header("content-type", "application/xml")
        .body(Body::from("<name>x</name>"))
        .unwrap();
    let r = t.raw(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.body["error"].is_string());
    assert_eq!(t.count("SELECT COUNT(*) FROM profile_groups").await, 1);
});

app_test!(
    trailing_slash_and_sdk_query_parameter_are_accepted,
    |t: TestApp| async move {
        let key = t.account.key.clone();
        let gid = t.account.group_public_id.clone();
        let r = t.get("/api/profile_groups/", &key).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(
            t.get(&format!("/api/profile_groups/{gid}/"), &key).await.status,
            StatusCode::OK
        );
        let r = t
            .get(&format!("/api/profile_groups/{gid}?profile_group_id={gid}"), &key)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = t
            .post(
                &format!("/api/profile_groups/?profile_group_id={gid}"),
                &key,
                json!({"name": "Q"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let q = r.body["id"].as_str().unwrap().to_string();
        let r = t
            .post(
                &format!("/api/profile_groups/{gid}/initialize_connection/?profile_group_id={gid}"),
                &key,
                json!({"platform": "twitter", "redirect_url": "https://a.example/cb"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = t
            .delete(&format!("/api/profile_groups/{q}/?profile_group_id={gid}"), &key)
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
);

app_test!(every_response_has_a_request_id_and_no_store, |t: TestApp| async move {
    let key = t.account.key.clone();
    let mut seen = std::collections::HashSet::new();
    for r in [
        t.get("/api/profile_groups", &key).await,
        t.get("/nope", &key).await,
        t.call(Method::GET, "/api/profile_groups", None, None).await,
        t.get("/healthz", &key).await,
    ] {
        let id = r
            .headers
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap()
            .to_string();
        assert!(!id.is_empty());
        assert!(seen.insert(id));
        assert_eq!(r.headers["cache-control"], "no-store");
    }
    // A caller-supplied id is echoed, so clients can correlate.
    let req = Request::builder()
        .uri("/healthz")
        .header("x-request-id", "trace-me-123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.raw(req).await.headers["x-request-id"], "trace-me-123");
    // An implausible one is replaced.
    for bad in ["x".repeat(129), "a b".to_string(), "evil\"quote".to_string()] {
        let req = Request::builder()
            .uri("/healthz")
            .header("x-request-id", &bad)
            .body(Body::empty())
            .unwrap();
        let id = t.raw(req).await.headers["x-request-id"].to_str().unwrap().to_string();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36, "a UUID: {id}");
    }
});

app_test!(health_probes, |t: TestApp| async move {
    let r = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({"status": "ok"})));
    let r = t.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({"status": "ready"})));
    t.db.close().await;
    let r = t.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::SERVICE_UNAVAILABLE, json!({"status": "unavailable"}))
    );
    // Liveness does not depend on the database.
    assert_eq!(t.call(Method::GET, "/healthz", None, None).await.status, StatusCode::OK);
});

app_test!(
    ids_reveal_no_counts_and_differ_between_installations,
    |t: TestApp| async move {
        let key = t.account.key.clone();
        let a = t.create_group(&key, "A").await;
        let b = t.create_group(&key, "B").await;
        assert_ne!(a, b);
        assert!(a.len() >= 9 && b.len() >= 9);
        // Another installation (another fresh database) encodes the same row id differently.
        let other = crate::helpers::TestApp::spawn(t.backend).await;
        assert_ne!(other.account.group_public_id, t.account.group_public_id);
        assert_eq!(other.account.group_id, t.account.group_id);
    }
);

/// Sends a raw HTTP/1.1 request over a real socket and returns (status, body).
async fn raw_http(base: &str, request: String) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn very_long_headers_are_rejected_cleanly() {
    for backend in crate::helpers::backends() {
        let t = TestApp::builder(backend).listening().spawn().await;
        let base = t.base.clone();
        let host = base.trim_start_matches("http://");
        // A 16 KiB Authorization header: an invalid key, answered in JSON.
        let long_key = "k".repeat(16 * 1024);
        let (status, body) = raw_http(
            &base,
            format!("GET /api/profile_groups HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {long_key}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(body, r#"{"error":"Invalid API key"}"#);
        // 32 KiB of other headers with a valid key: served normally.
        let filler: String = (0..32)
            .map(|i| format!("X-Filler-{i}: {}\r\n", "f".repeat(1000)))
            .collect();
        let (status, _) = raw_http(
            &base,
            format!(
                "GET /api/profile_groups HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n{filler}Connection: close\r\n\r\n",
                t.account.key
            ),
        )
        .await;
        assert_eq!(status, 200);
        // Beyond the HTTP parser's limit (≈400 KiB of headers) the connection is refused with
        // 431 before any handler runs; nothing is stored.
        let huge = "h".repeat(512 * 1024);
        let (status, _) = raw_http(
            &base,
            format!("POST /api/profile_groups HTTP/1.1\r\nHost: {host}\r\nX-Huge: {huge}\r\nContent-Length: 0\r\n\r\n"),
        )
        .await;
        assert!(status == 431 || status == 400, "{status}");
        assert_eq!(t.count("SELECT COUNT(*) FROM profile_groups").await, 1);
    }
}
