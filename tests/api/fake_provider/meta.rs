//! What Meta's three fakes share: Graph error bodies, the `/me` of Instagram and Threads, their
//! long-lived token swap and refresh, containers, and the publishing quotas.

#[allow(unused_imports)]
use super::*;

/// Graph's words at the token endpoint (Facebook, Threads; Instagram says two differently).
pub(super) const GRAPH_WORDS: Words = Words {
    bad_client_id: "Error validating application. Invalid application ID.",
    bad_client_secret: "Error validating client secret.",
    invalid_code: "Invalid verification code format.",
    used_code: "This authorization code has been used.",
    redirect_mismatch: "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
    ..Words::OAUTH
};

/// Graph's token-endpoint errors (Facebook, Threads): an `error` object with code and subcode.
pub(super) fn graph_token_error(_: &str, _refresh: bool, e: OErr) -> Response {
    use ErrKind::*;
    let (code, sub) = e.meta.unwrap_or(match e.kind {
        Client => (101, None),
        Grant => (100, Some(36007)),
        Redirect => (100, Some(36008)),
        Request | UnsupportedGrantType => (100, None),
        Revoked => (190, Some(458)),
    });
    meta_err(code, sub, &e.msg)
}

/// Graph's answer to a bad access token: code 190 with a subcode saying why.
pub(super) fn graph_auth_error(p: &str, fail: AuthFail) -> Response {
    match fail {
        AuthFail::Missing => meta_err(
            2500,
            None,
            "An active access token must be used to query information about the current user.",
        ),
        AuthFail::Unknown => meta_err(190, None, "Invalid OAuth access token - Cannot parse access token"),
        AuthFail::Expired => meta_err(190, Some(463), "Error validating access token: Session has expired."),
        AuthFail::Revoked => meta_err(
            190,
            Some(458),
            &format!(
                "Error validating access token: The user has not authorized application {}.",
                FakeProvider::client_id(p)
            ),
        ),
    }
}

/// Graph's transient server error.
pub(super) fn graph_server_error(status: StatusCode) -> Response {
    json_resp(
        status,
        json!({ "error": {
            "message": "An unexpected error has occurred. Please retry your request later.",
            "type": "OAuthException",
            "is_transient": true,
            "code": 2,
            "fbtrace_id": format!("Afake{}", random_hex(8)),
        }}),
    )
}

/// The identity and token routes Instagram and Threads share (`/me`, the long-lived swap and
/// its refresh).
pub(super) fn login_api(inner: &mut Inner, p: &'static str, path: &str, r: &RecordedRequest) -> Option<Response> {
    if r.method != "GET" {
        return None;
    }
    match strip_graph_version(path) {
        "/me" => Some(inner.meta_me(p, r)),
        "/access_token" => Some(inner.meta_long_lived(p, r)),
        "/refresh_access_token" => Some(inner.meta_refresh(p, r)),
        _ => None,
    }
}

// --- OAuth and identity ---

pub(super) fn meta_err(code: i64, subcode: Option<i64>, message: &str) -> Response {
    meta_err_status(StatusCode::BAD_REQUEST, code, subcode, message)
}

pub(super) fn meta_err_status(status: StatusCode, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut e = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": format!("Afake{}", random_hex(8)),
    });
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    json_resp(status, json!({ "error": e }))
}

/// A Meta container (Threads and Instagram).
#[derive(Debug, Clone)]
pub struct Container {
    pub platform: &'static str,
    pub user: String,
    pub text: String,
    pub reply_to: Option<String>,
    pub status_reads: u32,
    pub published: Option<String>,
    /// Image URLs (one), or the children's container ids (a carousel).
    pub media: Vec<String>,
    pub carousel_item: bool,
}

impl Inner {
    /// A Graph parameter, from the form or the query.
    pub(super) fn param<'a>(r: &'a RecordedRequest, k: &str) -> Option<&'a str> {
        r.form_param(k).or_else(|| r.query_param(k))
    }

    pub(super) fn long_lived_response(&mut self, p: &'static str, grant: usize) -> Response {
        let at = self.issue(p, grant, TokenKind::Access, true);
        ok(json!({ "access_token": at, "token_type": "bearer", "expires_in": self.st(p).expires_in }))
    }

    pub(super) fn meta_refresh_rejection(p: &str, revoked: bool) -> Response {
        if revoked {
            auth_error(p, AuthFail::Revoked)
        } else {
            auth_error(p, AuthFail::Expired)
        }
    }

    pub(super) fn meta_long_lived(&mut self, p: &'static str, r: &RecordedRequest) -> Response {
        let expected = if p == "instagram" {
            "ig_exchange_token"
        } else {
            "th_exchange_token"
        };
        if r.query_param("grant_type") != Some(expected) {
            return meta_err(
                100,
                None,
                &format!("Unsupported grant_type {:?}", r.query_param("grant_type")),
            );
        }
        if r.query_param("client_secret") != Some(FakeProvider::client_secret(p).as_str()) {
            return meta_err(1, None, "Error validating client secret.");
        }
        let i = match self.check_access(p, r.query_param("access_token")) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        if self.st(p).fail_long_lived_exchange {
            return meta_err(1, None, "An unknown error has occurred.");
        }
        let grant = self.tokens[i].grant;
        self.long_lived_response(p, grant)
    }

    pub(super) fn meta_refresh(&mut self, p: &'static str, r: &RecordedRequest) -> Response {
        let expected = if p == "instagram" {
            "ig_refresh_token"
        } else {
            "th_refresh_token"
        };
        if r.query_param("grant_type") != Some(expected) {
            return meta_err(
                100,
                None,
                &format!("Unsupported grant_type {:?}", r.query_param("grant_type")),
            );
        }
        let i = match self.check_access(p, r.query_param("access_token")) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        if let Some(revoked) = self.st(p).reject_refresh {
            return Self::meta_refresh_rejection(p, revoked);
        }
        if !self.tokens[i].long_lived {
            return meta_err(100, None, "Only long-lived access tokens can be refreshed.");
        }
        let grant = self.tokens[i].grant;
        self.long_lived_response(p, grant)
    }

    pub(super) fn meta_me(&mut self, p: &'static str, r: &RecordedRequest) -> Response {
        let i = match self.identity_token(p, r.meta_token()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let user = self.grants[self.tokens[i].grant].user.clone();
        let picture = self.picture_url(p, &user.id);
        let mut out = serde_json::Map::new();
        for f in requested_fields(r, "fields", &["id"]) {
            let v = match (p, f.as_str()) {
                (_, "id") => json!(user.id),
                (_, "username") => json!(user.username),
                (_, "name") => json!(user.name),
                ("instagram", "user_id") => json!(user.id),
                ("instagram", "profile_picture_url") => json!(picture),
                ("instagram", "account_type") => json!("BUSINESS"),
                ("instagram", "followers_count" | "follows_count" | "media_count") => json!(0),
                ("threads", "threads_profile_picture_url") => json!(picture),
                ("threads", "threads_biography") => json!(""),
                (_, other) => {
                    let node = if p == "instagram" { "IGUser" } else { "ThreadsUser" };
                    return meta_err(
                        100,
                        None,
                        &format!("(#100) Tried accessing nonexisting field ({other}) on node type ({node})"),
                    );
                }
            };
            out.insert(f, v);
        }
        out.entry("id").or_insert(json!(user.id));
        ok(Value::Object(out))
    }

    /// (posts or replies published by `user` in the last 24 hours, the quota for them).
    pub(super) fn meta_quota(&self, p: &str, user: &str, replies: bool) -> (i64, i64) {
        let since = postproxy::clock::now_ms() - 86_400_000;
        let used = self
            .posts
            .iter()
            .filter(|x| x.platform == p && x.author == user && x.created_ms >= since)
            .filter(|x| x.reply_to.is_some() == replies)
            .count() as i64;
        let total = match (p, replies) {
            ("threads", true) => 1000,
            ("threads", false) => self.publishing_quota.get("threads").copied().unwrap_or(250),
            _ => self.publishing_quota.get("instagram").copied().unwrap_or(50),
        };
        (used, total)
    }

    /// The cap answer of `…_publish` when the account has used its quota. Instagram's is
    /// 9 / 2207042; Threads' was never captured (reference §7.8), so the fake answers the same.
    pub(super) fn meta_quota_refusal(&self, p: &str, user: &str, replies: bool) -> Option<Response> {
        let (used, total) = self.meta_quota(p, user, replies);
        (used >= total).then(|| {
            meta_err(
                9,
                Some(2207042),
                "Application request limit reached: the user has reached the maximum number of posts",
            )
        })
    }

    /// `GET /{user}/content_publishing_limit` (Instagram) and `/{user}/threads_publishing_limit`:
    /// only the fields asked for (`quota_usage` when none), settings under `config` (Instagram's
    /// sample asks for `rate_limit_settings`, so both names are accepted).
    pub(super) fn meta_publishing_limit(&self, p: &str, user: &str, r: &RecordedRequest) -> Response {
        let fields = Self::param(r, "fields").unwrap_or("quota_usage").to_string();
        let (used, total) = self.meta_quota(p, user, false);
        let (replies_used, replies_total) = self.meta_quota(p, user, true);
        let mut row = serde_json::Map::new();
        for f in fields.split(',') {
            match f {
                "quota_usage" => row.insert(f.into(), json!(used)),
                "config" | "rate_limit_settings" => {
                    row.insert("config".into(), json!({"quota_total": total, "quota_duration": 86400}))
                }
                "reply_quota_usage" if p == "threads" => row.insert(f.into(), json!(replies_used)),
                "reply_config" if p == "threads" => {
                    row.insert(f.into(), json!({"quota_total": replies_total, "quota_duration": 86400}))
                }
                other => {
                    return meta_err(
                        100,
                        None,
                        &format!("(#100) Tried accessing nonexisting field ({other})"),
                    );
                }
            };
        }
        json_resp(StatusCode::OK, json!({ "data": [row] }))
    }

    /// `GET /{user}/threads` (Threads) or `/{user}/media` (Instagram): the user's published
    /// media from `since` (Unix seconds), newest first, with the requested `fields`.
    pub(super) fn meta_media_list(&self, p: &str, user: &str, text_field: &str, r: &RecordedRequest) -> Response {
        let since = match r.query_param("since").map(str::parse::<i64>) {
            None => 0,
            Some(Ok(s)) => s * 1000,
            Some(Err(_)) => return meta_err(100, None, "(#100) since must be a Unix timestamp"),
        };
        let fields = r.query_param("fields").unwrap_or("id");
        let limit: usize = r.query_param("limit").and_then(|l| l.parse().ok()).unwrap_or(25);
        let mut data = Vec::new();
        let mine: Vec<_> = self
            .live_posts(p)
            .filter(|x| x.author == user && x.created_ms >= since)
            .collect();
        for post in mine.into_iter().rev().take(limit) {
            let mut m = json!({"id": post.id});
            for f in fields.split(',') {
                match f {
                    "timestamp" => {
                        m["timestamp"] = json!(format!("{}+0000", &postproxy::clock::iso8601(post.created_ms)[..19]))
                    }
                    "permalink" => {
                        m["permalink"] = json!(match p {
                            "threads" => format!("https://www.threads.com/@user/post/C{}", post.id),
                            _ => format!("https://www.instagram.com/p/P{}/", post.id),
                        })
                    }
                    f if f == text_field && !post.text.is_empty() => m[text_field] = json!(post.text),
                    _ => {}
                }
            }
            data.push(m);
        }
        json_resp(StatusCode::OK, json!({"data": data, "paging": {}}))
    }

    /// The image URLs a container carries (a carousel: its children's).
    pub(super) fn container_images(&self, c: &Container) -> Vec<String> {
        if c.media.iter().all(|m| m.starts_with("http")) {
            return c.media.clone();
        }
        c.media
            .iter()
            .filter_map(|id| self.containers.get(id))
            .flat_map(|k| k.media.clone())
            .collect()
    }
}
