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
