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
    /// When the platform created it (epoch ms), for time-window searches.
    pub created_ms: i64,
}

/// What the next content-creating request of a platform gets instead of normal handling.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// Answer this status and JSON body (and headers) without creating anything.
    Fail(u16, Value, Vec<(&'static str, String)>),
    /// Create the post, then hold the answer for this long (longer than the client waits:
    /// "request applied, response lost").
    ApplyThenStall(Duration),
    /// Create the post, then answer this status and body anyway (a 5xx after applying).
    ApplyThenFail(u16, Value),
}

impl Inner {
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

/// A tiny but well-formed JPEG (SOI, JFIF APP0, EOI), served at `{base}/<platform>/files/photo.jpg`.
pub const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00, 0xFF, 0xD9,
];

/// What fetching a media URL gave: (status, Content-Type, first bytes), or why it failed.
pub type Fetched = Result<(u16, String, Vec<u8>), String>;

/// Fetches the media URLs a request names, as Meta's crawler does.
pub(super) async fn fetch_media_urls(r: &RecordedRequest) -> Vec<(String, Fetched)> {
    let mut urls: Vec<String> = Vec::new();
    let json = json_body(r);
    for k in ["url", "image_url"] {
        let v = r
            .form_param(k)
            .or_else(|| r.query_param(k))
            .map(str::to_string)
            .or_else(|| json.as_ref().and_then(|j| j[k].as_str().map(str::to_string)));
        if let Some(u) = v.filter(|u| u.starts_with("http")) {
            urls.push(u);
        }
    }
    // TikTok photo posts name their images in a list.
    for u in json
        .as_ref()
        .and_then(|j| j["source_info"]["photo_images"].as_array())
        .into_iter()
        .flatten()
    {
        if let Some(u) = u.as_str() {
            urls.push(u.to_string());
        }
    }
    let mut out = Vec::new();
    for u in urls {
        let got = async {
            let resp = reqwest::Client::new()
                .get(&u)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
            Ok((status, ct, bytes.iter().take(16).copied().collect()))
        }
        .await;
        out.push((u, got));
    }
    out
}

/// Whether the fetched URL gave an image of one of `types` (by its bytes and Content-Type).
pub(super) fn fetched_image(r: &RecordedRequest, url: &str, types: &[&str]) -> Result<(), String> {
    let (_, got) = r.fetched.iter().find(|(u, _)| u == url).ok_or("not fetched")?;
    let (status, ct, head) = got.as_ref().map_err(|e| format!("could not fetch: {e}"))?;
    if *status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let sniffed = if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if head.starts_with(&[0x89, b'P', b'N', b'G']) {
        "image/png"
    } else {
        "unknown"
    };
    if !types.contains(&sniffed) || ct != sniffed {
        return Err(format!(
            "not an accepted image (bytes say {sniffed}, Content-Type {ct})"
        ));
    }
    Ok(())
}

/// Splits a multipart body (an empty list for anything else).
pub async fn multipart_parts(
    content_type: Option<&str>,
    body: axum::body::Bytes,
) -> Vec<(String, Option<String>, Vec<u8>)> {
    let Some(boundary) = content_type.and_then(|ct| multer::parse_boundary(ct).ok()) else {
        return Vec::new();
    };
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut out = Vec::new();
    while let Ok(Some(field)) = mp.next_field().await {
        let name = field.name().unwrap_or("").to_string();
        let ct = field.content_type().map(|m| m.to_string());
        let data = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        out.push((name, ct, data));
    }
    out
}

/// The magic-number type of an image, as the platforms check uploads.
pub fn sniff_image(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.starts_with(&[0x89, b'P', b'N', b'G']) {
        Some("image/png")
    } else if data.starts_with(b"GIF8") {
        Some("image/gif")
    } else if data.len() > 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}
