//! Fake Threads: its login (`/me` and the long-lived swap in `meta.rs`) and publishing: containers
//! (`POST /{user}/threads`) that report `IN_PROGRESS` on their first status read and `FINISHED`
//! after, `threads_publish` that refuses a container that is not finished, replies (`reply_to_id`)
//! that must name a published post, permalinks and `DELETE /{media-id}`.

#[allow(unused_imports)]
use super::*;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

pub(super) const SPEC: FakeSpec = FakeSpec {
    name: "threads",
    label: "Threads",
    scope_separator: ',',
    client_id_param: "client_id",
    token_path: "/token",
    token_by_get: false,
    client_auth: ClientAuth::Body,
    expires_in: 5_184_000,
    pkce: false,
    requires_offline: false,
    scopes: &[
        "threads_basic",
        "threads_content_publish",
        "threads_manage_replies",
        "threads_read_replies",
        "threads_manage_insights",
        "threads_delete",
    ],
    callback_scopes: None,
    denied: &[
        ("error_reason", "user_denied"),
        ("error_description", "The user denied your request."),
    ],
    words: meta::GRAPH_WORDS,
    revoke: None,
    placements: &[],
    code_tokens,
    refresh_tokens: None,
    token_error: meta::graph_token_error,
    auth_error: meta::graph_auth_error,
    server_error: meta::graph_server_error,
    api,
    site: no_site,
};

fn code_tokens(inner: &mut Inner, ex: &Exchange) -> Value {
    let at = inner.issue(ex.p, ex.grant, TokenKind::Access, false);
    json!({ "access_token": at, "user_id": id_json(&ex.user.id) })
}

fn api(inner: &mut Inner, path: &str, r: &RecordedRequest) -> Option<Response> {
    inner
        .threads_publishing(path, r)
        .or_else(|| meta::login_api(inner, "threads", path, r))
}

use super::meta::Container;
use super::publishing::{FakePost, Scripted, scripted_response};
use super::{Inner, RecordedRequest, auth_error, json_resp, meta_err, strip_graph_version};

impl Inner {
    pub(super) fn threads_publishing(&mut self, path: &str, r: &RecordedRequest) -> Option<Response> {
        let path = strip_graph_version(path);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let m = r.method.as_str();
        match (m, segments.as_slice()) {
            ("POST", [user, "threads"]) => Some(self.threads_container(user, r)),
            ("POST", [user, "threads_publish"]) => Some(self.threads_publish(user, r)),
            ("GET", [user_path, "threads"]) => {
                let user = match self.threads_user(r) {
                    Ok(u) => u,
                    Err(resp) => return Some(resp),
                };
                if *user_path != user && *user_path != "me" {
                    return Some(meta_err(100, Some(33), "(#100) Unsupported get request"));
                }
                Some(self.meta_media_list("threads", &user, "text", r))
            }
            ("GET", [user_path, "threads_publishing_limit"]) => {
                let user = match self.threads_user(r) {
                    Ok(u) => u,
                    Err(resp) => return Some(resp),
                };
                if *user_path != user && *user_path != "me" {
                    return Some(meta_err(100, Some(33), "(#100) Unsupported get request"));
                }
                Some(self.meta_publishing_limit("threads", &user, r))
            }
            ("GET", [id]) if self.containers.get(*id).is_some_and(|c| c.platform == "threads") => {
                Some(self.threads_container_status(id, r))
            }
            ("GET", [id]) if self.posts.iter().any(|x| x.platform == "threads" && x.id == *id) => {
                let id = id.to_string();
                let user = self.threads_user(r).ok()?;
                let username = self
                    .grants
                    .iter()
                    .find(|g| g.platform == "threads" && g.user.id == user)
                    .map(|g| g.user.username.clone())
                    .unwrap_or_default();
                Some(json_resp(
                    StatusCode::OK,
                    json!({"id": id, "permalink": format!("https://www.threads.com/@{username}/post/C{id}"), "shortcode": format!("C{id}")}),
                ))
            }
            ("DELETE", [id]) if self.posts.iter().any(|x| x.platform == "threads" && x.id == *id) => {
                let id = id.to_string();
                if let Err(resp) = self.threads_user(r) {
                    return Some(resp);
                }
                if !self.token_has_scope("threads", r, "threads_delete") {
                    return Some(meta_err(
                        10,
                        None,
                        "(#10) Application does not have permission for this action",
                    ));
                }
                if let Some(post) = self.posts.iter_mut().find(|x| x.platform == "threads" && x.id == id) {
                    post.deleted = true;
                }
                Some(json_resp(StatusCode::OK, json!({"success": true, "deleted_id": id})))
            }
            _ => None,
        }
    }

    /// The token's user, from `access_token` in the query or form, or the header.
    #[allow(clippy::result_large_err)] // a ready response is the natural error here
    fn threads_user(&self, r: &RecordedRequest) -> Result<String, Response> {
        let p = "threads";
        let token = r.meta_token().or_else(|| r.form_param("access_token"));
        let i = self.check_access(p, token).map_err(|f| auth_error(p, f))?;
        Ok(self.grants[self.tokens[i].grant].user.id.clone())
    }

    fn threads_container(&mut self, user_path: &str, r: &RecordedRequest) -> Response {
        let user = match self.threads_user(r) {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        if user_path != "me" && user_path != user {
            return meta_err(
                100,
                Some(33),
                "Unsupported post request. Object does not exist or cannot be loaded due to missing permissions",
            );
        }
        let media_type = Self::param(r, "media_type").unwrap_or("");
        let text = Self::param(r, "text").unwrap_or("").to_string();
        let carousel_item = Self::param(r, "is_carousel_item") == Some("true");
        let media: Vec<String> = match media_type {
            "TEXT" if text.is_empty() => {
                return meta_err(100, None, "(#100) The parameter text is required for TEXT posts");
            }
            "TEXT" => Vec::new(),
            "IMAGE" => {
                let Some(url) = Self::param(r, "image_url") else {
                    return meta_err(100, None, "(#100) The parameter image_url is required for IMAGE posts");
                };
                if let Err(why) = super::publishing::fetched_image(r, url, &["image/jpeg", "image/png"]) {
                    return meta_err(
                        100,
                        Some(2207052),
                        &format!("The media could not be fetched from this URI: {url} ({why})"),
                    );
                }
                vec![url.to_string()]
            }
            "CAROUSEL" => {
                let children: Vec<String> = Self::param(r, "children")
                    .unwrap_or("")
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect();
                if !(2..=20).contains(&children.len()) {
                    return meta_err(100, None, "(#100) A carousel needs 2 to 20 children");
                }
                for c in &children {
                    match self.containers.get(c) {
                        Some(k) if k.carousel_item && k.user == user && k.status_reads >= 2 => {}
                        _ => {
                            return meta_err(
                                100,
                                None,
                                &format!("(#100) Child {c} is not a finished carousel item of this user"),
                            );
                        }
                    }
                }
                children
            }
            other => {
                return meta_err(
                    100,
                    None,
                    &format!(
                        "(#100) The parameter media_type must be one of TEXT, IMAGE, VIDEO, CAROUSEL; got {other:?}"
                    ),
                );
            }
        };
        if text.chars().count() > 500 {
            return meta_err(100, Some(2207052), "text must be at most 500 characters");
        }
        let reply_to = Self::param(r, "reply_to_id").map(str::to_string);
        if let Some(parent) = &reply_to
            && !self.live_posts("threads").any(|x| &x.id == parent)
        {
            return meta_err(100, None, &format!("(#100) reply_to_id {parent} does not exist"));
        }
        let id = self.numeric_id();
        self.containers.insert(
            id.clone(),
            Container {
                platform: "threads",
                user,
                text,
                reply_to,
                status_reads: 0,
                published: None,
                media,
                carousel_item,
            },
        );
        json_resp(StatusCode::OK, json!({ "id": id }))
    }

    fn threads_container_status(&mut self, id: &str, r: &RecordedRequest) -> Response {
        if let Err(resp) = self.threads_user(r) {
            return resp;
        }
        let c = self.containers.get_mut(id).expect("checked");
        c.status_reads += 1;
        let status = match (&c.published, c.status_reads) {
            (Some(_), _) => "PUBLISHED",
            (None, 1) => "IN_PROGRESS",
            _ => "FINISHED",
        };
        json_resp(StatusCode::OK, json!({ "id": id, "status": status }))
    }

    fn threads_publish(&mut self, user_path: &str, r: &RecordedRequest) -> Response {
        let p = "threads";
        let user = match self.threads_user(r) {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        let Some(creation) = Self::param(r, "creation_id").map(str::to_string) else {
            return meta_err(100, None, "(#100) The parameter creation_id is required");
        };
        let Some(c) = self
            .containers
            .get(&creation)
            .cloned()
            .filter(|c| c.user == user && (user_path == "me" || user_path == user))
        else {
            return meta_err(100, None, &format!("(#100) Invalid creation_id {creation}"));
        };
        if c.carousel_item {
            return meta_err(100, None, "(#100) A carousel item cannot be published by itself");
        }
        if c.published.is_some() {
            return meta_err(100, None, "(#100) This container was already published");
        }
        if c.status_reads < 2 {
            return meta_err(
                24,
                Some(4279009),
                "(#24) The media is not ready for publishing, please wait for a moment",
            );
        }
        if let Some(refusal) = self.meta_quota_refusal(p, &user, c.reply_to.is_some()) {
            return refusal;
        }
        let script = self.next_script(p);
        if let Some(Scripted::Fail(status, body, headers)) = script {
            return scripted_response(status, body, headers);
        }
        let id = self.numeric_id();
        self.containers.get_mut(&creation).expect("exists").published = Some(id.clone());
        self.media_of.insert(id.clone(), self.container_images(&c));
        self.posts.push(FakePost {
            platform: p,
            id: id.clone(),
            author: user,
            text: c.text.clone(),
            reply_to: c.reply_to,
            deleted: false,
            created_ms: postproxy::clock::now_ms(),
        });
        match script {
            Some(Scripted::ApplyThenStall(d)) => self.stall = Some(d),
            Some(Scripted::ApplyThenFail(status, body)) => return scripted_response(status, body, vec![]),
            _ => {}
        }
        json_resp(StatusCode::OK, json!({ "id": id }))
    }
}

impl Inner {}

impl Inner {}
