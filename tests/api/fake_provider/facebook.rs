//! Fake Facebook: Facebook Login (GET token endpoint, the `fb_exchange_token` swap, `/me`,
//! `/me/accounts` with Page tokens, `DELETE /me/permissions`) and Pages publishing: `POST
//! /{page-id}/feed` with the Page's token (Graph errors by code: 190 for tokens, 200 for a user
//! token on a Page, 506 for a duplicate), `fields` on the create, and `DELETE /{post-id}`.

#[allow(unused_imports)]
use super::*;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

pub(super) const SPEC: FakeSpec = FakeSpec {
    name: "facebook",
    label: "Facebook",
    scope_separator: ',',
    client_id_param: "client_id",
    token_path: "/token",
    token_by_get: true,
    client_auth: ClientAuth::Body,
    expires_in: 5_184_000,
    pkce: false,
    requires_offline: false,
    scopes: &[
        "pages_show_list",
        "pages_manage_posts",
        "pages_read_engagement",
        "business_management",
        "public_profile",
        "email",
        "pages_manage_metadata",
        "pages_read_user_content",
        "pages_manage_engagement",
        "read_insights",
        "publish_video",
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_insights",
        "instagram_manage_comments",
    ],
    callback_scopes: None,
    denied: &[
        ("error_code", "200"),
        ("error_description", "Permissions error"),
        ("error_reason", "user_denied"),
    ],
    words: meta::GRAPH_WORDS,
    revoke: Some(Revoke::Api("/me/permissions")),
    placements: &[
        ("facebook-page-1", "Fake Facebook Page One", "fakepageone"),
        ("facebook-page-2", "Fake Facebook Page Two", "fakepagetwo"),
    ],
    code_tokens,
    refresh_tokens: None,
    token_error: meta::graph_token_error,
    auth_error: meta::graph_auth_error,
    server_error: meta::graph_server_error,
    api,
    site,
};

/// A short-lived user token; the long-lived one comes from the `fb_exchange_token` swap.
fn code_tokens(inner: &mut Inner, ex: &Exchange) -> Value {
    let at = inner.issue(ex.p, ex.grant, TokenKind::Access, false);
    json!({ "access_token": at, "token_type": "bearer", "expires_in": META_SHORT_LIVED_SECS })
}

fn api(inner: &mut Inner, path: &str, r: &RecordedRequest) -> Option<Response> {
    if let Some(resp) = inner.facebook_publishing(path, r) {
        return Some(resp);
    }
    let meta_path = strip_graph_version(path);
    match r.method.as_str() {
        "GET" if meta_path == "/me" => Some(inner.facebook_me(r)),
        "GET" if meta_path == "/me/accounts" => Some(inner.facebook_accounts(r)),
        "DELETE" if meta_path.ends_with("/permissions") => {
            let who = meta_path.trim_end_matches("/permissions").trim_start_matches('/');
            Some(inner.facebook_revoke(who, r))
        }
        _ => None,
    }
}

/// The long-lived swap shares the token endpoint (`GET /token?grant_type=fb_exchange_token`).
fn site(inner: &mut Inner, rest: &str, r: &RecordedRequest) -> Option<Response> {
    let swap = rest == SPEC.token_path && r.method == "GET" && r.query_param("grant_type") == Some("fb_exchange_token");
    swap.then(|| inner.facebook_long_lived(r))
}

use super::publishing::{FakePost, Scripted, json_body, scripted_response};
use super::{
    Inner, RecordedRequest, TokenKind, auth_error, json_resp, meta_err, requested_fields, strip_graph_version,
};

impl Inner {
    pub(super) fn facebook_publishing(&mut self, path: &str, r: &RecordedRequest) -> Option<Response> {
        let path = strip_graph_version(path);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (r.method.as_str(), segments.as_slice()) {
            ("POST", [page, "feed"]) => Some(self.facebook_feed(page, r)),
            ("GET", [page, "feed"]) => Some(self.facebook_read_feed(page, r)),
            ("POST", [post, "comments"]) if post.contains('_') => {
                let post = post.to_string();
                let page = post.split('_').next().unwrap_or("").to_string();
                let body = json_body(r).unwrap_or(Value::Null);
                if let Err(resp) = self.facebook_page_token(&page, r, Some(&body)) {
                    return Some(resp);
                }
                if !self.token_has_scope("facebook", r, "pages_manage_engagement") {
                    return Some(meta_err(
                        200,
                        None,
                        "(#200) Requires pages_manage_engagement permission to manage the object",
                    ));
                }
                if !self.live_posts("facebook").any(|x| x.id == post) {
                    return Some(meta_err(100, Some(33), "(#100) Object does not exist"));
                }
                let message = body["message"].as_str().unwrap_or("").to_string();
                if message.is_empty() {
                    return Some(meta_err(100, None, "(#100) The parameter message is required"));
                }
                self.comments.push((post, message));
                let id = self.numeric_id();
                Some(json_resp(StatusCode::OK, json!({ "id": id })))
            }
            ("POST", [page, "photos"]) => Some(self.facebook_photo(page, r)),
            ("DELETE", [id]) if id.contains('_') => {
                let id = id.to_string();
                let page = id.split('_').next().unwrap_or("").to_string();
                if let Err(resp) = self.facebook_page_token(&page, r, None) {
                    return Some(resp);
                }
                match self
                    .posts
                    .iter_mut()
                    .find(|x| x.platform == "facebook" && x.id == id && !x.deleted)
                {
                    Some(post) => {
                        post.deleted = true;
                        Some(json_resp(StatusCode::OK, json!({"success": true})))
                    }
                    None => Some(meta_err(
                        100,
                        Some(33),
                        "Unsupported delete request. Object does not exist",
                    )),
                }
            }
            _ => None,
        }
    }

    /// The Page token from the query, the JSON or form body, or the header.
    #[allow(clippy::result_large_err)] // a ready response is the natural error here
    fn facebook_page_token(&self, page: &str, r: &RecordedRequest, body: Option<&Value>) -> Result<usize, Response> {
        let p = "facebook";
        let token = r
            .meta_token()
            .map(str::to_string)
            .or_else(|| r.form_param("access_token").map(str::to_string))
            .or_else(|| body.and_then(|b| b["access_token"].as_str()).map(str::to_string));
        let i = self.check_access(p, token.as_deref()).map_err(|f| auth_error(p, f))?;
        let t = &self.tokens[i];
        if t.kind != TokenKind::Page || t.page_id.as_deref() != Some(page) {
            return Err(meta_err(
                200,
                None,
                "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission",
            ));
        }
        Ok(i)
    }

    fn facebook_feed(&mut self, page: &str, r: &RecordedRequest) -> Response {
        let p = "facebook";
        let body = json_body(r).unwrap_or(Value::Null);
        if let Err(resp) = self.facebook_page_token(page, r, Some(&body)) {
            return resp;
        }
        let field = |k: &str| {
            body[k]
                .as_str()
                .map(str::to_string)
                .or_else(|| r.form_param(k).map(str::to_string))
        };
        let message = field("message").unwrap_or_default();
        let link = field("link");
        if message.is_empty() && link.is_none() && body["attached_media"].is_null() {
            return meta_err(100, None, "(#100) Missing message or attachment");
        }
        let script = self.next_script(p);
        if let Some(Scripted::Fail(status, body, headers)) = script {
            return scripted_response(status, body, headers);
        }
        if self.live_posts(p).any(|x| x.author == page && x.text == message) {
            return meta_err(506, None, "(#506) Duplicate status message");
        }
        let mut images = Vec::new();
        for m in body["attached_media"].as_array().into_iter().flatten() {
            let fbid = m["media_fbid"].as_str().unwrap_or("");
            match self.unpublished_photos.remove(fbid) {
                Some((owner, url)) if owner == page => images.push(url),
                _ => {
                    return meta_err(
                        100,
                        None,
                        &format!("(#100) attached_media: {fbid} is not an unpublished photo of this Page"),
                    );
                }
            }
        }
        let id = format!("{page}_{}", self.numeric_id());
        self.media_of.insert(id.clone(), images);
        self.posts.push(FakePost {
            platform: p,
            id: id.clone(),
            author: page.to_string(),
            text: message,
            reply_to: link,
            deleted: false,
            created_ms: postproxy::clock::now_ms(),
        });
        if let Some(Scripted::ApplyThenFail(status, body)) = script {
            return scripted_response(status, body, vec![]);
        }
        let mut out = json!({ "id": id });
        if requested_fields(r, "fields", &["id"])
            .iter()
            .any(|f| f == "permalink_url")
        {
            let post = id.split('_').nth(1).unwrap_or("");
            out["permalink_url"] = json!(format!("https://www.facebook.com/{page}/posts/{post}"));
        }
        json_resp(StatusCode::OK, out)
    }
}

impl Inner {
    /// `GET /{page}/feed` with the Page token: its posts from `since` (Unix seconds), newest
    /// first, with the requested `fields`.
    fn facebook_read_feed(&mut self, page: &str, r: &RecordedRequest) -> Response {
        if let Err(resp) = self.facebook_page_token(page, r, None) {
            return resp;
        }
        let since = match r.query_param("since").map(str::parse::<i64>) {
            None => 0,
            Some(Ok(s)) => s * 1000,
            Some(Err(_)) => return meta_err(100, None, "(#100) The since parameter must be a Unix timestamp"),
        };
        let fields = requested_fields(r, "fields", &["id", "created_time"]);
        let mut data = Vec::new();
        for post in self
            .live_posts("facebook")
            .filter(|x| x.author == page && x.created_ms >= since)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            let mut out = json!({"id": post.id});
            for f in &fields {
                match f.as_str() {
                    "message" if !post.text.is_empty() => out["message"] = json!(post.text),
                    "created_time" => {
                        out["created_time"] =
                            json!(format!("{}+0000", &postproxy::clock::iso8601(post.created_ms)[..19]))
                    }
                    "permalink_url" => {
                        let n = post.id.split('_').nth(1).unwrap_or("");
                        out["permalink_url"] = json!(format!("https://www.facebook.com/{page}/posts/{n}"))
                    }
                    _ => {}
                }
            }
            data.push(out);
        }
        json_resp(StatusCode::OK, json!({"data": data, "paging": {}}))
    }

    /// `POST /{page}/photos` from a pulled `url`: published (a photo story, `post_id` and `id`)
    /// or not (`published: false`, to attach to a feed post).
    fn facebook_photo(&mut self, page: &str, r: &RecordedRequest) -> Response {
        let p = "facebook";
        let body = json_body(r).unwrap_or(Value::Null);
        if let Err(resp) = self.facebook_page_token(page, r, Some(&body)) {
            return resp;
        }
        let Some(url) = body["url"].as_str().map(str::to_string) else {
            return meta_err(100, None, "(#100) Photos need a url or a source file");
        };
        if let Err(why) = super::publishing::fetched_image(r, &url, &["image/jpeg", "image/png"]) {
            return meta_err(100, Some(2069019), &format!("Invalid file: {url} ({why})"));
        }
        let photo = self.numeric_id();
        if body["published"].as_bool() == Some(false) {
            self.unpublished_photos.insert(photo.clone(), (page.to_string(), url));
            return json_resp(StatusCode::OK, json!({ "id": photo }));
        }
        if let Some(Scripted::Fail(status, body, headers)) = self.next_script(p) {
            return scripted_response(status, body, headers);
        }
        let message = body["message"].as_str().unwrap_or("").to_string();
        let post = format!("{page}_{}", self.numeric_id());
        self.media_of.insert(post.clone(), vec![url]);
        self.posts.push(FakePost {
            platform: p,
            id: post.clone(),
            author: page.to_string(),
            text: message,
            reply_to: None,
            deleted: false,
            created_ms: postproxy::clock::now_ms(),
        });
        json_resp(StatusCode::OK, json!({ "id": photo, "post_id": post }))
    }
}

// --- OAuth and identity ---

impl Inner {
    pub(super) fn facebook_me(&mut self, r: &RecordedRequest) -> Response {
        let p = "facebook";
        let i = match self.identity_token(p, r.meta_token()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let grant = &self.grants[self.tokens[i].grant];
        let (id, name, node) = match &self.tokens[i].page_id {
            Some(page_id) => {
                let name = self
                    .st(p)
                    .placements
                    .iter()
                    .find(|x| &x.id == page_id)
                    .map(|x| x.name.clone())
                    .unwrap_or_default();
                (page_id.clone(), name, "Page")
            }
            None => (grant.user.id.clone(), grant.user.name.clone(), "User"),
        };
        let has_email = grant.has_scope("email");
        let username = grant.user.username.clone();
        let mut out = serde_json::Map::new();
        for f in requested_fields(r, "fields", &["id", "name"]) {
            let v = match f.as_str() {
                "id" => json!(id),
                "name" => json!(name),
                "first_name" => json!(name.split(' ').next().unwrap_or("")),
                "last_name" => json!(name.rsplit(' ').next().unwrap_or("")),
                "short_name" => json!(name.split(' ').next().unwrap_or("")),
                "picture" => json!({ "data": {
                    "height": 50, "width": 50, "is_silhouette": false,
                    "url": self.picture_url(p, &id),
                }}),
                "email" if node == "User" => {
                    if !has_email {
                        continue;
                    }
                    json!(format!("{username}@example.com"))
                }
                other => {
                    return meta_err(
                        100,
                        None,
                        &format!("(#100) Tried accessing nonexisting field ({other}) on node type ({node})"),
                    );
                }
            };
            out.insert(f, v);
        }
        out.entry("id").or_insert(json!(id));
        ok(Value::Object(out))
    }

    pub(super) fn facebook_accounts(&mut self, r: &RecordedRequest) -> Response {
        let p = "facebook";
        let i = match self.check_access(p, r.meta_token()) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        if self.st(p).fail_placements {
            return platform_failure(p, 500);
        }
        if self.tokens[i].kind == TokenKind::Page {
            return meta_err(
                100,
                None,
                "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
            );
        }
        let user_token = self.tokens[i].value.clone();
        let grant = self.tokens[i].grant;
        let pages = if self.grants[grant].has_scope("pages_show_list") {
            self.st(p).placements.clone()
        } else {
            Vec::new()
        };
        let fields = requested_fields(
            r,
            "fields",
            &["access_token", "category", "category_list", "name", "id", "tasks"],
        );
        let mut data = Vec::new();
        for page in pages {
            let key = (user_token.clone(), page.id.clone());
            let page_token = match self.page_tokens.get(&key) {
                Some(t) => t.clone(),
                None => {
                    let t = self.issue(p, grant, TokenKind::Page, true);
                    self.tokens.last_mut().expect("just issued").page_id = Some(page.id.clone());
                    self.page_tokens.insert(key, t.clone());
                    t
                }
            };
            let mut obj = serde_json::Map::new();
            for f in &fields {
                let v = match f.as_str() {
                    "id" => json!(page.id),
                    "name" => json!(page.name),
                    "access_token" => json!(page_token),
                    "username" => json!(page.username),
                    "link" => json!(format!("https://www.facebook.com/{}", page.username)),
                    "category" => json!("Software"),
                    "category_list" => json!([{ "id": "2211", "name": "Software" }]),
                    "tasks" => json!([
                        "ADVERTISE",
                        "ANALYZE",
                        "CREATE_CONTENT",
                        "MESSAGING",
                        "MODERATE",
                        "MANAGE"
                    ]),
                    "picture" => json!({ "data": {
                        "height": 50, "width": 50, "is_silhouette": false,
                        "url": self.picture_url(p, &page.id),
                    }}),
                    other => {
                        return meta_err(
                            100,
                            None,
                            &format!("(#100) Tried accessing nonexisting field ({other}) on node type (Page)"),
                        );
                    }
                };
                obj.insert(f.clone(), v);
            }
            obj.entry("id").or_insert(json!(page.id));
            data.push(Value::Object(obj));
        }
        ok(json!({
            "data": data,
            "paging": { "cursors": { "before": "QVFIUmZAha2VCZA", "after": "QVFIUkZAhbmRfMQ" } },
        }))
    }

    pub(super) fn facebook_revoke(&mut self, who: &str, r: &RecordedRequest) -> Response {
        let p = "facebook";
        let i = match self.check_access(p, r.meta_token()) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        let user_id = self.grants[self.tokens[i].grant].user.id.clone();
        if who != "me" && who != user_id {
            return meta_err(100, None, "(#100) Only the current user's permissions can be revoked");
        }
        let grants: HashSet<usize> = self
            .grants
            .iter()
            .enumerate()
            .filter(|(_, g)| g.platform == p && g.user.id == user_id)
            .map(|(n, _)| n)
            .collect();
        self.revoke_where(|t| grants.contains(&t.grant));
        ok(json!({ "success": true }))
    }

    pub(super) fn facebook_long_lived(&mut self, r: &RecordedRequest) -> Response {
        let p = "facebook";
        if let Err(e) = self.client_auth(p, &r.query, None) {
            return token_error(p, false, e);
        }
        let presented = r.query_param("fb_exchange_token");
        let i = match self.check_access(p, presented) {
            Ok(i) => i,
            Err(AuthFail::Missing) => {
                return meta_err(100, None, "Missing required parameter: fb_exchange_token");
            }
            Err(f) => return auth_error(p, f),
        };
        if self.tokens[i].kind == TokenKind::Page {
            return meta_err(100, None, "Only User access tokens can be exchanged");
        }
        if self.tokens[i].long_lived {
            if let Some(revoked) = self.st(p).reject_refresh {
                return Self::meta_refresh_rejection(p, revoked);
            }
        } else if self.st(p).fail_long_lived_exchange {
            return meta_err(1, None, "An unknown error has occurred.");
        }
        let grant = self.tokens[i].grant;
        self.long_lived_response(p, grant)
    }
}
