//! The OpenAPI document: snapshot-tested, and complete with respect to the router.

use axum::http::{Method, StatusCode};

use crate::helpers::TestApp;

app_test!(openapi_document_matches_snapshot, |t: TestApp| async move {
    let r = t.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    insta::assert_json_snapshot!("openapi", r.body);
});

app_test!(openapi_documents_every_endpoint, |t: TestApp| async move {
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
        ("/api/posts", "get"),
        ("/api/posts", "post"),
        ("/api/posts/{id}", "get"),
        ("/api/posts/{id}", "patch"),
        ("/api/posts/{id}", "delete"),
        ("/api/posts/{id}/publish", "post"),
        ("/api/posts/{id}/delete_on_platform", "post"),
        ("/api/api_keys", "get"),
        ("/api/api_keys", "post"),
        ("/api/api_keys/{id}", "delete"),
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
    let post = t
        .post(
            "/api/posts",
            &t.account.key,
            serde_json::json!({"post": {"body": "x", "draft": true}, "profiles": ["twitter"]}),
        )
        .await;
    let post_id = post.body["id"].as_str().unwrap().to_string();
    for (path, method) in &want {
        let id = if path.starts_with("/api/profiles") {
            profile_id.as_str()
        } else if path.starts_with("/api/posts") {
            post_id.as_str()
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

app_test!(
    openapi_document_is_well_formed_and_matches_the_rules,
    |t: TestApp| async move {
        let doc = t.call(Method::GET, "/api/openapi.json", None, None).await.body;
        let mut ids = std::collections::HashSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
                assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
                for (status, resp) in op["responses"].as_object().unwrap() {
                    assert!(
                        resp["description"].as_str().is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status}"
                    );
                }
            }
        }
        // The published patterns are exactly the ones the server enforces.
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["ProfileGroupFields"]["properties"]["name"]["pattern"],
            postproxy::domain::profile_group::NAME_PATTERN
        );
        assert_eq!(
            schemas["CreateApiKeyBody"]["properties"]["name"]["pattern"],
            postproxy::domain::profile_group::NAME_PATTERN
        );
        assert_eq!(
            schemas["InitializeConnectionBody"]["properties"]["redirect_url"]["pattern"],
            postproxy::domain::connection::REDIRECT_URL_PATTERN
        );
        let required = schemas["InitializeConnectionBody"]["required"].as_array().unwrap();
        // redirect_url is for OAuth platforms only: Bluesky and Telegram connect without one.
        assert_eq!(required, &vec![serde_json::json!("platform")]);
        let tags: Vec<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(tags.contains(&"Profiles"));
        let rate = &doc["paths"]["/api/profiles"]["get"]["responses"]["429"];
        assert!(rate["headers"]["Retry-After"].is_object(), "{rate}");
    }
);

app_test!(
    openapi_describes_every_body_and_answer_the_server_has,
    |t: TestApp| async move {
        let doc = t.call(Method::GET, "/api/openapi.json", None, None).await.body;
        assert_eq!(doc["servers"][0]["url"], "/");
        let paths = doc["paths"].as_object().unwrap();
        // Posts with files: multipart, as the SDKs send them.
        for (path, method) in [("/api/posts", "post"), ("/api/posts/{id}", "patch")] {
            let content = &paths[path][method]["requestBody"]["content"];
            for ct in [
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ] {
                assert!(content.get(ct).is_some(), "{method} {path}: no {ct}");
            }
            let form = &content["multipart/form-data"]["schema"]["properties"];
            for field in ["post[body]", "profiles[]", "media[]", "thread", "platforms"] {
                assert!(form.get(field).is_some(), "{path}: multipart without {field}");
            }
        }
        for (path, ops) in paths {
            if !path.starts_with("/api/") {
                continue;
            }
            for (method, op) in ops.as_object().unwrap() {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "profile_group_id" && p["in"] == "query"),
                    "{method} {path}: no profile_group_id"
                );
                if let Some(content) = op["requestBody"]["content"].as_object() {
                    assert!(
                        content.contains_key("application/x-www-form-urlencoded"),
                        "{method} {path}"
                    );
                    for status in ["413", "415", "422"] {
                        assert!(op["responses"].get(status).is_some(), "{method} {path}: no {status}");
                    }
                }
                if let Some(r) = op["responses"].get("422") {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ValidationErrorBody",
                        "{method} {path}: every 422 has error and errors"
                    );
                }
            }
        }
    }
);
