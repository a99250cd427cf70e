//! Fake LinkedIn: OpenID sign-in (`/v2/userinfo`), organisation ACLs, revocation beside the token
//! endpoint, and the Posts API: `POST /rest/posts` (URN in `x-restli-id`, empty 201 body) and
//! `DELETE /rest/posts/{urn}`. Like LinkedIn, it parses `commentary` as "little" text and cuts the
//! post at the first unescaped reserved character, so a client that forgets to escape publishes a
//! truncated post.

#[allow(unused_imports)]
use super::*;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(super) const SPEC: FakeSpec = FakeSpec {
    name: "linkedin",
    label: "LinkedIn",
    scope_separator: ' ',
    client_id_param: "client_id",
    // So that `accessToken` → `revoke` gives the revoke URL, as on LinkedIn.
    token_path: "/oauth/v2/accessToken",
    token_by_get: false,
    client_auth: ClientAuth::Body,
    expires_in: 5_184_000,
    pkce: false,
    requires_offline: false,
    scopes: &[
        "openid",
        "profile",
        "email",
        "w_member_social",
        "r_organization_admin",
        "rw_organization_admin",
        "w_organization_social",
        "r_organization_social",
    ],
    callback_scopes: None,
    denied: &[("error_description", "The user cancelled the authorization")],
    words: Words {
        invalid_code: INVALID_CODE,
        used_code: INVALID_CODE,
        redirect_mismatch: INVALID_CODE,
        refresh_invalid: "The provided refresh token is invalid or expired",
        refresh_revoked: "The provided refresh token has been revoked",
        ..Words::OAUTH
    },
    revoke: Some(Revoke::Site("/oauth/v2/revoke")),
    placements: &[(
        DEFAULT_LINKEDIN_ORG_ID,
        "Fake LinkedIn Organization",
        "fake-linkedin-org",
    )],
    code_tokens,
    refresh_tokens: Some(refresh_tokens),
    token_error: token_refusal,
    auth_error: bad_token,
    server_error,
    api,
    site,
};

const INVALID_CODE: &str = "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired. Or external member binding exists";

fn code_tokens(inner: &mut Inner, ex: &Exchange) -> Value {
    let at = inner.issue(ex.p, ex.grant, TokenKind::Access, true);
    let mut v = json!({
        "access_token": at,
        "expires_in": ex.expires_in,
        "scope": ex.scopes.join(","),
        "token_type": "Bearer",
    });
    if ex.issue_refresh {
        v["refresh_token"] = json!(inner.issue(ex.p, ex.grant, TokenKind::Refresh, true));
        v["refresh_token_expires_in"] = json!(REFRESH_TOKEN_LIFETIME_SECS);
    }
    v
}

/// LinkedIn keeps the refresh token (its lifetime counts down).
fn refresh_tokens(_: &mut Inner, rn: &Renewal) -> Value {
    json!({
        "access_token": rn.access_token,
        "expires_in": rn.expires_in,
        "refresh_token": rn.refresh_token,
        "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_SECS - 86_400,
        "scope": rn.scopes.join(","),
        "token_type": "Bearer",
    })
}

fn token_refusal(_: &str, refresh: bool, e: OErr) -> Response {
    use ErrKind::*;
    let bad = StatusCode::BAD_REQUEST;
    match e.kind {
        Client => oauth_err(StatusCode::UNAUTHORIZED, "invalid_client", &e.msg),
        Grant | Redirect if !refresh => oauth_err(bad, "invalid_request", &e.msg),
        Grant | Redirect | Revoked => oauth_err(bad, "invalid_grant", &e.msg),
        Request => oauth_err(bad, "invalid_request", &e.msg),
        UnsupportedGrantType => oauth_err(bad, "unsupported_grant_type", &e.msg),
    }
}

fn bad_token(_: &str, fail: AuthFail) -> Response {
    let (sc, code, msg) = match fail {
        AuthFail::Missing => (65604, "EMPTY_ACCESS_TOKEN", "Empty oauth2 access token"),
        AuthFail::Unknown => (65600, "INVALID_ACCESS_TOKEN", "Invalid access token"),
        AuthFail::Expired => (
            65601,
            "EXPIRED_ACCESS_TOKEN",
            "The token used in the request has expired",
        ),
        AuthFail::Revoked => (
            65602,
            "REVOKED_ACCESS_TOKEN",
            "The token used in the request has been revoked by the user",
        ),
    };
    linkedin_api_err(StatusCode::UNAUTHORIZED, sc, code, msg)
}

fn server_error(status: StatusCode) -> Response {
    linkedin_api_err(status, 0, "INTERNAL_SERVER_ERROR", "Internal Server Error")
}

fn api(inner: &mut Inner, path: &str, r: &RecordedRequest) -> Option<Response> {
    if let Some(resp) = inner.linkedin_publishing(path, r) {
        return Some(resp);
    }
    match (r.method.as_str(), path) {
        ("GET", "/v2/userinfo") => Some(inner.linkedin_userinfo(r)),
        ("GET", "/rest/organizationAcls") => Some(inner.linkedin_acls(r)),
        ("GET", org) if org.starts_with("/rest/organizations/") => {
            let id = org.trim_start_matches("/rest/organizations/").to_string();
            Some(inner.linkedin_org(&id, r))
        }
        _ => None,
    }
}

/// Revocation beside the token endpoint, and upload URLs outside the API host, as LinkedIn's.
fn site(inner: &mut Inner, rest: &str, r: &RecordedRequest) -> Option<Response> {
    if rest == "/oauth/v2/revoke" {
        return Some(if r.method == "POST" {
            inner.linkedin_revoke(r)
        } else {
            method_not_allowed(r, "POST")
        });
    }
    if rest.starts_with("/dms-uploads/") {
        return Some(inner.linkedin_publishing(rest, r).unwrap_or_else(|| not_found(r)));
    }
    None
}

use super::publishing::{FakePost, Scripted, json_body, scripted_response};
use super::{Inner, RecordedRequest};

const RESERVED: &[char] = &[
    '\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~',
];

/// Little text as LinkedIn stores commentary: reserved characters escaped.
fn escape_little_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c == '\\' || RESERVED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The text LinkedIn shows: escapes removed, cut at the first unescaped reserved character.
pub fn little_text(commentary: &str) -> String {
    let mut out = String::new();
    let mut chars = commentary.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => out.push(n),
                None => break,
            }
        } else if RESERVED.contains(&c) {
            break;
        } else {
            out.push(c);
        }
    }
    out
}

impl Inner {
    pub(super) fn linkedin_publishing(&mut self, path: &str, r: &RecordedRequest) -> Option<Response> {
        match (r.method.as_str(), path) {
            ("POST", "/rest/posts") => Some(self.linkedin_create(r)),
            ("GET", "/rest/posts") if r.query_param("q") == Some("author") => Some(self.linkedin_find_by_author(r)),
            ("POST", "/rest/images") if r.query_param("action") == Some("initializeUpload") => {
                Some(self.linkedin_init_image(r))
            }
            ("PUT", slot) if slot.starts_with("/dms-uploads/") => {
                let token = slot.trim_start_matches("/dms-uploads/").to_string();
                Some(self.linkedin_put_image(&token, r))
            }
            ("DELETE", urn) if urn.starts_with("/rest/posts/") => {
                let i = match self.linkedin_rest_prologue(r) {
                    Ok(i) => i,
                    Err(resp) => return Some(resp),
                };
                let _ = i;
                let urn = super::form_decode(urn.trim_start_matches("/rest/posts/"));
                if let Some(post) = self.posts.iter_mut().find(|x| x.platform == "linkedin" && x.id == urn) {
                    post.deleted = true;
                }
                Some(StatusCode::NO_CONTENT.into_response())
            }
            _ => None,
        }
    }

    fn linkedin_create(&mut self, r: &RecordedRequest) -> Response {
        let p = "linkedin";
        let i = match self.linkedin_rest_prologue(r) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let Some(body) = json_body(r).filter(|b| b.is_object()) else {
            return linkedin_api_err(
                StatusCode::BAD_REQUEST,
                0,
                "ILLEGAL_ARGUMENT",
                "Request body could not be converted to data map",
            );
        };
        let missing: Vec<&str> = ["author", "commentary", "visibility", "distribution", "lifecycleState"]
            .into_iter()
            .filter(|k| body[*k].is_null())
            .collect();
        if !missing.is_empty() {
            let message = missing
                .iter()
                .map(|k| format!("ERROR :: /{k} :: field is required but not found and has no default value"))
                .collect::<Vec<_>>()
                .join("\n");
            return super::json_resp(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": message, "status": 422}),
            );
        }
        let grant = &self.grants[self.tokens[i].grant];
        let author = body["author"].as_str().unwrap_or("").to_string();
        let allowed = if let Some(member) = author.strip_prefix("urn:li:person:") {
            member == grant.user.id && grant.has_scope("w_member_social")
        } else if let Some(org) = author.strip_prefix("urn:li:organization:") {
            grant.has_scope("w_organization_social") && self.st(p).placements.iter().any(|o| o.id == org)
        } else {
            false
        };
        if !allowed {
            return linkedin_api_err(
                StatusCode::FORBIDDEN,
                100,
                "ACCESS_DENIED",
                &format!("Not enough permissions to access: partnerApiPostsExternal.CREATE.20260901 as {author}"),
            );
        }
        let images: Vec<String> = match (
            &body["content"]["media"]["id"],
            &body["content"]["multiImage"]["images"],
        ) {
            (serde_json::Value::String(id), _) => vec![id.clone()],
            (_, serde_json::Value::Array(list)) => list
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        if body["content"]["multiImage"].is_object() && !(2..=20).contains(&images.len()) {
            return linkedin_api_err(
                StatusCode::UNPROCESSABLE_ENTITY,
                0,
                "INVALID_CONTENT",
                "multiImage needs 2 to 20 images",
            );
        }
        for id in &images {
            match self.uploads.get(id) {
                Some((owner, _, _)) if *owner == author => {}
                _ => {
                    return linkedin_api_err(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        0,
                        "INVALID_CONTENT",
                        &format!("/content/media/id :: {id} is not an uploaded image of {author}"),
                    );
                }
            }
        }
        let script = self.next_script(p);
        if let Some(Scripted::Fail(status, body, headers)) = script {
            return scripted_response(status, body, headers);
        }
        let text = little_text(body["commentary"].as_str().unwrap_or(""));
        if let Some(dup) = self.live_posts(p).find(|x| x.author == author && x.text == text) {
            let urn = dup.id.clone();
            return super::json_resp(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errorDetailType": "com.linkedin.common.error.BadRequest",
                       "message": format!("com.linkedin.content.common.exception.BadRequestResponseException: Content is a duplicate of {urn}"),
                       "errorDetails": {"inputErrors": [{"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}]},
                       "status": 422}),
            );
        }
        let urn = format!("urn:li:share:7{}", &self.numeric_id()[1..]);
        self.media_of.insert(urn.clone(), images);
        self.posts.push(FakePost {
            platform: p,
            id: urn.clone(),
            author,
            text,
            reply_to: None,
            deleted: false,
            created_ms: postproxy::clock::now_ms(),
        });
        if let Some(Scripted::ApplyThenFail(status, body)) = script {
            return scripted_response(status, body, vec![]);
        }
        let mut resp = StatusCode::CREATED.into_response();
        resp.headers_mut().insert("x-restli-id", urn.parse().expect("header"));
        resp
    }
}

impl Inner {
    /// `GET /rest/posts?q=author&author=…` (a FINDER): the author's posts, newest first, with
    /// their commentary as stored (little text). Needs `r_member_social` for a member and
    /// `r_organization_social` for an organisation, as on LinkedIn.
    fn linkedin_find_by_author(&self, r: &RecordedRequest) -> Response {
        let i = match self.linkedin_rest_prologue(r) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        if r.header("x-restli-method") != Some("FINDER") {
            return linkedin_api_err(
                StatusCode::BAD_REQUEST,
                0,
                "ILLEGAL_ARGUMENT",
                "X-RestLi-Method: FINDER is required",
            );
        }
        let grant = &self.grants[self.tokens[i].grant];
        let author = r.query_param("author").unwrap_or("").to_string();
        let allowed = if author.starts_with("urn:li:person:") {
            grant.has_scope("r_member_social")
        } else {
            grant.has_scope("r_organization_social")
        };
        if !allowed {
            return linkedin_api_err(
                StatusCode::FORBIDDEN,
                100,
                "ACCESS_DENIED",
                &format!(
                    "Not enough permissions to access: partnerApiPostsExternal.FINDER-author.20260901 as {author}"
                ),
            );
        }
        let count: usize = r.query_param("count").and_then(|c| c.parse().ok()).unwrap_or(10);
        let mine: Vec<_> = self.live_posts("linkedin").filter(|x| x.author == author).collect();
        let elements: Vec<_> = mine
            .into_iter()
            .rev()
            .take(count)
            .map(|x| {
                json!({"id": x.id, "author": x.author, "commentary": escape_little_text(&x.text),
                       "createdAt": x.created_ms, "lifecycleState": "PUBLISHED", "visibility": "PUBLIC"})
            })
            .collect();
        super::json_resp(
            StatusCode::OK,
            json!({"elements": elements, "paging": {"start": 0, "count": count}}),
        )
    }

    /// `POST /rest/images?action=initializeUpload`: an upload URL for the owner's next image.
    fn linkedin_init_image(&mut self, r: &RecordedRequest) -> Response {
        if let Err(resp) = self.linkedin_rest_prologue(r) {
            return resp;
        }
        let owner = json_body(r)
            .and_then(|b| b["initializeUploadRequest"]["owner"].as_str().map(str::to_string))
            .unwrap_or_default();
        if !owner.starts_with("urn:li:person:") && !owner.starts_with("urn:li:organization:") {
            return linkedin_api_err(
                StatusCode::UNPROCESSABLE_ENTITY,
                0,
                "INVALID_OWNER",
                "initializeUploadRequest.owner must be a person or organization URN",
            );
        }
        let urn = format!("urn:li:image:C4E10AQ{}", self.numeric_id());
        let token = super::random_hex(12);
        self.upload_slots.insert(token.clone(), (urn.clone(), owner));
        super::json_resp(
            StatusCode::OK,
            json!({"value": {"uploadUrlExpiresAt": 1_900_000_000_000i64, "uploadUrl": format!("{}/linkedin/dms-uploads/{token}", self.base), "image": urn}}),
        )
    }

    /// The one `PUT` of an image's bytes to its upload URL.
    fn linkedin_put_image(&mut self, token: &str, r: &RecordedRequest) -> Response {
        if self.check_access("linkedin", r.bearer()).is_err() {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let Some((urn, owner)) = self.upload_slots.remove(token) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let data = r.body_bytes.clone();
        let Some(kind) = super::publishing::sniff_image(&data) else {
            return linkedin_api_err(
                StatusCode::BAD_REQUEST,
                0,
                "INVALID_IMAGE",
                "The uploaded file is not a JPG, PNG or GIF image",
            );
        };
        self.uploads.insert(urn, (owner, kind.to_string(), data.len()));
        StatusCode::CREATED.into_response()
    }
}

// --- OAuth and identity ---

pub(super) fn linkedin_api_err(status: StatusCode, service_code: i64, code: &str, message: &str) -> Response {
    json_resp(
        status,
        json!({ "status": status.as_u16(), "serviceErrorCode": service_code, "code": code, "message": message }),
    )
}

impl Inner {
    pub(super) fn linkedin_userinfo(&mut self, r: &RecordedRequest) -> Response {
        let p = "linkedin";
        let i = match self.identity_token(p, r.bearer()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let grant = &self.grants[self.tokens[i].grant];
        if !grant.has_scope("openid") || !grant.has_scope("profile") {
            return linkedin_api_err(
                StatusCode::FORBIDDEN,
                100,
                "ACCESS_DENIED",
                "Not enough permissions to access: userinfo.GET.NO_VERSION",
            );
        }
        let user = grant.user.clone();
        let has_email = grant.has_scope("email");
        let (given, family) = user
            .name
            .split_once(' ')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap_or((user.name.clone(), String::new()));
        let mut v = json!({
            "sub": user.id,
            "name": user.name,
            "given_name": given,
            "family_name": family,
            "picture": self.picture_url(p, &user.id),
            "locale": { "country": "US", "language": "en" },
        });
        if has_email {
            v["email"] = json!(format!("{}@example.com", user.username));
            v["email_verified"] = json!(true);
        }
        ok(v)
    }

    /// LinkedIn versioned (`/rest`) APIs: token, then the two required headers.
    #[allow(clippy::result_large_err)] // a ready response is the natural error here
    pub(super) fn linkedin_rest_prologue(&self, r: &RecordedRequest) -> Result<usize, Response> {
        let p = "linkedin";
        let i = self.check_access(p, r.bearer()).map_err(|f| auth_error(p, f))?;
        match r.linkedin_version.as_deref() {
            None => {
                return Err(linkedin_api_err(
                    StatusCode::BAD_REQUEST,
                    0,
                    "VERSION_MISSING",
                    "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
                ));
            }
            Some(v) if !(v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit())) => {
                return Err(linkedin_api_err(
                    StatusCode::BAD_REQUEST,
                    0,
                    "INVALID_VERSION",
                    &format!("Invalid LinkedIn-Version header {v:?} (expected YYYYMM)"),
                ));
            }
            Some(_) => {}
        }
        if r.restli_protocol_version.as_deref() != Some("2.0.0") {
            return Err(linkedin_api_err(
                StatusCode::BAD_REQUEST,
                0,
                "INVALID_PROTOCOL_VERSION",
                "X-Restli-Protocol-Version: 2.0.0 is required",
            ));
        }
        Ok(i)
    }

    pub(super) fn linkedin_acls(&mut self, r: &RecordedRequest) -> Response {
        let p = "linkedin";
        let i = match self.linkedin_rest_prologue(r) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        if self.st(p).fail_placements {
            return platform_failure(p, 500);
        }
        let grant = &self.grants[self.tokens[i].grant];
        if !grant.has_scope("r_organization_admin") && !grant.has_scope("rw_organization_admin") {
            return linkedin_api_err(
                StatusCode::FORBIDDEN,
                100,
                "ACCESS_DENIED",
                "Not enough permissions to access: organizationAcls.FINDER-roleAssignee.20241101",
            );
        }
        if r.query_param("q") != Some("roleAssignee") {
            return linkedin_api_err(
                StatusCode::BAD_REQUEST,
                0,
                "ILLEGAL_ARGUMENT",
                "Invalid or missing finder `q` (expected roleAssignee)",
            );
        }
        let role = r.query_param("role").unwrap_or("ADMINISTRATOR");
        let state = r.query_param("state").unwrap_or("APPROVED");
        let person = format!("urn:li:person:{}", grant.user.id);
        let elements: Vec<Value> = if role == "ADMINISTRATOR" && state == "APPROVED" {
            self.st(p)
                .placements
                .iter()
                .map(|o| {
                    json!({
                        "roleAssignee": person,
                        "state": "APPROVED",
                        "role": "ADMINISTRATOR",
                        "organization": format!("urn:li:organization:{}", o.id),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let total = elements.len();
        ok(json!({
            "paging": { "start": 0, "count": 10, "links": [], "total": total },
            "elements": elements,
        }))
    }

    pub(super) fn linkedin_org(&mut self, id: &str, r: &RecordedRequest) -> Response {
        let p = "linkedin";
        if let Err(resp) = self.linkedin_rest_prologue(r) {
            return resp;
        }
        let Some(org) = self.st(p).placements.iter().find(|o| o.id == id).cloned() else {
            return linkedin_api_err(
                StatusCode::NOT_FOUND,
                0,
                "RESOURCE_NOT_FOUND",
                &format!("Organization {id} not found"),
            );
        };
        let num = org.id.parse::<u64>().map_or_else(|_| json!(org.id), |n| json!(n));
        ok(json!({
            "id": num,
            "localizedName": org.name,
            "vanityName": org.username,
            "name": { "localized": { "en_US": org.name }, "preferredLocale": { "country": "US", "language": "en" } },
            "primaryOrganizationType": "NONE",
            "versionTag": "1",
        }))
    }

    pub(super) fn linkedin_revoke(&mut self, r: &RecordedRequest) -> Response {
        let p = "linkedin";
        match self.revocation_request(p, r, oauth_err, "Missing required parameter: token") {
            Ok(token) => {
                self.revoke_grant_of(p, &token);
                StatusCode::OK.into_response()
            }
            Err(refused) => refused,
        }
    }
}
