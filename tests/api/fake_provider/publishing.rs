//! What the platforms' publishing fakes share: the posts they hold, scripted failures, and
//! the hook into the fake's router. Each platform's endpoints live in its own module.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{Inner, RecordedRequest};

/// A post as a fake platform holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePost {
    pub platform: &'static str,
    pub id: String,
    /// The author as the platform names it (X user id, LinkedIn URN, Page id, Threads user id).
    pub author: String,
    /// The text as the platform would show it (LinkedIn: after its little-text parsing).
    pub text: String,
    pub reply_to: Option<String>,
    pub deleted: bool,
}

/// What the next content-creating request of a platform gets instead of normal handling.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// Answer this status and JSON body (and headers) without creating anything.
    Fail(u16, Value, Vec<(&'static str, String)>),
    /// Create the post, then hold the answer for this long (longer than the client waits:
    /// "request applied, response lost").
    ApplyThenStall(Duration),
}

impl Inner {
    /// Publishing endpoints of every platform; None when the request is none of them.
    pub(super) fn publishing(&mut self, p: &'static str, path: &str, r: &RecordedRequest) -> Option<Response> {
        match p {
            "twitter" => self.x_publishing(path, r),
            "linkedin" => self.linkedin_publishing(path, r),
            "facebook" => self.facebook_publishing(path, r),
            "threads" => self.threads_publishing(path, r),
            _ => None,
        }
    }

    /// Takes the next scripted behaviour of the platform, if any.
    pub(super) fn next_script(&mut self, p: &str) -> Option<Scripted> {
        self.st_mut(p).publish_script.pop_front()
    }

    /// Numeric ids like the platforms' (19 digits, strings).
    pub(super) fn numeric_id(&mut self) -> String {
        self.seq += 1;
        format!("18{:017}", 4_000_000_000_000u64 + self.seq)
    }

    pub(super) fn live_posts(&self, p: &str) -> impl Iterator<Item = &FakePost> {
        self.posts.iter().filter(move |x| x.platform == p && !x.deleted)
    }
}

pub(super) fn scripted_response(status: u16, body: Value, headers: Vec<(&'static str, String)>) -> Response {
    let mut resp = super::json_resp(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    );
    for (k, v) in headers {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// JSON body of a request, or None.
pub(super) fn json_body(r: &RecordedRequest) -> Option<Value> {
    serde_json::from_str(&r.body).ok()
}
