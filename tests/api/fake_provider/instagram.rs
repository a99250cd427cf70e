//! Fake Instagram: Instagram Login (flat error shape at its token endpoint; `/me` and the long-
//! lived swap in `meta.rs`) and publishing: containers from a pulled `image_url` (JPEG only,
//! fetched and checked like Instagram's crawler), carousels of 2–10 finished items, `status_code`
//! that reads `IN_PROGRESS` once then `FINISHED`, `media_publish` that refuses an unfinished
//! container (9007 / 2207027), permalinks and comments.

#[allow(unused_imports)]
use super::*;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

pub(super) const SPEC: FakeSpec = FakeSpec {
    name: "instagram",
    label: "Instagram",
    scope_separator: ',',
    client_id_param: "client_id",
    token_path: "/token",
    token_by_get: false,
    client_auth: ClientAuth::Body,
    expires_in: 5_184_000,
    pkce: false,
    requires_offline: false,
    scopes: &[
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",
        "instagram_business_manage_messages",
        "instagram_business_manage_insights",
    ],
    callback_scopes: None,
    denied: &[
        ("error_reason", "user_denied"),
        ("error_description", "The user denied your request."),
    ],
    words: Words {
        invalid_code: "Invalid authorization code",
        used_code: "This authorization code has been used",
        ..meta::GRAPH_WORDS
    },
    revoke: None,
    placements: &[],
    code_tokens,
    refresh_tokens: None,
    token_error: token_refusal,
    auth_error: meta::graph_auth_error,
    server_error: meta::graph_server_error,
    api,
    site: no_site,
};

/// A short-lived token with the user id, flat or (in some API versions) wrapped in `data`.
fn code_tokens(inner: &mut Inner, ex: &Exchange) -> Value {
    let at = inner.issue(ex.p, ex.grant, TokenKind::Access, false);
    if inner.st(ex.p).instagram_wrapped {
        json!({ "data": [{
            "access_token": at,
            "user_id": id_json(&ex.user.id),
            "permissions": ex.scopes.join(","),
        }]})
    } else {
        json!({ "access_token": at, "user_id": id_json(&ex.user.id), "permissions": ex.scopes })
    }
}

/// Instagram Login's token endpoint answers its own flat error shape.
fn token_refusal(_: &str, _refresh: bool, e: OErr) -> Response {
    json_resp(
        StatusCode::BAD_REQUEST,
        json!({ "error_type": "OAuthException", "code": 400, "error_message": e.msg }),
    )
}

fn api(inner: &mut Inner, path: &str, r: &RecordedRequest) -> Option<Response> {
    inner
        .instagram_publishing(path, r)
        .or_else(|| meta::login_api(inner, "instagram", path, r))
}

use super::meta::Container;
use super::publishing::{FakePost, Scripted, fetched_image, json_body, scripted_response};
use super::{Inner, RecordedRequest, auth_error, json_resp, meta_err, strip_graph_version};

impl Inner {
    pub(super) fn instagram_publishing(&mut self, path: &str, r: &RecordedRequest) -> Option<Response> {
        let path = strip_graph_version(path);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (r.method.as_str(), segments.as_slice()) {
            ("POST", [user, "media"]) => Some(self.instagram_container(user, r)),
            ("POST", [user, "media_publish"]) => Some(self.instagram_publish(user, r)),
            ("GET", [user_path, "media"]) => {
                let user = match self.instagram_user(r) {
                    Ok(u) => u,
                    Err(resp) => return Some(resp),
                };
                if *user_path != user && *user_path != "me" {
                    return Some(meta_err(100, Some(33), "(#100) Unsupported get request"));
                }
                Some(self.meta_media_list("instagram", &user, "caption", r))
            }
            ("GET", [user_path, "content_publishing_limit"]) => {
                let user = match self.instagram_user(r) {
                    Ok(u) => u,
                    Err(resp) => return Some(resp),
                };
                if *user_path != user && *user_path != "me" {
                    return Some(meta_err(100, Some(33), "(#100) Unsupported get request"));
                }
                Some(self.meta_publishing_limit("instagram", &user, r))
            }
            ("GET", [id]) if self.containers.get(*id).is_some_and(|c| c.platform == "instagram") => {
                let user = match self.instagram_user(r) {
                    Ok(u) => u,
                    Err(resp) => return Some(resp),
                };
                let c = self.containers.get_mut(*id).expect("checked");
                if c.user != user {
                    return Some(meta_err(
                        10,
                        None,
                        "(#10) Application does not have permission for this action",
                    ));
                }
                c.status_reads += 1;
                let status = match (&c.published, c.status_reads) {
                    (Some(_), _) => "PUBLISHED",
                    (None, 1) => "IN_PROGRESS",
                    _ => "FINISHED",
                };
                Some(json_resp(StatusCode::OK, json!({"id": id, "status_code": status})))
            }
            ("GET", [id]) if self.posts.iter().any(|x| x.platform == "instagram" && x.id == *id) => {
                if let Err(resp) = self.instagram_user(r) {
                    return Some(resp);
                }
                Some(json_resp(
                    StatusCode::OK,
                    json!({"id": id, "permalink": format!("https://www.instagram.com/p/P{id}/")}),
                ))
            }
            ("POST", [id, "comments"]) if self.posts.iter().any(|x| x.platform == "instagram" && x.id == *id) => {
                if let Err(resp) = self.instagram_user(r) {
                    return Some(resp);
                }
                if !self.token_has_scope("instagram", r, "instagram_business_manage_comments") {
                    return Some(meta_err(
                        10,
                        None,
                        "(#10) Application does not have permission for this action",
                    ));
                }
                let body = json_body(r).unwrap_or(Value::Null);
                let message = body["message"]
                    .as_str()
                    .or_else(|| r.form_param("message"))
                    .unwrap_or("")
                    .to_string();
                if message.is_empty() {
                    return Some(meta_err(100, None, "(#100) The parameter message is required"));
                }
                self.comments.push((id.to_string(), message));
                let cid = self.numeric_id();
                Some(json_resp(StatusCode::OK, json!({"id": cid})))
            }
            _ => None,
        }
    }

    /// Whether the request's token was granted `scope`.
    pub(super) fn token_has_scope(&self, p: &str, r: &RecordedRequest, scope: &str) -> bool {
        let token = r.meta_token().or_else(|| r.form_param("access_token"));
        self.check_access(p, token)
            .is_ok_and(|i| self.grants[self.tokens[i].grant].has_scope(scope))
    }

    #[allow(clippy::result_large_err)] // a ready response is the natural error here
    fn instagram_user(&self, r: &RecordedRequest) -> Result<String, Response> {
        let p = "instagram";
        let token = r.meta_token().or_else(|| r.form_param("access_token"));
        let i = self.check_access(p, token).map_err(|f| auth_error(p, f))?;
        Ok(self.grants[self.tokens[i].grant].user.id.clone())
    }

    fn instagram_container(&mut self, user_path: &str, r: &RecordedRequest) -> Response {
        let user = match self.instagram_user(r) {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        if user_path != user && user_path != "me" {
            return meta_err(
                100,
                Some(33),
                "Unsupported post request. Object does not exist or cannot be loaded due to missing permissions",
            );
        }
        let body = json_body(r).unwrap_or(Value::Null);
        let field = |k: &str| {
            body[k]
                .as_str()
                .map(str::to_string)
                .or_else(|| r.form_param(k).or_else(|| r.query_param(k)).map(str::to_string))
        };
        let caption = field("caption").unwrap_or_default();
        if caption.chars().count() > 2200 {
            return meta_err(100, None, "(#100) The caption is longer than 2200 characters");
        }
        let carousel_item =
            body["is_carousel_item"].as_bool() == Some(true) || field("is_carousel_item").as_deref() == Some("true");
        let media = match field("media_type").as_deref() {
            Some("CAROUSEL") => {
                let children: Vec<String> = field("children")
                    .unwrap_or_default()
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect();
                if !(2..=10).contains(&children.len()) {
                    return meta_err(100, None, "(#100) Carousels need between 2 and 10 children");
                }
                for c in &children {
                    match self.containers.get(c) {
                        Some(k)
                            if k.platform == "instagram"
                                && k.carousel_item
                                && k.user == user
                                && k.status_reads >= 2 => {}
                        _ => {
                            return meta_err(
                                100,
                                None,
                                &format!("(#100) The child {c} is not a finished carousel item"),
                            );
                        }
                    }
                }
                children
            }
            None | Some("IMAGE") => {
                let Some(url) = field("image_url") else {
                    return meta_err(100, None, "(#100) The parameter image_url is required");
                };
                if let Err(why) = fetched_image(r, &url, &["image/jpeg"]) {
                    return meta_err(
                        9004,
                        Some(2207052),
                        &format!(
                            "Media download has failed.: The media could not be fetched from this URI: {url} ({why})"
                        ),
                    );
                }
                vec![url]
            }
            Some(other) => return meta_err(100, None, &format!("(#100) Unsupported media_type {other}")),
        };
        let id = self.numeric_id();
        self.containers.insert(
            id.clone(),
            Container {
                platform: "instagram",
                user,
                text: caption,
                reply_to: None,
                status_reads: 0,
                published: None,
                media,
                carousel_item,
            },
        );
        json_resp(StatusCode::OK, json!({"id": id}))
    }

    fn instagram_publish(&mut self, user_path: &str, r: &RecordedRequest) -> Response {
        let p = "instagram";
        let user = match self.instagram_user(r) {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        let body = json_body(r).unwrap_or(Value::Null);
        let creation = body["creation_id"].as_str().map(str::to_string).or_else(|| {
            r.form_param("creation_id")
                .or_else(|| r.query_param("creation_id"))
                .map(str::to_string)
        });
        let Some(c) = creation
            .as_ref()
            .and_then(|id| self.containers.get(id))
            .cloned()
            .filter(|c| c.platform == p && c.user == user && (user_path == user || user_path == "me"))
        else {
            return meta_err(100, None, "(#100) Invalid creation_id");
        };
        if c.carousel_item {
            return meta_err(100, None, "(#100) A carousel item cannot be published on its own");
        }
        if c.published.is_some() || c.status_reads < 2 {
            return meta_err(9007, Some(2207027), "Media ID is not available");
        }
        if let Some(refusal) = self.meta_quota_refusal(p, &user, false) {
            return refusal;
        }
        let script = self.next_script(p);
        if let Some(Scripted::Fail(status, body, headers)) = script {
            return scripted_response(status, body, headers);
        }
        let id = self.numeric_id();
        let creation = creation.unwrap_or_default();
        self.containers.get_mut(&creation).expect("exists").published = Some(id.clone());
        self.media_of.insert(id.clone(), self.container_images(&c));
        self.posts.push(FakePost {
            platform: p,
            id: id.clone(),
            author: user,
            text: c.text,
            reply_to: None,
            deleted: false,
            created_ms: postproxy::clock::now_ms(),
        });
        if let Some(Scripted::ApplyThenFail(status, body)) = script {
            return scripted_response(status, body, vec![]);
        }
        json_resp(StatusCode::OK, json!({"id": id}))
    }
}
