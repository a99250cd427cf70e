//! Fake LinkedIn Posts API: `POST /rest/posts` (URN in `x-restli-id`, empty 201 body) and
//! `DELETE /rest/posts/{urn}`. Like LinkedIn, it parses `commentary` as "little" text and cuts
//! the post at the first unescaped reserved character, so a client that forgets to escape
//! publishes a truncated post.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::publishing::{FakePost, Scripted, json_body, scripted_response};
use super::{Inner, RecordedRequest, linkedin_api_err};

const RESERVED: &[char] = &[
    '\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~',
];

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
        if let Some(Scripted::Fail(status, body, headers)) = self.next_script(p) {
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
        self.posts.push(FakePost {
            platform: p,
            id: urn.clone(),
            author,
            text,
            reply_to: None,
            deleted: false,
        });
        let mut resp = StatusCode::CREATED.into_response();
        resp.headers_mut().insert("x-restli-id", urn.parse().expect("header"));
        resp
    }
}
