//! The OpenAPI document: snapshot-tested, and complete with respect to the router.

use axum::http::{Method, StatusCode};

use crate::helpers::TestApp;

backend_test!(openapi_document_matches_snapshot, |t: TestApp| async move {
    let r = t.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    insta::assert_json_snapshot!("openapi", r.body);
});

backend_test!(openapi_documents_every_endpoint, |t: TestApp| async move {
    let doc = t.call(Method::GET, "/api/openapi.json", None, None).await.body;
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/profile_groups", "get"),
        ("/api/profile_groups", "post"),
        ("/api/profile_groups/{id}", "get"),
        ("/api/profile_groups/{id}", "delete"),
        ("/api/profile_groups/{id}/initialize_connection", "post"),
        ("/api/profiles", "get"),
        ("/api/profiles/{id}", "get"),
        ("/api/profiles/{id}", "delete"),
        ("/api/profiles/{id}/placements", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ];
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (p.clone(), m.clone())))
        .filter(|(_, m)| m != "parameters")
        .collect();
    documented.sort();
    let mut want: Vec<(String, String)> = expected.iter().map(|(p, m)| (p.to_string(), m.to_string())).collect();
    want.sort();
    assert_eq!(documented, want);
    // Every documented operation is really routed (no 404/405 from the router itself).
    let profile = t
        .insert_profile(
            &t.account,
            t.account.group_id,
            postproxy::domain::platform::Platform::Twitter,
            "tw-1",
        )
        .await;
    let profile_id = t.state.encode(postproxy::ids::Kind::Profile, profile);
    for (path, method) in &want {
        let id = if path.starts_with("/api/profiles") {
            profile_id.as_str()
        } else {
            t.account.group_public_id.as_str()
        };
        let path = path.replace("{id}", id);
        let method: Method = method.to_uppercase().parse().unwrap();
        if method == Method::DELETE {
            continue; // would delete the group; covered in profile_groups tests
        }
        let r = t
            .call(method.clone(), &path, Some(&t.account.key), Some(serde_json::json!({})))
            .await;
        assert!(
            r.status != StatusCode::NOT_FOUND && r.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            r.status
        );
    }
    // Every operation states its error responses.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            if path.starts_with("/api/") {
                assert!(op["responses"]["401"].is_object(), "{method} {path} documents 401");
            }
        }
    }
});
