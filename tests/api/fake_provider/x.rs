//! Fake X API v2 publishing: `POST /2/tweets` and `DELETE /2/tweets/:id`, with X's problem
//! JSON, its duplicate-content refusal, reply checks and rate-limit headers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::publishing::{FakePost, Scripted, json_body, scripted_response};
use super::{Inner, RecordedRequest, auth_error, json_resp, x_api_err};

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
