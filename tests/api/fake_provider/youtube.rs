//! Fake YouTube (Google): the channel of the connected account and Google's token revocation.

#[allow(unused_imports)]
use super::*;

pub(super) const SPEC: FakeSpec = FakeSpec {
    name: "youtube",
    label: "YouTube",
    scope_separator: ' ',
    client_id_param: "client_id",
    token_path: "/token",
    token_by_get: false,
    client_auth: ClientAuth::BasicOrBody,
    expires_in: 3599,
    pkce: true,
    requires_offline: true,
    scopes: &[
        "https://www.googleapis.com/auth/youtube.upload",
        "https://www.googleapis.com/auth/youtube.readonly",
        "https://www.googleapis.com/auth/youtube",
        "https://www.googleapis.com/auth/youtube.force-ssl",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
        "openid",
        "email",
        "profile",
    ],
    callback_scopes: Some("scope"),
    denied: &[("error_description", "The user denied access to the application.")],
    words: Words {
        bad_client_id: "The OAuth client was not found.",
        bad_client_secret: "Unauthorized",
        invalid_code: "Bad Request",
        used_code: "Bad Request",
        redirect_mismatch: "Bad Request",
        missing_verifier: "Missing code verifier.",
        bad_verifier: "Invalid code verifier.",
        refresh_invalid: "Bad Request",
        refresh_revoked: "Token has been expired or revoked.",
    },
    // `/token` → `/revoke`, as Google's.
    revoke: Some(Revoke::Site("/revoke")),
    placements: &[],
    code_tokens,
    refresh_tokens: Some(refresh_tokens),
    token_error: token_refusal,
    auth_error: bad_token,
    server_error,
    api,
    site,
};

/// Google issues a refresh token only to offline access, on first consent or `prompt=consent`.
fn code_tokens(inner: &mut Inner, ex: &Exchange) -> Value {
    let at = inner.issue(ex.p, ex.grant, TokenKind::Access, true);
    let first = inner.st_mut(ex.p).consented.insert(ex.user.id.clone());
    let mut v = json!({
        "access_token": at,
        "expires_in": ex.expires_in,
        "scope": ex.scopes.join(" "),
        "token_type": "Bearer",
    });
    if ex.offline && (ex.prompt_consent || first) {
        v["refresh_token"] = json!(inner.issue(ex.p, ex.grant, TokenKind::Refresh, true));
    }
    v
}

/// Google keeps the refresh token and does not repeat it.
fn refresh_tokens(_: &mut Inner, rn: &Renewal) -> Value {
    json!({
        "access_token": rn.access_token,
        "expires_in": rn.expires_in,
        "scope": rn.scopes.join(" "),
        "token_type": "Bearer",
    })
}

fn token_refusal(_: &str, _refresh: bool, e: OErr) -> Response {
    use ErrKind::*;
    let bad = StatusCode::BAD_REQUEST;
    match e.kind {
        Client => oauth_err(StatusCode::UNAUTHORIZED, "invalid_client", &e.msg),
        Grant | Revoked => oauth_err(bad, "invalid_grant", &e.msg),
        Redirect => oauth_err(bad, "redirect_uri_mismatch", &e.msg),
        Request => oauth_err(bad, "invalid_request", &e.msg),
        UnsupportedGrantType => oauth_err(bad, "unsupported_grant_type", &e.msg),
    }
}

fn bad_token(_: &str, _: AuthFail) -> Response {
    google_api_err(
        StatusCode::UNAUTHORIZED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        "authError",
        "UNAUTHENTICATED",
    )
}

fn server_error(status: StatusCode) -> Response {
    google_api_err(status, "Backend Error", "backendError", "INTERNAL")
}

fn api(inner: &mut Inner, path: &str, r: &RecordedRequest) -> Option<Response> {
    (r.method == "GET" && path == "/youtube/v3/channels").then(|| inner.youtube_channels(r))
}

fn site(inner: &mut Inner, rest: &str, r: &RecordedRequest) -> Option<Response> {
    (rest == "/revoke").then(|| {
        if r.method == "POST" {
            inner.google_revoke(r)
        } else {
            method_not_allowed(r, "POST")
        }
    })
}

// --- OAuth and identity ---

pub(super) fn google_api_err(status: StatusCode, message: &str, reason: &str, google_status: &str) -> Response {
    json_resp(
        status,
        json!({ "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{ "message": message, "domain": "global", "reason": reason }],
            "status": google_status,
        }}),
    )
}

impl Inner {
    pub(super) fn youtube_channels(&mut self, r: &RecordedRequest) -> Response {
        let p = "youtube";
        let i = match self.identity_token(p, r.bearer()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let grant = &self.grants[self.tokens[i].grant];
        let readable = [
            "https://www.googleapis.com/auth/youtube.readonly",
            "https://www.googleapis.com/auth/youtube",
            "https://www.googleapis.com/auth/youtube.force-ssl",
        ]
        .iter()
        .any(|s| grant.has_scope(s));
        if !readable {
            return google_api_err(
                StatusCode::FORBIDDEN,
                "Request had insufficient authentication scopes.",
                "insufficientPermissions",
                "PERMISSION_DENIED",
            );
        }
        let parts: Vec<&str> = r.query_param("part").unwrap_or("").split(',').map(str::trim).collect();
        if parts.iter().all(|x| x.is_empty()) {
            return google_api_err(
                StatusCode::BAD_REQUEST,
                "No filter selected. Expected one of: mySubscribers, forUsername, managedByMe, mine, id, idParam, forHandle",
                "missingRequiredParameter",
                "INVALID_ARGUMENT",
            );
        }
        if r.query_param("mine") != Some("true") {
            return google_api_err(
                StatusCode::BAD_REQUEST,
                "No filter selected. Expected one of: mySubscribers, forUsername, managedByMe, mine, id, idParam, forHandle",
                "missingRequiredParameter",
                "INVALID_ARGUMENT",
            );
        }
        let user = grant.user.clone();
        if !self.st(p).youtube_has_channel {
            return ok(json!({
                "kind": "youtube#channelListResponse",
                "etag": "fake-etag-empty",
                "pageInfo": { "totalResults": 0, "resultsPerPage": 5 },
            }));
        }
        let thumb = self.picture_url(p, &user.id);
        let mut item = json!({ "kind": "youtube#channel", "etag": "fake-etag", "id": user.id });
        if parts.contains(&"snippet") {
            item["snippet"] = json!({
                "title": user.name,
                "description": "",
                "customUrl": format!("@{}", user.username),
                "publishedAt": "2020-01-01T00:00:00Z",
                "thumbnails": {
                    "default": { "url": thumb, "width": 88, "height": 88 },
                    "medium": { "url": thumb, "width": 240, "height": 240 },
                    "high": { "url": thumb, "width": 800, "height": 800 },
                },
                "localized": { "title": user.name, "description": "" },
            });
        }
        ok(json!({
            "kind": "youtube#channelListResponse",
            "etag": "fake-etag-list",
            "pageInfo": { "totalResults": 1, "resultsPerPage": 5 },
            "items": [item],
        }))
    }

    pub(super) fn google_revoke(&mut self, r: &RecordedRequest) -> Response {
        let p = "youtube";
        let token = r.form_param("token").or_else(|| r.query_param("token"));
        let found = token.and_then(|tok| {
            self.tokens
                .iter()
                .find(|t| t.platform == p && t.value == tok && t.state == TokenState::Valid)
                .map(|t| t.grant)
        });
        match found {
            Some(grant) => {
                self.revoke_grant(grant);
                ok(json!({}))
            }
            None => oauth_err(StatusCode::BAD_REQUEST, "invalid_token", "Token expired or revoked"),
        }
    }
}
