//! Fake TikTok Content Posting API for photo posts: `creator_info/query`, `content/init`
//! (PULL_FROM_URL; the fake fetches every photo, JPEG or WebP only; the privacy level must be
//! one the creator allows) and `status/fetch` (`PROCESSING_DOWNLOAD` once, then
//! `PUBLISH_COMPLETE` with the post id as a JSON int64). Every answer carries TikTok's `error`
//! object, success included.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

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
