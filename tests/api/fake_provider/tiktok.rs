//! Fake TikTok: Login Kit (`client_key`, `/v2/user/info/`, revocation) and the Content Posting API
//! for photo posts: `creator_info/query`, `content/init` (PULL_FROM_URL; the fake fetches every
//! photo, JPEG or WebP only; the privacy level must be one the creator allows) and `status/fetch`
//! (`PROCESSING_DOWNLOAD` once, then `PUBLISH_COMPLETE` with the post id as a JSON int64). Every
//! answer carries TikTok's `error` object, success included.

#[allow(unused_imports)]
use super::*;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

pub(super) const SPEC: FakeSpec = FakeSpec {
    name: "tiktok",
    label: "TikTok",
    scope_separator: ',',
    client_id_param: "client_key",
    token_path: "/token",
    token_by_get: false,
    client_auth: ClientAuth::Body,
    expires_in: 86_400,
    pkce: false,
    requires_offline: false,
    scopes: &[
        "user.info.basic",
        "user.info.profile",
        "user.info.stats",
        "video.publish",
        "video.upload",
        "video.list",
    ],
    callback_scopes: Some("scopes"),
    denied: &[
        ("error_description", "The user denied the authorization request."),
        ("error_type", "user_denied"),
    ],
    words: Words {
        bad_client_id: "Client key is invalid.",
        bad_client_secret: "Client secret is invalid.",
        invalid_code: "Authorization code is expired.",
        used_code: "Authorization code is expired.",
        redirect_mismatch: "Authorization code is expired.",
        ..Words::OAUTH
    },
    revoke: Some(Revoke::Api("/v2/oauth/revoke/")),
    placements: &[],
    code_tokens,
    refresh_tokens: Some(refresh_tokens),
    token_error: token_refusal,
    auth_error: bad_token,
    server_error,
    api,
    site: no_site,
};

fn code_tokens(inner: &mut Inner, ex: &Exchange) -> Value {
    let at = inner.issue(ex.p, ex.grant, TokenKind::Access, true);
    let mut v = json!({
        "access_token": at,
        "expires_in": ex.expires_in,
        "open_id": ex.user.id,
        "scope": ex.scopes.join(","),
        "token_type": "Bearer",
    });
    if ex.issue_refresh {
        v["refresh_token"] = json!(inner.issue(ex.p, ex.grant, TokenKind::Refresh, true));
        v["refresh_expires_in"] = json!(REFRESH_TOKEN_LIFETIME_SECS);
    }
    v
}

/// TikTok may hand out a new refresh token; the old one stays usable.
fn refresh_tokens(inner: &mut Inner, rn: &Renewal) -> Value {
    let new_rt = inner.issue(rn.p, rn.grant, TokenKind::Refresh, true);
    json!({
        "access_token": rn.access_token,
        "expires_in": rn.expires_in,
        "open_id": rn.open_id,
        "refresh_token": new_rt,
        "refresh_expires_in": REFRESH_TOKEN_LIFETIME_SECS,
        "scope": rn.scopes.join(","),
        "token_type": "Bearer",
    })
}

fn token_refusal(_: &str, _refresh: bool, e: OErr) -> Response {
    use ErrKind::*;
    let error = match e.kind {
        Client => "invalid_client",
        Grant | Redirect | Revoked => "invalid_grant",
        Request => "invalid_request",
        UnsupportedGrantType => "unsupported_grant_type",
    };
    tiktok_oauth_err(StatusCode::BAD_REQUEST, error, &e.msg)
}

fn bad_token(_: &str, _: AuthFail) -> Response {
    tiktok_api_err(
        StatusCode::UNAUTHORIZED,
        "access_token_invalid",
        "The access token is invalid or not found in the request.",
    )
}

fn server_error(status: StatusCode) -> Response {
    tiktok_api_err(
        status,
        "internal_error",
        "Something went wrong. Please try again later.",
    )
}

fn api(inner: &mut Inner, path: &str, r: &RecordedRequest) -> Option<Response> {
    if let Some(resp) = inner.tiktok_publishing(path, r) {
        return Some(resp);
    }
    match (r.method.as_str(), path) {
        ("GET", "/v2/user/info/" | "/v2/user/info") => Some(inner.tiktok_user_info(r)),
        ("POST", "/v2/oauth/revoke/" | "/v2/oauth/revoke") => Some(inner.tiktok_revoke(r)),
        _ => None,
    }
}

use super::publishing::{FakePost, Scripted, fetched_image, json_body, scripted_response};
use super::{Inner, RecordedRequest, json_resp};

const PRIVACY: [&str; 2] = ["FOLLOWER_OF_CREATOR", "SELF_ONLY"];

fn tiktok(status: StatusCode, data: Value, code: &str, message: &str) -> Response {
    json_resp(
        status,
        json!({"data": data, "error": {"code": code, "message": message, "log_id": "202612030000000000FAKE"}}),
    )
}

impl Inner {
    pub(super) fn tiktok_publishing(&mut self, path: &str, r: &RecordedRequest) -> Option<Response> {
        let route = match (r.method.as_str(), path) {
            ("POST", "/v2/post/publish/creator_info/query/") => 0,
            ("POST", "/v2/post/publish/content/init/") => 1,
            ("POST", "/v2/post/publish/status/fetch/") => 2,
            _ => return None,
        };
        let user = match self.check_access("tiktok", r.bearer()) {
            Ok(i) => {
                let g = &self.grants[self.tokens[i].grant];
                if !g.has_scope("video.publish") {
                    return Some(tiktok(
                        StatusCode::UNAUTHORIZED,
                        json!({}),
                        "scope_not_authorized",
                        "The user did not authorize the scope required for completing this request.",
                    ));
                }
                g.user.clone()
            }
            Err(_) => {
                return Some(tiktok(
                    StatusCode::UNAUTHORIZED,
                    json!({}),
                    "access_token_invalid",
                    "The access token is invalid or not found in the request.",
                ));
            }
        };
        if !r
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return Some(tiktok(
                StatusCode::BAD_REQUEST,
                json!({}),
                "invalid_params",
                "Content-Type must be application/json",
            ));
        }
        let body = json_body(r).unwrap_or(Value::Null);
        Some(match route {
            0 => tiktok(
                StatusCode::OK,
                json!({"creator_username": user.username, "creator_nickname": user.name, "creator_avatar_url": "https://example.com/a.png",
                       "privacy_level_options": PRIVACY, "comment_disabled": false, "duet_disabled": false, "stitch_disabled": true,
                       "max_video_post_duration_sec": 600}),
                "ok",
                "",
            ),
            1 => {
                if body["media_type"] != "PHOTO"
                    || body["post_mode"] != "DIRECT_POST"
                    || body["source_info"]["source"] != "PULL_FROM_URL"
                {
                    return Some(tiktok(
                        StatusCode::BAD_REQUEST,
                        json!({}),
                        "invalid_params",
                        "media_type PHOTO, post_mode DIRECT_POST and source PULL_FROM_URL are required",
                    ));
                }
                let privacy = body["post_info"]["privacy_level"].as_str().unwrap_or("");
                if !PRIVACY.contains(&privacy) {
                    return Some(tiktok(
                        StatusCode::BAD_REQUEST,
                        json!({}),
                        "privacy_level_option_mismatch",
                        "privacy_level is not one of the creator's options",
                    ));
                }
                if body["post_info"]["title"]
                    .as_str()
                    .is_some_and(|t| t.chars().count() > 90)
                {
                    return Some(tiktok(
                        StatusCode::BAD_REQUEST,
                        json!({}),
                        "invalid_params",
                        "title exceeds 90 characters",
                    ));
                }
                let images: Vec<String> = body["source_info"]["photo_images"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                if !(1..=35).contains(&images.len()) {
                    return Some(tiktok(
                        StatusCode::BAD_REQUEST,
                        json!({}),
                        "invalid_params",
                        "photo_images needs 1 to 35 URLs",
                    ));
                }
                for u in &images {
                    if let Err(why) = fetched_image(r, u, &["image/jpeg", "image/webp"]) {
                        return Some(tiktok(
                            StatusCode::BAD_REQUEST,
                            json!({}),
                            "invalid_params",
                            &format!("photo_pull_failed: {u} ({why})"),
                        ));
                    }
                }
                if let Some(Scripted::Fail(status, body, headers)) = self.next_script("tiktok") {
                    return Some(scripted_response(status, body, headers));
                }
                let post = format!("73{}", &self.numeric_id()[2..]);
                let publish_id = format!("p_pub_url~v2.{post}");
                self.tiktok_publishes.insert(publish_id.clone(), (post.clone(), 0));
                self.media_of.insert(post.clone(), images);
                self.posts.push(FakePost {
                    platform: "tiktok",
                    id: post,
                    author: user.id.clone(),
                    text: body["post_info"]["description"].as_str().unwrap_or("").to_string(),
                    reply_to: None,
                    deleted: false,
                    created_ms: postproxy::clock::now_ms(),
                });
                tiktok(StatusCode::OK, json!({"publish_id": publish_id}), "ok", "")
            }
            _ => {
                let id = body["publish_id"].as_str().unwrap_or("");
                let Some((post, reads)) = self.tiktok_publishes.get_mut(id) else {
                    return Some(tiktok(
                        StatusCode::BAD_REQUEST,
                        json!({}),
                        "invalid_publish_id",
                        "publish_id does not exist",
                    ));
                };
                *reads += 1;
                let reads = *reads;
                let post = post.clone();
                if reads >= 2 && reads < 2 + self.tiktok_public_id_delay {
                    // Complete, but TikTok has not named the public post yet.
                    return Some(tiktok(
                        StatusCode::OK,
                        json!({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [], "fail_reason": ""}),
                        "ok",
                        "",
                    ));
                }
                if reads == 1 {
                    tiktok(
                        StatusCode::OK,
                        json!({"status": "PROCESSING_DOWNLOAD", "publicaly_available_post_id": [], "fail_reason": ""}),
                        "ok",
                        "",
                    )
                } else {
                    // The id as TikTok sends it: a JSON number beyond 2^53.
                    let n: u64 = post.parse().unwrap_or(0);
                    tiktok(
                        StatusCode::OK,
                        json!({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [n], "fail_reason": ""}),
                        "ok",
                        "",
                    )
                }
            }
        })
    }
}

// --- OAuth and identity ---

pub(super) fn tiktok_oauth_err(status: StatusCode, error: &str, description: &str) -> Response {
    json_resp(
        status,
        json!({ "error": error, "error_description": description, "log_id": random_hex(12) }),
    )
}

pub(super) fn tiktok_api_err(status: StatusCode, code: &str, message: &str) -> Response {
    json_resp(
        status,
        json!({ "data": {}, "error": { "code": code, "message": message, "log_id": random_hex(12) } }),
    )
}

impl Inner {
    pub(super) fn tiktok_user_info(&mut self, r: &RecordedRequest) -> Response {
        let p = "tiktok";
        let i = match self.identity_token(p, r.bearer()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let Some(fields) = r.query_param("fields").filter(|f| !f.is_empty()) else {
            return tiktok_api_err(
                StatusCode::BAD_REQUEST,
                "invalid_params",
                "The field `fields` is required.",
            );
        };
        let user = self.grants[self.tokens[i].grant].user.clone();
        let mut out = serde_json::Map::new();
        for f in fields.split(',').map(str::trim) {
            let v = match f {
                "open_id" => json!(user.id),
                "union_id" => json!(format!("union-{}", user.id)),
                "avatar_url" | "avatar_url_100" | "avatar_large_url" => {
                    json!(self.picture_url(p, &user.id))
                }
                "display_name" => json!(user.name),
                "username" => json!(user.username),
                "bio_description" => json!(""),
                "profile_deep_link" => json!(format!("https://www.tiktok.com/@{}", user.username)),
                "is_verified" => json!(false),
                "follower_count" | "following_count" | "likes_count" | "video_count" => json!(0),
                other => {
                    return tiktok_api_err(
                        StatusCode::BAD_REQUEST,
                        "invalid_params",
                        &format!("Invalid field: {other}"),
                    );
                }
            };
            out.insert(f.to_string(), v);
        }
        ok(json!({
            "data": { "user": Value::Object(out) },
            "error": { "code": "ok", "message": "", "log_id": random_hex(12) },
        }))
    }

    pub(super) fn tiktok_revoke(&mut self, r: &RecordedRequest) -> Response {
        let p = "tiktok";
        match self.revocation_request(p, r, tiktok_oauth_err, "Missing required parameter: token") {
            Ok(token) => {
                self.revoke_grant_of(p, &token);
                StatusCode::OK.into_response()
            }
            Err(refused) => refused,
        }
    }
}
