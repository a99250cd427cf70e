//! Fake X: OAuth 2 with PKCE and Basic client auth, rotating refresh tokens, `/2/users/me`,
//! revocation, and API v2 publishing: `POST /2/tweets` and `DELETE /2/tweets/:id`, with X's problem
//! JSON, its duplicate-content refusal, reply checks and rate-limit headers.

#[allow(unused_imports)]
use super::*;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

pub(super) const SPEC: FakeSpec = FakeSpec {
    name: "twitter",
    label: "X",
    scope_separator: ' ',
    client_id_param: "client_id",
    token_path: "/token",
    token_by_get: false,
    client_auth: ClientAuth::Basic,
    expires_in: 7200,
    pkce: true,
    requires_offline: false,
    scopes: &[
        "tweet.read",
        "tweet.write",
        "tweet.moderate.write",
        "users.read",
        "offline.access",
        "media.write",
        "follows.read",
        "follows.write",
        "like.read",
        "like.write",
        "list.read",
        "list.write",
        "bookmark.read",
        "bookmark.write",
    ],
    callback_scopes: None,
    denied: &[("error_description", "The user denied the authorization request.")],
    words: Words {
        bad_client_id: "Missing valid authorization header",
        bad_client_secret: "Missing valid authorization header",
        invalid_code: "Value passed for the authorization code was invalid.",
        used_code: "Value passed for the authorization code was invalid.",
        redirect_mismatch: "Value passed for the authorization code was invalid.",
        refresh_invalid: "Value passed for the token was invalid.",
        refresh_revoked: "Value passed for the token was invalid: the token has been revoked.",
        ..Words::OAUTH
    },
    revoke: Some(Revoke::Api("/2/oauth2/revoke")),
    placements: &[],
    code_tokens,
    refresh_tokens: Some(refresh_tokens),
    token_error: token_refusal,
    auth_error: bad_token,
    server_error,
    api,
    site: no_site,
};

/// A refresh token only when `offline.access` was granted.
fn code_tokens(inner: &mut Inner, ex: &Exchange) -> Value {
    let at = inner.issue(ex.p, ex.grant, TokenKind::Access, true);
    let mut v = json!({
        "token_type": "bearer",
        "expires_in": ex.expires_in,
        "access_token": at,
        "scope": ex.scopes.join(" "),
    });
    if ex.scopes.iter().any(|s| s == "offline.access") {
        v["refresh_token"] = json!(inner.issue(ex.p, ex.grant, TokenKind::Refresh, true));
    }
    v
}

/// X rotates: the presented refresh token stops working.
fn refresh_tokens(inner: &mut Inner, rn: &Renewal) -> Value {
    inner.tokens[rn.token].state = TokenState::Rotated;
    let new_rt = inner.issue(rn.p, rn.grant, TokenKind::Refresh, true);
    json!({
        "token_type": "bearer",
        "expires_in": rn.expires_in,
        "access_token": rn.access_token,
        "scope": rn.scopes.join(" "),
        "refresh_token": new_rt,
    })
}

fn token_refusal(_: &str, _refresh: bool, e: OErr) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    match e.kind {
        ErrKind::Client => oauth_err(StatusCode::UNAUTHORIZED, "unauthorized_client", &e.msg),
        ErrKind::UnsupportedGrantType => oauth_err(bad, "unsupported_grant_type", &e.msg),
        _ => oauth_err(bad, "invalid_request", &e.msg),
    }
}

fn bad_token(_: &str, _: AuthFail) -> Response {
    x_api_err(StatusCode::UNAUTHORIZED, "Unauthorized")
}

fn server_error(status: StatusCode) -> Response {
    x_api_err(status, "Internal Server Error")
}

fn api(inner: &mut Inner, path: &str, r: &RecordedRequest) -> Option<Response> {
    if let Some(resp) = inner.x_publishing(path, r) {
        return Some(resp);
    }
    match (r.method.as_str(), path) {
        ("GET", "/2/users/me") => Some(inner.twitter_me(r)),
        ("POST", "/2/oauth2/revoke") => Some(inner.twitter_revoke(r)),
        _ => None,
    }
}

use super::publishing::{FakePost, Scripted, json_body, scripted_response};
use super::{Inner, RecordedRequest, auth_error, json_resp};

/// Fields `POST /2/tweets` accepts (`additionalProperties: false` in X's schema).
const TWEET_FIELDS: &[&str] = &[
    "text",
    "media",
    "poll",
    "reply",
    "quote_tweet_id",
    "reply_settings",
    "card_uri",
    "community_id",
    "share_with_followers",
    "geo",
    "nullcast",
    "for_super_followers_only",
    "direct_message_deep_link",
    "edit_options",
];

impl Inner {
    pub(super) fn x_publishing(&mut self, path: &str, r: &RecordedRequest) -> Option<Response> {
        let p = "twitter";
        match (r.method.as_str(), path) {
            ("POST", "/2/tweets") => Some(self.x_create(r)),
            ("POST", "/2/media/upload") => Some(self.x_media_upload(r)),
            ("GET", user) if user.starts_with("/2/users/") && user.ends_with("/tweets") => {
                let user = user
                    .trim_start_matches("/2/users/")
                    .trim_end_matches("/tweets")
                    .to_string();
                Some(self.x_user_tweets(&user, r))
            }
            ("DELETE", id) if id.starts_with("/2/tweets/") => {
                let id = id.trim_start_matches("/2/tweets/").to_string();
                let i = match self.check_access(p, r.bearer()) {
                    Ok(i) => i,
                    Err(f) => return Some(auth_error(p, f)),
                };
                let user = self.grants[self.tokens[i].grant].user.id.clone();
                match self
                    .posts
                    .iter_mut()
                    .find(|x| x.platform == p && x.id == id && !x.deleted)
                {
                    Some(post) if post.author == user => {
                        post.deleted = true;
                        Some(json_resp(StatusCode::OK, json!({"data": {"deleted": true}})))
                    }
                    Some(_) => Some(x_api_err(StatusCode::FORBIDDEN, "Forbidden")),
                    None => Some(json_resp(
                        StatusCode::NOT_FOUND,
                        json!({"title": "Not Found Error", "type": "https://api.twitter.com/2/problems/resource-not-found", "status": 404, "detail": format!("Could not find tweet with id: [{id}].")}),
                    )),
                }
            }
            _ => None,
        }
    }

    fn x_create(&mut self, r: &RecordedRequest) -> Response {
        let p = "twitter";
        let i = match self.check_access(p, r.bearer()) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        let grant = &self.grants[self.tokens[i].grant];
        if !grant.has_scope("tweet.write") {
            return x_api_err(StatusCode::FORBIDDEN, "Forbidden");
        }
        let user = grant.user.id.clone();
        let invalid = |detail: &str| {
            json_resp(
                StatusCode::BAD_REQUEST,
                json!({"errors": [{"message": detail}], "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"}),
            )
        };
        if !r
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return invalid("Content-Type must be application/json");
        }
        let Some(body) = json_body(r).filter(|b| b.is_object()) else {
            return invalid("Request body is not valid JSON");
        };
        if let Some(k) = body
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .find(|k| !TWEET_FIELDS.contains(&k.as_str()))
        {
            return invalid(&format!(
                "$.{k}: is not defined in the schema and the schema does not allow additional properties"
            ));
        }
        let text = body["text"].as_str().unwrap_or("").to_string();
        if text.is_empty() && body["media"].is_null() {
            return invalid("$.text: text or media is required");
        }
        let media_ids: Vec<String> = body["media"]["media_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if body["media"].is_object() && !(1..=4).contains(&media_ids.len()) {
            return invalid("$.media.media_ids: 1 to 4 media ids are allowed");
        }
        for id in &media_ids {
            match self.uploads.get(id) {
                Some((owner, _, _)) if *owner == user => {}
                _ => return invalid(&format!("Your media IDs are invalid: {id}")),
            }
        }
        let reply_to = body["reply"]["in_reply_to_tweet_id"].as_str().map(str::to_string);
        if let Some(parent) = &reply_to
            && !self.live_posts(p).any(|x| &x.id == parent)
        {
            return invalid(&format!(
                "The tweet you are replying to ({parent}) does not exist or was deleted."
            ));
        }
        let script = self.next_script(p);
        if let Some(Scripted::Fail(status, body, headers)) = script {
            return scripted_response(status, body, headers);
        }
        if self.live_posts(p).any(|x| x.author == user && x.text == text) {
            return json_resp(
                StatusCode::FORBIDDEN,
                json!({"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank", "title": "Forbidden", "status": 403}),
            );
        }
        let id = self.numeric_id();
        self.media_of.insert(id.clone(), media_ids.clone());
        self.posts.push(FakePost {
            platform: p,
            id: id.clone(),
            author: user,
            text: text.clone(),
            reply_to,
            deleted: false,
            created_ms: postproxy::clock::now_ms(),
        });
        match script {
            Some(Scripted::ApplyThenStall(d)) => self.stall = Some(d),
            Some(Scripted::ApplyThenFail(status, body)) => return scripted_response(status, body, vec![]),
            _ => {}
        }
        let mut resp = json_resp(
            StatusCode::CREATED,
            json!({"data": {"id": id, "text": text, "edit_history_tweet_ids": [id]}}),
        );
        for (k, v) in [("x-rate-limit-limit", "100"), ("x-rate-limit-remaining", "99")] {
            resp.headers_mut().insert(k, v.parse().expect("header"));
        }
        resp
    }
}

impl Inner {
    /// `GET /2/users/:id/tweets`: the user's posts, newest first, from `start_time` on. Like X,
    /// the text comes back with `&`, `<`, `>` as HTML entities and links as t.co links.
    fn x_user_tweets(&mut self, user: &str, r: &RecordedRequest) -> Response {
        let p = "twitter";
        let i = match self.check_access(p, r.bearer()) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        let grant = &self.grants[self.tokens[i].grant];
        if !grant.has_scope("tweet.read") || !grant.has_scope("users.read") {
            return x_api_err(StatusCode::FORBIDDEN, "Forbidden");
        }
        let invalid = |detail: String| {
            json_resp(
                StatusCode::BAD_REQUEST,
                json!({"errors": [{"message": detail}], "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"}),
            )
        };
        let since = match r.query_param("start_time") {
            None => 0,
            Some(s) => match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
                Ok(t) => (t.unix_timestamp_nanos() / 1_000_000) as i64,
                Err(_) => {
                    return invalid(format!(
                        "The `start_time` query parameter value [{s}] is not a valid RFC 3339 date"
                    ));
                }
            },
        };
        let max: usize = match r.query_param("max_results").map(str::parse::<usize>) {
            None => 10,
            Some(Ok(n)) if (5..=100).contains(&n) => n,
            Some(_) => return invalid("The `max_results` query parameter value is not between 5 and 100".into()),
        };
        let fields = r.query_param("tweet.fields").unwrap_or("");
        let url = regex::Regex::new(r"https?://\S+").expect("regex");
        let mut data = Vec::new();
        for post in self
            .live_posts(p)
            .filter(|x| x.author == user && x.created_ms >= since)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .take(max)
        {
            let escaped = post
                .text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            let mut t = json!({"id": post.id, "text": url.replace_all(&escaped, "https://t.co/AbCdEf1234").to_string(),
                               "edit_history_tweet_ids": [post.id]});
            if fields.contains("created_at") {
                t["created_at"] = json!(postproxy::clock::iso8601(post.created_ms));
            }
            if fields.contains("referenced_tweets")
                && let Some(parent) = &post.reply_to
            {
                t["referenced_tweets"] = json!([{"type": "replied_to", "id": parent}]);
            }
            data.push(t);
        }
        if data.is_empty() {
            return json_resp(StatusCode::OK, json!({"meta": {"result_count": 0}}));
        }
        let n = data.len();
        json_resp(StatusCode::OK, json!({"data": data, "meta": {"result_count": n}}))
    }

    /// One-shot `POST /2/media/upload` (multipart: `media`, `media_category`, `media_type`).
    fn x_media_upload(&mut self, r: &RecordedRequest) -> Response {
        let p = "twitter";
        let i = match self.check_access(p, r.bearer()) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        let grant = &self.grants[self.tokens[i].grant];
        if !grant.has_scope("media.write") {
            return x_api_err(StatusCode::FORBIDDEN, "Forbidden");
        }
        let user = grant.user.id.clone();
        let part = |n: &str| r.parts.iter().find(|(name, _, _)| name == n);
        let invalid = |detail: &str| {
            json_resp(
                StatusCode::BAD_REQUEST,
                json!({"errors": [{"message": detail}], "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"}),
            )
        };
        let Some((_, _, data)) = part("media") else {
            return invalid("$.media: is required (multipart/form-data)");
        };
        if part("media_category").map(|(_, _, v)| v.as_slice()) != Some(b"tweet_image".as_slice()) {
            return invalid("$.media_category: must be tweet_image for a one-shot upload");
        }
        let Some(kind) = super::publishing::sniff_image(data) else {
            return invalid("$.media: unsupported media type");
        };
        if data.len() > 5 * 1024 * 1024 {
            return invalid("$.media: images must be 5 MB or smaller");
        }
        let id = self.numeric_id();
        self.uploads.insert(id.clone(), (user, kind.to_string(), data.len()));
        json_resp(
            StatusCode::OK,
            json!({"data": {"id": id, "media_key": format!("3_{id}"), "size": data.len(), "expires_after_secs": 86400}}),
        )
    }
}

// --- OAuth and identity ---

pub(super) fn x_api_err(status: StatusCode, title: &str) -> Response {
    json_resp(
        status,
        json!({ "title": title, "type": "about:blank", "status": status.as_u16(), "detail": title }),
    )
}

impl Inner {
    pub(super) fn twitter_me(&mut self, r: &RecordedRequest) -> Response {
        let p = "twitter";
        let i = match self.identity_token(p, r.bearer()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let grant = &self.grants[self.tokens[i].grant];
        if !grant.has_scope("users.read") || !grant.has_scope("tweet.read") {
            return x_api_err(StatusCode::FORBIDDEN, "Forbidden");
        }
        let user = grant.user.clone();
        let mut data = json!({ "id": user.id, "name": user.name, "username": user.username });
        if let Some(fields) = r.query_param("user.fields") {
            for f in fields.split(',').map(str::trim) {
                match f {
                    "profile_image_url" => {
                        data[f] = json!(format!("{}/{}/static/{}_normal.png", self.base, p, user.id));
                    }
                    "description" => data[f] = json!(""),
                    "verified" | "protected" => data[f] = json!(false),
                    "created_at" => data[f] = json!("2020-01-01T00:00:00.000Z"),
                    "" => {}
                    other => {
                        return json_resp(
                            StatusCode::BAD_REQUEST,
                            json!({
                                "errors": [{
                                    "parameters": { "user.fields": [fields] },
                                    "message": format!("The `user.fields` query parameter value [{other}] is not one of [...]"),
                                }],
                                "title": "Invalid Request",
                                "detail": "One or more parameters to your request was invalid.",
                                "type": "https://api.twitter.com/2/problems/invalid-request",
                            }),
                        );
                    }
                }
            }
        }
        ok(json!({ "data": data }))
    }

    /// X revokes the one token presented, not the whole grant.
    pub(super) fn twitter_revoke(&mut self, r: &RecordedRequest) -> Response {
        let p = "twitter";
        match self.revocation_request(p, r, oauth_err, "Missing required parameter [token].") {
            Ok(token) => {
                self.revoke_where(|t| t.platform == p && t.value == token);
                ok(json!({ "revoked": true }))
            }
            Err(refused) => refused,
        }
    }
}
