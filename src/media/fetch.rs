//! Downloading media from user-supplied URLs without letting those URLs reach inside our network
//! (SSRF), and the shared sniff + hash + size-limit + store pipeline that uploads use as well.
//!
//! The address policy is enforced where connections are made: reqwest connects only to the
//! addresses our resolver returns, and the resolver drops non-public ones, so a name cannot
//! pass a check and then resolve elsewhere (no time-of-check/time-of-use gap). IP literals never
//! reach a resolver, so the initial URL and every redirect hop are checked for them explicitly.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{Stream, StreamExt};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

use super::sniff::{ACCEPTED_FORMATS, MediaKind, SNIFF_LEN, sniff};
use super::storage::{ObjectWriter, Storage, StorageError};
use crate::outbound::{self, Refusal, check_url, shown_url};

/// Our refusal of a URL or hop, as the error the user sees.
fn refused(r: Refusal, url: &str) -> FetchError {
    let url = url.to_string();
    match r {
        Refusal::Scheme(scheme) => FetchError::UnsupportedScheme { url, scheme },
        Refusal::NoHost => FetchError::InvalidUrl,
        Refusal::Private { addr, via } => FetchError::PrivateAddress {
            url,
            addr: addr.to_string(),
            via: via.map(|v| format!(", via {v}")).unwrap_or_default(),
        },
        Refusal::TooManyRedirects { max } => FetchError::TooManyRedirects { url, max },
        Refusal::Unresolvable { host, temporary } => FetchError::Dns { host, temporary },
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Why media could not be fetched or stored; every message can be shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("The media URL is not a valid http or https URL")]
    InvalidUrl,
    #[error("The media URL {url} uses {scheme}:, but only http and https URLs are fetched")]
    UnsupportedScheme { url: String, scheme: String },
    #[error("The media URL {url} points to a private address ({addr}{via}), which this server does not fetch from")]
    PrivateAddress { url: String, addr: String, via: String },
    #[error("{}", if *.temporary { format!("The host {host} of the media URL could not be resolved right now") } else { format!("The host {host} of the media URL does not exist (no DNS address)") })]
    Dns { host: String, temporary: bool },
    #[error("Could not connect to {host} to fetch the media URL")]
    Connect { host: String },
    #[error("Too many redirects (more than {max}) fetching the media URL {url}")]
    TooManyRedirects { url: String, max: usize },
    #[error("The media URL {url} redirected to a location that could not be followed")]
    BadRedirect { url: String },
    #[error("The media URL {url} answered {status}")]
    Status { url: String, status: StatusCode },
    #[error("The download timed out after {}", fmt_duration(*.after))]
    Timeout { after: Duration },
    #[error("The connection to {host} broke off before the file was complete")]
    Network { host: String },
    #[error("The upload broke off before the file was complete")]
    UploadRead(String),
    #[error("{what} is empty")]
    Empty { what: String },
    #[error("{what} is not an image or video this server accepts ({})", ACCEPTED_FORMATS)]
    UnsupportedType { what: String },
    #[error("The {what} is larger than the {} limit", fmt_size(*.limit_bytes))]
    TooLarge {
        /// "image", "video", or "file" when the type is not yet known.
        what: &'static str,
        limit_bytes: u64,
    },
    #[error("The media could not be stored; try again later")]
    Storage(#[source] StorageError),
}

impl FetchError {
    /// A stable, machine-readable name for the failure, for records and logs (which must not
    /// carry the URL itself).
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl => "invalid_url",
            FetchError::UnsupportedScheme { .. } => "unsupported_scheme",
            FetchError::PrivateAddress { .. } => "private_address",
            FetchError::Dns { .. } => "dns",
            FetchError::Connect { .. } => "connect",
            FetchError::TooManyRedirects { .. } => "too_many_redirects",
            FetchError::BadRedirect { .. } => "bad_redirect",
            FetchError::Status { .. } => "status",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Network { .. } => "network",
            FetchError::UploadRead(_) => "upload_read",
            FetchError::Empty { .. } => "empty",
            FetchError::UnsupportedType { .. } => "unsupported_type",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Storage(_) => "storage",
        }
    }

    /// Whether trying again later may succeed: network trouble, timeouts, a busy or failing
    /// server (5xx, 429, 408), our own storage. Policy, type, size and other 4xx answers will
    /// fail the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Dns { temporary, .. } => *temporary,
            FetchError::Connect { .. }
            | FetchError::Timeout { .. }
            | FetchError::Network { .. }
            | FetchError::Storage(_) => true,
            FetchError::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
            }
            FetchError::InvalidUrl
            | FetchError::UnsupportedScheme { .. }
            | FetchError::PrivateAddress { .. }
            | FetchError::TooManyRedirects { .. }
            | FetchError::BadRedirect { .. }
            | FetchError::UploadRead(_)
            | FetchError::Empty { .. }
            | FetchError::UnsupportedType { .. }
            | FetchError::TooLarge { .. } => false,
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Sizes in the binary units people mean by "MB" for file sizes, whole where exact.
fn fmt_size(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = 1024 * 1024;
    const GB: u64 = 1024 * 1024 * 1024;
    let unit = |n: u64, u: u64, name: &str| {
        if n.is_multiple_of(u) {
            format!("{} {name}", n / u)
        } else {
            format!("{:.1} {name}", n as f64 / u as f64)
        }
    };
    match bytes {
        b if b >= GB => unit(b, GB, "GB"),
        b if b >= MB => unit(b, MB, "MB"),
        b if b >= KB => unit(b, KB, "KB"),
        b => format!("{b} bytes"),
    }
}

// ---------------------------------------------------------------------------------------------
// The ingest pipeline

/// Size limits per kind, applied while the bytes stream in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_image_bytes: u64,
    pub max_video_bytes: u64,
}

impl Limits {
    pub fn for_kind(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Image => self.max_image_bytes,
            MediaKind::Video => self.max_video_bytes,
        }
    }
}

/// What was stored under the caller's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub content_type: String,
    pub kind: MediaKind,
    pub size_bytes: u64,
    pub sha256_hex: String,
}

/// Stores a file arriving as a byte stream (e.g. a multipart upload's file part) under `key`:
/// the type is sniffed from the first bytes, the size limit for that type enforced as bytes
/// arrive, and the content hashed on the way through. On any error nothing is left under `key`.
pub async fn ingest<S>(storage: &Storage, key: &str, limits: &Limits, stream: S) -> Result<Downloaded, FetchError>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    let stream = stream.map(|chunk| chunk.map_err(|e| FetchError::UploadRead(e.to_string())));
    ingest_inner(storage, key, limits, stream, "The uploaded file", None, None).await
}

/// The writer, held outside the pipeline's future so it can still be aborted after a timeout
/// drops that future.
#[derive(Default)]
struct Pending {
    writer: Option<ObjectWriter>,
    began: bool,
}

async fn ingest_inner<S>(
    storage: &Storage,
    key: &str,
    limits: &Limits,
    mut stream: S,
    what: &str,
    declared_len: Option<u64>,
    deadline: Option<(Instant, Duration)>,
) -> Result<Downloaded, FetchError>
where
    S: Stream<Item = Result<Bytes, FetchError>> + Unpin,
{
    let mut pending = Pending::default();
    let work = pump(storage, key, limits, &mut stream, what, declared_len, &mut pending);
    let result = match deadline {
        Some((at, after)) => tokio::time::timeout_at(at, work)
            .await
            .unwrap_or(Err(FetchError::Timeout { after })),
        None => work.await,
    };
    if result.is_err() && pending.began {
        if let Some(writer) = pending.writer.take()
            && let Err(e) = writer.abort().await
        {
            tracing::warn!(key, error = %e, "could not abort a partial media upload");
        }
        if let Err(e) = storage.delete(key).await {
            tracing::warn!(key, error = %e, "could not remove a partial media object");
        }
    }
    result
}

async fn pump<S>(
    storage: &Storage,
    key: &str,
    limits: &Limits,
    stream: &mut S,
    what: &str,
    declared_len: Option<u64>,
    pending: &mut Pending,
) -> Result<Downloaded, FetchError>
where
    S: Stream<Item = Result<Bytes, FetchError>> + Unpin,
{
    // Fused: a body shorter than the sniffing window has ended before the copy loop asks again.
    let mut stream = stream.fuse();
    // Hold back only the first chunks, until there is enough to sniff; nothing is written for
    // a file of the wrong type.
    let mut head: Vec<Bytes> = Vec::new();
    let mut head_len = 0usize;
    while head_len < SNIFF_LEN {
        match stream.next().await {
            Some(Ok(chunk)) if chunk.is_empty() => {}
            Some(Ok(chunk)) => {
                head_len += chunk.len();
                head.push(chunk);
            }
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    if head_len == 0 {
        return Err(FetchError::Empty { what: what.to_string() });
    }
    let mut first = Vec::with_capacity(SNIFF_LEN);
    for chunk in &head {
        let room = SNIFF_LEN - first.len();
        first.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    let Some((content_type, kind)) = sniff(&first) else {
        return Err(FetchError::UnsupportedType { what: what.to_string() });
    };
    let limit = limits.for_kind(kind);
    let too_large = || FetchError::TooLarge {
        what: kind.as_str(),
        limit_bytes: limit,
    };
    if declared_len.is_some_and(|n| n > limit) || head_len as u64 > limit {
        return Err(too_large());
    }

    pending.began = true;
    let writer = pending.writer.insert(
        storage
            .writer(key, Some(content_type))
            .await
            .map_err(FetchError::Storage)?,
    );
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut head = head.into_iter();
    loop {
        let chunk = match head.next() {
            Some(chunk) => chunk,
            None => match stream.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => return Err(e),
                None => break,
            },
        };
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large());
        }
        hasher.update(&chunk);
        writer.put(chunk).await.map_err(FetchError::Storage)?;
    }
    if let Some(writer) = pending.writer.take() {
        writer.finish().await.map_err(FetchError::Storage)?;
    }
    let digest = hasher.finalize();
    let mut sha256_hex = String::with_capacity(64);
    for b in digest.iter() {
        sha256_hex.push_str(&format!("{b:02x}"));
    }
    Ok(Downloaded {
        content_type: content_type.to_string(),
        kind,
        size_bytes: size,
        sha256_hex,
    })
}

// ---------------------------------------------------------------------------------------------
// The fetcher

#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Lets URLs reach loopback and private networks: for tests and trusted deployments only.
    pub allow_private: bool,
    /// Limit on the whole download, from connecting to the last byte stored.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_redirects: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            allow_private: false,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 5,
        }
    }
}

/// Downloads media from user-supplied URLs under the address policy; build once and share.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Result<Self, reqwest::Error> {
        Self::build(config, &[])
    }

    /// The same guarded client and policy, for other calls to hosts users name.
    pub fn outbound(&self) -> outbound::Outbound {
        outbound::Outbound::new(self.client.clone(), self.config.allow_private)
    }

    /// `pins` fix names to addresses ahead of the resolver; tests use one to stand in for a
    /// public host, since none can be reached from a test.
    fn build(config: FetchConfig, pins: &[(&str, SocketAddr)]) -> Result<Self, reqwest::Error> {
        let policy = outbound::Policy {
            allow_private: config.allow_private,
            max_redirects: config.max_redirects,
            connect_timeout: config.connect_timeout,
            user_agent: concat!("postproxy/", env!("CARGO_PKG_VERSION"), " (media)"),
        };
        Ok(Fetcher {
            client: outbound::guarded_client(&policy, pins)?,
            config,
        })
    }

    /// Downloads `url` into `storage` under `key`, streaming: sniffed, size-limited and hashed on
    /// the way. On any error nothing is left under `key`.
    pub async fn download(
        &self,
        url: &str,
        limits: &Limits,
        storage: &Storage,
        key: &str,
    ) -> Result<Downloaded, FetchError> {
        let parsed = Url::parse(url.trim()).map_err(|_| FetchError::InvalidUrl)?;
        let shown = shown_url(&parsed);
        check_url(&parsed, self.config.allow_private).map_err(|r| refused(r, &shown))?;
        let host = parsed.host_str().unwrap_or_default().to_string();
        let after = self.config.timeout;
        let deadline = Instant::now() + after;
        tracing::debug!(host = %host, "fetching media");

        let response = tokio::time::timeout_at(deadline, self.client.get(parsed).send())
            .await
            .map_err(|_| FetchError::Timeout { after })?
            .map_err(|e| map_reqwest(&e, &shown, &host, after))?;
        let status = response.status();
        if !status.is_success() {
            tracing::debug!(host = %host, %status, "media URL refused");
            return Err(FetchError::Status { url: shown, status });
        }
        let declared_len = response.content_length();
        if let Some(len) = declared_len {
            check_declared_len(len, response.headers(), limits)?;
        }

        let (shown_for_body, host_for_body) = (shown.clone(), host.clone());
        let body = futures::stream::unfold(Some(response), move |response| {
            let (shown, host) = (shown_for_body.clone(), host_for_body.clone());
            async move {
                let mut response = response?;
                match response.chunk().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
                    Ok(None) => None,
                    // Stop after the first error: the caller aborts on it anyway.
                    Err(e) => Some((Err(map_reqwest(&e, &shown, &host, after)), None)),
                }
            }
        })
        .boxed();
        let what = format!("The file at {shown}");
        let result = ingest_inner(storage, key, limits, body, &what, declared_len, Some((deadline, after))).await;
        match &result {
            Ok(d) => tracing::debug!(host = %host, size = d.size_bytes, kind = d.kind.as_str(), "media stored"),
            // The message names the URL's path; the log keeps to the host.
            Err(e) => tracing::debug!(host = %host, error = e.code(), "media download failed"),
        }
        result
    }
}

/// Refuses, before any body is read, a declared length that no accepted kind could hold; the
/// sniffed type applies its own limit right after the first bytes. The Content-Type header only
/// picks which limit the message names.
fn check_declared_len(len: u64, headers: &reqwest::header::HeaderMap, limits: &Limits) -> Result<(), FetchError> {
    let ceiling = limits.max_image_bytes.max(limits.max_video_bytes);
    if len <= ceiling {
        return Ok(());
    }
    let declared_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (what, limit_bytes) = if declared_type.starts_with("image/") {
        ("image", limits.max_image_bytes)
    } else if declared_type.starts_with("video/") {
        ("video", limits.max_video_bytes)
    } else {
        ("file", ceiling)
    };
    Err(FetchError::TooLarge { what, limit_bytes })
}

/// Turns reqwest's error into ours, finding our own refusal in its source chain if it is there.
fn map_reqwest(e: &reqwest::Error, shown: &str, host: &str, after: Duration) -> FetchError {
    if let Some(refusal) = outbound::refusal_of(e) {
        return refused(refusal, shown);
    }
    let host = host.to_string();
    if e.is_timeout() {
        FetchError::Timeout { after }
    } else if e.is_redirect() {
        FetchError::BadRedirect { url: shown.to_string() }
    } else if e.is_connect() {
        FetchError::Connect { host }
    } else {
        FetchError::Network { host }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::storage::new_key;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::{Path as UrlPath, Query};
    use axum::http::header;
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    use std::collections::HashMap;

    const LIMITS: Limits = Limits {
        max_image_bytes: 10_000,
        max_video_bytes: 40_000,
    };

    /// A file of `len` bytes that sniffs as PNG, with varied content so hashes mean something.
    fn png(len: usize) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
        v.extend((0..len.saturating_sub(v.len())).map(|i| (i % 251) as u8));
        v.truncate(len);
        v
    }

    fn mp4(len: usize) -> Vec<u8> {
        let mut v = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41\0\0\0\x08free".to_vec();
        v.extend((0..len.saturating_sub(v.len())).map(|i| (i % 249) as u8));
        v.truncate(len);
        v
    }

    fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn chunks(data: Vec<u8>, size: usize) -> Vec<Result<Bytes, std::io::Error>> {
        data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect()
    }

    async fn serve() -> SocketAddr {
        let app = Router::new()
            .route(
                "/png",
                get(|| async { ([(header::CONTENT_TYPE, "image/png")], png(5_000)) }),
            )
            .route("/video", get(|| async { mp4(30_000) }))
            .route(
                // The first bytes a byte at a time: sniffing must wait for enough of them.
                "/trickle",
                get(|| async {
                    let data = png(3_000);
                    let mut parts = chunks(data[..80].to_vec(), 1);
                    parts.extend(chunks(data[80..].to_vec(), 1_000));
                    Body::from_stream(futures::stream::iter(parts))
                }),
            )
            .route(
                // No Content-Length: the limit must hold while streaming.
                "/stream-big",
                get(|| async { Body::from_stream(futures::stream::iter(chunks(png(25_000), 1_000))) }),
            )
            .route(
                "/declared-huge",
                get(|| async { ([(header::CONTENT_TYPE, "image/png")], png(50_000)) }),
            )
            .route("/declared-big", get(|| async { png(15_000) }))
            .route("/html", get(|| async { "<!doctype html><html><body>hi</body></html>" }))
            .route("/empty", get(|| async { "" }))
            .route(
                "/status/{code}",
                get(|UrlPath(code): UrlPath<u16>| async move {
                    StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
                }),
            )
            .route("/redirect", get(|| async { Redirect::temporary("/png") }))
            .route("/loop", get(|| async { Redirect::temporary("/loop") }))
            .route(
                "/chain/{n}",
                get(|UrlPath(n): UrlPath<u32>| async move {
                    if n == 0 {
                        png(2_000).into_response()
                    } else {
                        Redirect::temporary(&format!("/chain/{}", n - 1)).into_response()
                    }
                }),
            )
            .route(
                "/go",
                get(|Query(q): Query<HashMap<String, String>>| async move {
                    Redirect::temporary(q.get("to").map_or("/png", String::as_str)).into_response()
                }),
            )
            .route(
                // The head, then nothing: only the whole-download timeout ends it.
                "/stall",
                get(|| async {
                    let head = futures::stream::iter(chunks(png(500), 500));
                    Body::from_stream(head.chain(futures::stream::pending()))
                }),
            )
            .route(
                "/slow-headers",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    png(100)
                }),
            )
            .route(
                // The server drops the connection mid-body.
                "/broken",
                get(|| async {
                    let mut parts = chunks(png(3_000), 1_000);
                    parts.push(Err(std::io::Error::other("gone")));
                    Body::from_stream(futures::stream::iter(parts))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn local() -> FetchConfig {
        FetchConfig {
            allow_private: true,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            max_redirects: 5,
        }
    }

    fn storage() -> (tempfile::TempDir, Storage) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(tmp.path().to_str().expect("utf-8")).expect("open");
        (tmp, s)
    }

    /// Every file under `dir`: proves a failed download left nothing, not even staging files.
    fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
                let p = entry.path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    async fn read(storage: &Storage, key: &str) -> Vec<u8> {
        let (_, mut stream) = storage.get_stream(key).await.expect("stored");
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        out
    }

    #[test]
    fn messages_and_transience() {
        let e = |u: &str| {
            let url = Url::parse(u).expect(u);
            refused(check_url(&url, false).expect_err(u), &shown_url(&url))
        };
        assert_eq!(
            e("https://127.0.0.1/a.png?token=secret").to_string(),
            "The media URL https://127.0.0.1/a.png points to a private address (127.0.0.1), \
             which this server does not fetch from"
        );
        assert_eq!(
            FetchError::Status {
                url: "https://x.example/a".into(),
                status: StatusCode::NOT_FOUND
            }
            .to_string(),
            "The media URL https://x.example/a answered 404 Not Found"
        );
        let large = FetchError::TooLarge {
            what: "image",
            limit_bytes: 8 * 1024 * 1024,
        };
        assert_eq!(large.to_string(), "The image is larger than the 8 MB limit");
        let timeout = FetchError::Timeout {
            after: Duration::from_secs(60),
        };
        assert_eq!(timeout.to_string(), "The download timed out after 60 s");
        assert_eq!(
            FetchError::UnsupportedType {
                what: "The file at https://x.example/a".into()
            }
            .to_string(),
            "The file at https://x.example/a is not an image or video this server accepts \
             (PNG, JPEG, GIF, WebP, HEIC, MP4, MOV, WebM)"
        );
        assert_eq!(fmt_size(10_000), "9.8 KB");
        assert_eq!(fmt_size(500), "500 bytes");
        assert_eq!(fmt_size(1024 * 1024 * 1024), "1 GB");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1500 ms");
        assert_eq!(
            shown_url(&Url::parse("https://u:p@h.example:8443/p/a.png?sig=s#f").expect("url")),
            "https://h.example:8443/p/a.png"
        );

        assert!(timeout.is_transient());
        assert!(!large.is_transient());
        assert!(!e("http://10.0.0.1/").is_transient());
        for (code, transient) in [
            (500, true),
            (503, true),
            (429, true),
            (408, true),
            (404, false),
            (403, false),
            (410, false),
        ] {
            let err = FetchError::Status {
                url: String::new(),
                status: StatusCode::from_u16(code).expect("code"),
            };
            assert_eq!(err.is_transient(), transient, "{code}");
        }
        assert!(FetchError::Connect { host: "h".into() }.is_transient());
        assert!(FetchError::Network { host: "h".into() }.is_transient());
        assert!(
            !FetchError::TooManyRedirects {
                url: String::new(),
                max: 5
            }
            .is_transient()
        );
        assert!(!FetchError::UploadRead(String::new()).is_transient());
        assert_eq!(large.code(), "too_large");
        assert_eq!(timeout.code(), "timeout");
    }

    #[tokio::test]
    async fn downloads_stream_into_storage_with_type_size_and_hash() {
        let addr = serve().await;
        let fetcher = Fetcher::new(local()).expect("fetcher");
        let (tmp, storage) = storage();
        let cases = [
            ("/png", png(5_000), "image/png", MediaKind::Image),
            ("/video", mp4(30_000), "video/mp4", MediaKind::Video),
            ("/trickle", png(3_000), "image/png", MediaKind::Image),
            ("/redirect", png(5_000), "image/png", MediaKind::Image),
            ("/chain/5", png(2_000), "image/png", MediaKind::Image),
        ];
        let count = cases.len();
        for (path, expected, content_type, kind) in cases {
            let key = new_key();
            let got = fetcher
                .download(&format!("http://{addr}{path}"), &LIMITS, &storage, &key)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                got,
                Downloaded {
                    content_type: content_type.into(),
                    kind,
                    size_bytes: expected.len() as u64,
                    sha256_hex: sha256_hex(&expected),
                },
                "{path}"
            );
            assert!(read(&storage, &key).await == expected, "{path}: stored bytes");
        }
        assert_eq!(files(tmp.path()).len(), count);
    }

    #[tokio::test]
    async fn failed_downloads_leave_nothing_and_say_why() {
        let addr = serve().await;
        let fetcher = Fetcher::new(FetchConfig {
            timeout: Duration::from_millis(700),
            ..local()
        })
        .expect("fetcher");
        let (tmp, storage) = storage();
        let fail = |path: &'static str| {
            let (fetcher, storage) = (&fetcher, &storage);
            async move {
                let key = new_key();
                let err = fetcher
                    .download(&format!("http://{addr}{path}"), &LIMITS, storage, &key)
                    .await
                    .expect_err(path);
                assert_eq!(storage.size(&key).await.expect("size"), None, "{path}");
                err
            }
        };

        let e = fail("/status/404").await;
        assert!(matches!(
            e,
            FetchError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            format!("The media URL http://{addr}/status/404 answered 404 Not Found")
        );
        assert!(!e.is_transient());
        let e = fail("/status/503").await;
        assert!(
            e.is_transient() && e.to_string().ends_with("503 Service Unavailable"),
            "{e}"
        );
        assert!(fail("/status/429").await.is_transient());

        let e = fail("/html").await;
        assert!(matches!(e, FetchError::UnsupportedType { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("The file at http://{addr}/html is not an image"))
        );
        assert!(matches!(fail("/empty").await, FetchError::Empty { .. }));

        let e = fail("/stream-big").await;
        assert!(
            matches!(
                e,
                FetchError::TooLarge {
                    what: "image",
                    limit_bytes: 10_000
                }
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "The image is larger than the 9.8 KB limit");
        let e = fail("/declared-huge").await;
        assert!(matches!(e, FetchError::TooLarge { what: "image", .. }), "{e}");
        let e = fail("/declared-big").await;
        assert!(matches!(e, FetchError::TooLarge { what: "image", .. }), "{e}");

        let e = fail("/loop").await;
        assert!(matches!(e, FetchError::TooManyRedirects { max: 5, .. }), "{e}");
        assert!(fail("/chain/6").await.to_string().starts_with("Too many redirects"));
        let e = fail("/go?to=ftp://example.com/a.png").await;
        assert!(matches!(e, FetchError::UnsupportedScheme { .. }), "{e}");

        let started = std::time::Instant::now();
        let e = fail("/stall").await;
        assert!(matches!(e, FetchError::Timeout { .. }), "{e}");
        assert_eq!(e.to_string(), "The download timed out after 700 ms");
        assert!(e.is_transient());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(fail("/slow-headers").await, FetchError::Timeout { .. }));

        let e = fail("/broken").await;
        assert!(matches!(e, FetchError::Network { .. }), "{e}");
        assert!(e.is_transient());

        // Nothing at all was left behind, staging files included.
        assert!(files(tmp.path()).is_empty(), "{:?}", files(tmp.path()));

        // A video limit applies to videos: 30 000 bytes is over a 20 000 video limit.
        let key = new_key();
        let tight = Limits {
            max_image_bytes: 100_000,
            max_video_bytes: 20_000,
        };
        let e = fetcher
            .download(&format!("http://{addr}/video"), &tight, &storage, &key)
            .await
            .expect_err("too large");
        assert!(
            matches!(
                e,
                FetchError::TooLarge {
                    what: "video",
                    limit_bytes: 20_000
                }
            ),
            "{e}"
        );

        // Nothing is listening on the port any more once the listener is gone.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let e = fetcher
            .download(&format!("http://{closed}/png"), &LIMITS, &storage, &new_key())
            .await
            .expect_err("refused connection");
        assert!(matches!(e, FetchError::Connect { .. }) && e.is_transient(), "{e}");
    }

    #[tokio::test]
    async fn private_addresses_are_refused_before_connecting() {
        let addr = serve().await;
        let port = addr.port();
        let fetcher = Fetcher::new(FetchConfig::default()).expect("fetcher");
        let (tmp, storage) = storage();
        for url in [
            format!("http://127.0.0.1:{port}/png"),
            format!("http://localhost:{port}/png"),
            format!("http://LOCALHOST:{port}/png"),
            format!("http://[::1]:{port}/png"),
            format!("http://0.0.0.0:{port}/png"),
            format!("http://[::ffff:127.0.0.1]:{port}/png"),
            format!("http://2130706433:{port}/png"),
            format!("http://0x7f.1:{port}/png"),
            "http://10.0.0.1/a.png".into(),
            "http://169.254.169.254/latest/meta-data/".into(),
            "http://100.64.0.1/".into(),
            "http://192.168.1.1/".into(),
            "http://[fd00::1]/".into(),
            "http://[fe80::1]/".into(),
            "http://[64:ff9b::a9fe:a9fe]/".into(),
        ] {
            let started = std::time::Instant::now();
            let e = fetcher
                .download(&url, &LIMITS, &storage, &new_key())
                .await
                .expect_err(&url);
            assert!(matches!(e, FetchError::PrivateAddress { .. }), "{url}: {e}");
            assert!(e.to_string().contains("which this server does not fetch from"), "{e}");
            assert!(!e.is_transient(), "{url}");
            // Refused up front: an unroutable 10.x would otherwise wait out the connect timeout.
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{url} took {:?}",
                started.elapsed()
            );
        }
        for (url, want) in [
            ("ftp://example.com/a.png", "UnsupportedScheme"),
            ("file:///etc/passwd", "UnsupportedScheme"),
            ("not a url", "InvalidUrl"),
            ("http://", "InvalidUrl"),
            ("", "InvalidUrl"),
        ] {
            let e = fetcher
                .download(url, &LIMITS, &storage, &new_key())
                .await
                .expect_err(url);
            assert!(format!("{e:?}").starts_with(want), "{url}: {e:?}");
            assert!(!e.is_transient());
        }
        assert!(files(tmp.path()).is_empty());
    }

    /// The redirect check, end to end: `media.test` is pinned to the test server so it stands in
    /// for a public host; everything else goes through the real policy and resolver.
    #[tokio::test]
    async fn redirects_to_private_addresses_are_refused() {
        let addr = serve().await;
        let port = addr.port();
        let fetcher = Fetcher::build(FetchConfig::default(), &[("media.test", addr)]).expect("fetcher");
        let (tmp, storage) = storage();
        let base = format!("http://media.test:{port}");

        let got = fetcher
            .download(&format!("{base}/redirect"), &LIMITS, &storage, &new_key())
            .await
            .expect("a public host redirecting to itself is fine");
        assert_eq!(got.size_bytes, 5_000);

        for target in [
            format!("http://127.0.0.1:{port}/png"),
            format!("http://localhost:{port}/png"),
            format!("http://[::ffff:7f00:1]:{port}/png"),
            format!("http://[::1]:{port}/png"),
            "http://169.254.169.254/latest/meta-data/".into(),
            "http://10.0.0.1/".into(),
        ] {
            let to: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
            let key = new_key();
            let e = fetcher
                .download(&format!("{base}/go?to={to}"), &LIMITS, &storage, &key)
                .await
                .expect_err(&target);
            assert!(matches!(e, FetchError::PrivateAddress { .. }), "{target}: {e}");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("The media URL {base}/go points to a private address (")),
                "{msg}"
            );
            assert!(!msg.contains("to="), "no query strings in messages: {msg}");
            assert!(!e.is_transient());
        }
        let e = fetcher
            .download(&format!("{base}/loop"), &LIMITS, &storage, &new_key())
            .await
            .expect_err("loop");
        assert!(matches!(e, FetchError::TooManyRedirects { .. }), "{e}");
        assert_eq!(files(tmp.path()).len(), 1, "only the good download is stored");
    }

    #[tokio::test]
    async fn ingest_serves_uploads() {
        let (tmp, storage) = storage();
        let data = mp4(25_000);
        let key = new_key();
        let got = ingest(&storage, &key, &LIMITS, futures::stream::iter(chunks(data.clone(), 7)))
            .await
            .expect("ingest");
        assert_eq!(got.kind, MediaKind::Video);
        assert_eq!(got.size_bytes, 25_000);
        assert_eq!(got.sha256_hex, sha256_hex(&data));
        assert!(read(&storage, &key).await == data);

        // The upload broke off mid-way.
        let mut parts = chunks(png(5_000), 1_000);
        parts.insert(3, Err(std::io::Error::other("client went away")));
        let key2 = new_key();
        let e = ingest(&storage, &key2, &LIMITS, futures::stream::iter(parts))
            .await
            .expect_err("broken");
        assert!(matches!(e, FetchError::UploadRead(_)) && !e.is_transient(), "{e}");
        assert_eq!(storage.size(&key2).await.expect("size"), None);

        let e = ingest(
            &storage,
            &new_key(),
            &LIMITS,
            futures::stream::iter(chunks(b"%PDF-1.7 hello".to_vec(), 3)),
        )
        .await
        .expect_err("pdf");
        assert_eq!(
            e.to_string(),
            "The uploaded file is not an image or video this server accepts \
             (PNG, JPEG, GIF, WebP, HEIC, MP4, MOV, WebM)"
        );
        let e = ingest(
            &storage,
            &new_key(),
            &LIMITS,
            futures::stream::iter(chunks(png(10_001), 4_096)),
        )
        .await
        .expect_err("too large");
        assert!(matches!(e, FetchError::TooLarge { what: "image", .. }));
        // Exactly at the limit is fine; a file shorter than the sniff window is sniffed at EOF.
        ingest(
            &storage,
            &new_key(),
            &LIMITS,
            futures::stream::iter(chunks(png(10_000), 4_096)),
        )
        .await
        .expect("at the limit");
        let tiny = b"GIF89a\x01\0\x01\0".to_vec();
        let got = ingest(&storage, &new_key(), &LIMITS, futures::stream::iter(chunks(tiny, 100)))
            .await
            .expect("tiny gif");
        assert_eq!((got.content_type.as_str(), got.size_bytes), ("image/gif", 10));
        let e = ingest(&storage, &new_key(), &LIMITS, futures::stream::empty())
            .await
            .expect_err("empty");
        assert_eq!(e.to_string(), "The uploaded file is empty");
        assert_eq!(files(tmp.path()).len(), 3);
    }
}
