//! What every publisher shares: the input it gets, what it answers, how its failures are
//! classified, and the HTTP plumbing that tells "never sent" apart from "outcome unknown".
//!
//! Exactly once: no platform has an idempotency key for publishing, so a publisher calls
//! [`SendGuard::arm`] right before the one request that creates content. From then on a lost
//! answer cannot be retried blindly; before it, everything (uploads, containers) may be redone.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::ProviderConfig;
use crate::domain::platform::Platform;

/// The account a post goes out on, with its credentials opened.
pub struct Account {
    pub platform: Platform,
    /// The client every call to the platform goes through (shared by the process).
    pub http: reqwest::Client,
    pub cfg: ProviderConfig,
    /// The user's access token.
    pub token: String,
    /// The platform's id of the user (X user id, LinkedIn member id, Threads user id…).
    pub user_id: String,
    pub username: Option<String>,
    /// A Facebook Page (with its Page token) or a LinkedIn organisation.
    pub placement: Option<Placement>,
    /// First wait between polls of asynchronous processing (containers); grows from there.
    pub poll: Duration,
    /// Where the post's media is stored (push-based platforms read the bytes from here).
    pub storage: crate::media::Storage,
    /// Publishing quotas read from the platform (Instagram, Threads), shared by the process.
    pub quotas: std::sync::Arc<super::quota::Quotas>,
    /// The guarded client, for hosts the user names (a link card's page, a Bluesky PDS).
    pub outbound: crate::outbound::Outbound,
    /// The account's own API host (a Bluesky PDS), named by its identity rather than the operator.
    pub endpoint: Option<String>,
}

pub struct Placement {
    pub id: String,
    pub token: Option<String>,
    /// Its public handle (a Telegram channel's username), for permalinks.
    pub username: Option<String>,
}

/// One item to publish: the post itself or one part of its thread.
pub struct Item<'a> {
    pub text: &'a str,
    /// The platform's id of the item this one replies to (thread chains).
    pub reply_to: Option<&'a str>,
    /// The post's platform parameters, validated when it was stored and decoded once.
    pub params: &'a crate::domain::post::PlatformParams,
    /// The item's stored media, in order.
    pub media: &'a [MediaFile],
}

/// One stored file of an item.
#[derive(Debug, Clone)]
pub struct MediaFile {
    /// `image` or `video`.
    pub kind: String,
    pub content_type: String,
    pub size: u64,
    /// A signed URL under the server's public URL, for platforms that pull media.
    pub url: String,
    /// The storage key, for platforms the server pushes bytes to.
    pub key: String,
}

impl MediaFile {
    pub fn is_video(&self) -> bool {
        self.kind == "video"
    }
}

/// What the platform answered for a published item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub id: String,
    pub permalink: Option<String>,
    /// Something that went wrong after the post went live (a first comment refused): shown in
    /// the result's `postproxy_note`, with the platform's words.
    pub note: Option<String>,
}

/// What looking on the platform found for an item whose create call has an unknown outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Published),
    /// Not among the account's posts of the attempt's time window.
    Absent,
    /// The platform (or this connection's permissions) offers no way to look; the reason.
    Unavailable(String),
}

/// A lookup the platform refused: worth asking again later when the refusal is passing (a 5xx,
/// a 429, a token to renew), otherwise there is no way to look, and `what` says why.
pub fn lookup_refused(f: Failure, what: &str) -> Result<Lookup, Failure> {
    match f.kind {
        FailureKind::Transient | FailureKind::TokenRejected => Err(f),
        _ => Ok(Lookup::Unavailable(format!("{what}: {}", f.message))),
    }
}

/// Whether a post found on a platform carries the text that was sent: platforms show `&`, `<`,
/// `>` as entities and may rewrite links (X's t.co), so links and spacing are compared loosely.
pub fn same_text(sent: &str, found: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
        s.split_whitespace()
            .map(|w| {
                if w.starts_with("http://") || w.starts_with("https://") {
                    "<link>"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
    norm(sent) == norm(found)
}

/// How a failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Nothing was created; worth another attempt later (network before sending, 429, 5xx
    /// answers to requests that create nothing, platform-declared transient errors).
    Transient,
    /// The access token was refused: refresh once and try again.
    TokenRejected,
    /// The user withdrew the app's access.
    Revoked,
    /// The platform refused the content or the request; retrying will not help.
    Refused,
    /// The content-creating request was sent but its outcome is unknown (a lost answer, a 5xx,
    /// an unreadable answer): it may be live. It is looked up on the platform before anything
    /// is sent again.
    Unknown,
}

/// A classified failure with the platform's own words.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    /// The platform's message (or ours, when the platform said nothing usable).
    pub message: String,
    pub code: Option<String>,
    pub subcode: Option<String>,
    /// When the platform said to come back (`Retry-After`, `x-rate-limit-reset`).
    pub retry_after: Option<Duration>,
    /// What happened and what the user can do, in plain words.
    pub note: Option<String>,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            code: None,
            subcode: None,
            retry_after: None,
            note: None,
        }
    }

    pub fn code(mut self, code: Option<String>) -> Failure {
        self.code = code;
        self
    }

    pub fn subcode(mut self, subcode: Option<String>) -> Failure {
        self.subcode = subcode;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Failure {
        self.note = Some(note.into());
        self
    }

    pub fn retry_after(mut self, after: Option<Duration>) -> Failure {
        self.retry_after = after;
        self
    }

    /// The platform answered something we cannot read: it may have created the post.
    pub fn protocol(platform: Platform, what: &str) -> Failure {
        Failure::new(
            FailureKind::Unknown,
            format!(
                "{} answered in an unexpected format: {what}",
                crate::domain::post::platform_label(platform)
            ),
        )
    }
}

/// Marks the moment past which a request may have created content (see the module docs).
/// `reference` is what the send can later be looked up by (a container id), stored with it.
pub trait SendGuard: Send + Sync {
    fn arm<'a>(&'a self, reference: Option<&'a str>) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;
    /// Records what the platform named the armed send (TikTok's `publish_id`), so that an
    /// outcome left unknown after it can be looked up. Best effort.
    fn remember<'a>(&'a self, reference: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// A platform's answer, read whole (publishing answers are small).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a request. `creates` says whether it may create content: if so, a timeout or a
/// dropped connection after sending is `Unknown`; otherwise it is `Transient`.
pub async fn send(platform: Platform, req: reqwest::RequestBuilder, creates: bool) -> Result<Answer, Failure> {
    let label = crate::domain::post::platform_label(platform);
    let lost = |e: &reqwest::Error| {
        // A refused or failed connection never reached the platform: always safe to retry.
        if e.is_connect() || !creates {
            Failure::new(
                FailureKind::Transient,
                format!("Could not reach {label}: {}", super::redact_reqwest(e)),
            )
        } else {
            Failure::new(
                FailureKind::Unknown,
                format!(
                    "The request to {label} was sent but no answer came back ({})",
                    super::redact_reqwest(e)
                ),
            )
            .note(format!(
                "The answer was lost after the request was sent, so the post may or may not be on {label}. \
                 postproxy looks for it on {label} before deciding whether to send it again."
            ))
        }
    };
    let resp = req.send().await.map_err(|e| lost(&e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.map_err(|e| lost(&e))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, headers, body })
}

/// The one rule for a platform's server-side failure (a 5xx, or an error the platform marks
/// temporary): to the request that creates content it is an unknown outcome, since the post may
/// exist (it is looked up before anything is sent again); to any other request it is transient.
/// `what` names the answer ("a server error", "a temporary error").
pub fn server_failure(p: Platform, failure: Failure, creates: bool, what: &str) -> Failure {
    if !creates {
        return Failure {
            kind: FailureKind::Transient,
            ..failure
        };
    }
    let label = crate::domain::post::platform_label(p);
    Failure {
        kind: FailureKind::Unknown,
        ..failure
    }
    .note(format!(
        "{label} answered with {what} after receiving the post, so it may or may not have been published. \
         postproxy looks for it on {label} before deciding whether to send it again."
    ))
}

/// What an error answer means when the platform's classifier has nothing more specific to say:
/// a 5xx is a server failure (`server_failure`), anything else a refusal in the platform's words.
pub fn by_status(p: Platform, failure: Failure, status: u16, creates: bool) -> Failure {
    if status >= 500 {
        return server_failure(p, failure, creates, "a server error");
    }
    let label = crate::domain::post::platform_label(p);
    Failure {
        kind: FailureKind::Refused,
        ..failure
    }
    .note(format!(
        "{label} refused the request; the message above is {label}'s own."
    ))
}

/// Seconds in a `Retry-After` header (the delta form; dates are rare on these APIs).
pub fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Reads a string or number as a string (ids arrive as either, and some exceed 2^53).
pub fn id_of(v: &Value) -> Option<String> {
    super::str_field(v)
}

/// A short excerpt of a platform message for storage and display.
pub fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= 500 {
        s.to_string()
    } else {
        s.chars().take(500).collect::<String>() + "…"
    }
}

/// A stored file as a request body, streamed from storage (videos are large).
pub async fn file_body(
    platform: Platform,
    storage: &crate::media::Storage,
    file: &MediaFile,
) -> Result<(u64, reqwest::Body), Failure> {
    use futures::TryStreamExt;
    let (size, stream) = storage.get_stream(&file.key).await.map_err(|e| {
        Failure::new(
            FailureKind::Transient,
            format!(
                "The stored file for {} could not be read: {e}",
                crate::domain::post::platform_label(platform)
            ),
        )
    })?;
    Ok((size, reqwest::Body::wrap_stream(stream.map_err(std::io::Error::other))))
}

/// The whole stored file, for platforms the server pushes images to (images are small; videos
/// stream in chunks instead).
pub async fn read_file(
    platform: Platform,
    storage: &crate::media::Storage,
    file: &MediaFile,
) -> Result<bytes::Bytes, Failure> {
    storage.get_range(&file.key, 0..file.size).await.map_err(|e| {
        Failure::new(
            FailureKind::Transient,
            format!(
                "The stored file for {} could not be read: {e}",
                crate::domain::post::platform_label(platform)
            ),
        )
    })
}
