//! A fake OAuth / identity provider for the seven platforms of `docs/platforms.md`, served by axum
//! on 127.0.0.1 inside the test binary. It speaks each platform's request and response formats
//! (methods, client authentication, PKCE, error shapes) so the connection flow and token refresh
//! can be tested end to end, and it records every request it receives.
//!
//! URL layout (`{base}` = `http://127.0.0.1:PORT`):
//! - authorize (consent page): `{base}/<platform>/authorize`
//! - token: `{base}/<platform>/token`, except LinkedIn `{base}/linkedin/oauth/v2/accessToken`
//! - revoke (derived from the token URL): `{base}/linkedin/oauth/v2/revoke`, `{base}/youtube/revoke`
//! - api: `{base}/<platform>/api` (Meta paths may carry a `/vNN.N` version prefix or not)
//!
//! Behaviour beyond the contract that tests may rely on:
//! - Google only returns a refresh token when `access_type=offline` and either `prompt=consent`
//!   or it is the first consent of that Google user to the app (as the real Google does).
//! - X only returns a refresh token when `offline.access` was granted.
//! - LinkedIn `organizationAcls` answers 403 unless `r_organization_admin` (or
//!   `rw_organization_admin`) was granted, as the real API does; the contract treats that as
//!   "no placements".
//! - YouTube omits `items` entirely when the account has no channel (as the real API does).
//! - Identity and placements are snapshotted at consent time: `set_identity` affects later
//!   consents only.

#![allow(dead_code)]

mod facebook;
mod instagram;
mod linkedin;
mod publishing;
mod threads;
mod tiktok;
mod x;

pub use publishing::{FakePost, JPEG, Scripted};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use url::Url;

pub const PLATFORMS: [&str; 7] = [
    "facebook",
    "instagram",
    "tiktok",
    "linkedin",
    "youtube",
    "twitter",
    "threads",
];

/// Lifetime of the short-lived Meta tokens returned by the code exchange.
pub const META_SHORT_LIVED_SECS: i64 = 3600;
/// `refresh_expires_in` / `refresh_token_expires_in` reported for TikTok and LinkedIn.
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 31_536_000;

/// Default LinkedIn organisation (numeric id, as in `urn:li:organization:<id>`).
pub const DEFAULT_LINKEDIN_ORG_ID: &str = "90000001";

// ---------------------------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------------------------

/// One request as the fake received it.
#[derive(Debug, Clone, Default)]
pub struct RecordedRequest {
    /// The first path segment (`twitter`, ...).
    pub platform: String,
    pub method: String,
    /// The full path, e.g. `/twitter/api/2/users/me`.
    pub path: String,
    pub raw_query: String,
    pub query: Vec<(String, String)>,
    /// The decoded body when it is `application/x-www-form-urlencoded`, else empty.
    pub form: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// `LinkedIn-Version`.
    pub linkedin_version: Option<String>,
    /// `X-Restli-Protocol-Version`.
    pub restli_protocol_version: Option<String>,
    /// Every header, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Media URLs named in the request (`url`, `image_url`), fetched the way a pulling
    /// platform fetches them: (url, Ok((status, content type, first bytes)) or Err(reason)).
    pub fetched: Vec<(String, publishing::Fetched)>,
    /// The raw body bytes (binary uploads).
    pub body_bytes: Vec<u8>,
    /// The parts of a `multipart/form-data` body: (name, content type, bytes).
    pub parts: Vec<(String, Option<String>, Vec<u8>)>,
}

impl RecordedRequest {
    pub fn query_param(&self, name: &str) -> Option<&str> {
        get(&self.query, name)
    }

    pub fn form_param(&self, name: &str) -> Option<&str> {
        get(&self.form, name)
    }

    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    fn is_form(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    }

    fn bearer(&self) -> Option<&str> {
        let a = self.authorization.as_deref()?.trim();
        let (scheme, rest) = a.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(rest.trim())
            .filter(|t| !t.is_empty())
    }

    /// Meta accepts `access_token` in the query (the contract) or an `OAuth`/`Bearer` header.
    fn meta_token(&self) -> Option<&str> {
        if let Some(t) = self.query_param("access_token") {
            return Some(t);
        }
        let a = self.authorization.as_deref()?.trim();
        let (scheme, rest) = a.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth")).then_some(rest.trim())
    }

    /// HTTP Basic credentials, each part form-url-decoded (RFC 6749 §2.3.1).
    fn basic(&self) -> Option<(String, String)> {
        let a = self.authorization.as_deref()?.trim();
        let (scheme, rest) = a.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        Some((form_decode(id), form_decode(secret)))
    }
}

pub struct FakeProvider {
    base: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeProvider {
    /// Binds 127.0.0.1:0 and serves until dropped.
    pub async fn start() -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake provider: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let base = format!("http://{addr}");
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::new(base.clone())),
        });
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake provider: serve");
        });
        FakeProvider { base, shared, task }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn client_id(platform: &str) -> String {
        format!("client-{}", check_platform(platform))
    }

    pub fn client_secret(platform: &str) -> String {
        format!("secret-{}", check_platform(platform))
    }

    pub fn authorize_url(&self, platform: &str) -> String {
        format!("{}/{}/authorize", self.base, check_platform(platform))
    }

    /// `{base}/<platform>/token`; LinkedIn `{base}/linkedin/oauth/v2/accessToken` (so that
    /// `accessToken` → `revoke` gives its revoke URL); YouTube's `/token` → `/revoke` likewise.
    pub fn token_url(&self, platform: &str) -> String {
        let p = check_platform(platform);
        format!("{}/{}{}", self.base, p, token_path(p))
    }

    pub fn api_url(&self, platform: &str) -> String {
        format!("{}/{}/api", self.base, check_platform(platform))
    }

    /// The revoke URL the server should derive (LinkedIn, YouTube) or use (`{api}/...`).
    pub fn revoke_url(&self, platform: &str) -> Option<String> {
        let p = check_platform(platform);
        match p {
            "linkedin" => Some(self.token_url(p).replace("accessToken", "revoke")),
            "youtube" => Some(self.token_url(p).replace("/token", "/revoke")),
            "tiktok" => Some(format!("{}/v2/oauth/revoke/", self.api_url(p))),
            "twitter" => Some(format!("{}/2/oauth2/revoke", self.api_url(p))),
            "facebook" => Some(format!("{}/me/permissions", self.api_url(p))),
            _ => None,
        }
    }

    /// Programmatic consent: validates the authorize URL like the platform would, mints a
    /// single-use code and returns `{redirect_uri}?code=..&state=..` (TikTok adds `scopes`,
    /// Google adds `scope`, as the real platforms do).
    pub fn approve(&self, authorize_url: &str) -> Result<String, String> {
        let mut inner = self.shared.lock();
        let req = inner.validate_authorize(authorize_url)?;
        Ok(inner.approve_callback(&req))
    }

    /// The user clicks "Deny": `{redirect_uri}?error=access_denied&error_description=..&state=..`
    /// plus the platform's extras (Meta `error_reason=user_denied`, TikTok `error_type`).
    pub fn deny(&self, authorize_url: &str) -> Result<String, String> {
        let inner = self.shared.lock();
        let req = inner.validate_authorize(authorize_url)?;
        Ok(deny_callback(&req))
    }

    /// Code exchanges answer the platform's 400 error until `clear_failures`.
    pub fn fail_token_exchange(&self, platform: &str) {
        self.with(platform, |s| s.fail_token_exchange = true);
    }

    /// Meta only: the short → long-lived exchange fails (400, Meta format) until `clear_failures`.
    pub fn fail_long_lived_exchange(&self, platform: &str) {
        self.with(platform, |s| s.fail_long_lived_exchange = true);
    }

    /// The identity endpoint answers 500 in the platform's error format until `clear_failures`.
    pub fn fail_identity(&self, platform: &str) {
        self.fail_identity_with_status(platform, 500);
    }

    /// As `fail_identity` with a chosen status; 401 answers the platform's invalid-token error
    /// (for Meta that is 400 with code 190).
    pub fn fail_identity_with_status(&self, platform: &str, status: u16) {
        self.with(platform, |s| s.fail_identity = Some(status));
    }

    /// Facebook `/me/accounts` and LinkedIn `organizationAcls` answer 500 until `clear_failures`.
    pub fn fail_placements(&self, platform: &str) {
        self.with(platform, |s| s.fail_placements = true);
    }

    /// Refreshes are rejected until `clear_failures`: `invalid_grant` (X: `invalid_request`, as
    /// the real X API answers) or Meta code 190; `revoked` → Meta `error_subcode` 458 / an
    /// `error_description` containing "revoked". For Facebook this applies to
    /// `fb_exchange_token` presented with a long-lived token (the refresh), not to the first
    /// exchange of the connection flow.
    pub fn reject_refresh(&self, platform: &str, revoked: bool) {
        self.with(platform, |s| s.reject_refresh = Some(revoked));
    }

    /// Resets every failure knob of the platform.
    pub fn clear_failures(&self, platform: &str) {
        self.with(platform, |s| {
            s.fail_token_exchange = false;
            s.fail_long_lived_exchange = false;
            s.fail_identity = None;
            s.fail_placements = false;
            s.reject_refresh = None;
        });
    }

    /// Default: id `<platform>-user-1`, name `Fake <Platform> User` (platform name capitalised,
    /// e.g. `Fake Tiktok User`), username `fake_<platform>`. Applies to later consents.
    pub fn set_identity(&self, platform: &str, id: &str, name: &str, username: &str) {
        let identity = Identity {
            id: id.to_string(),
            name: name.to_string(),
            username: username.to_string(),
        };
        self.with(platform, |s| s.identity = identity);
    }

    /// Lifetime of minted access tokens (Meta: of long-lived tokens; short-lived stay 3600).
    pub fn set_expires_in(&self, platform: &str, secs: i64) {
        self.with(platform, |s| s.expires_in = secs);
    }

    /// Whether TikTok / LinkedIn code exchanges return refresh tokens (default true; LinkedIn
    /// apps without programmatic refresh get none).
    pub fn set_issue_refresh_tokens(&self, platform: &str, issue: bool) {
        self.with(platform, |s| s.issue_refresh_tokens = issue);
    }

    /// Facebook Pages or LinkedIn organisations as (id, name, username/vanity name).
    /// Defaults: two Pages (`facebook-page-1`, `facebook-page-2`), one org (`90000001`).
    /// LinkedIn ids must be numeric.
    pub fn set_placements(&self, platform: &str, placements: &[(&str, &str, &str)]) {
        let list: Vec<Placement> = placements
            .iter()
            .map(|(id, name, username)| Placement {
                id: id.to_string(),
                name: name.to_string(),
                username: username.to_string(),
            })
            .collect();
        self.with(platform, |s| s.placements = list);
    }

    /// YouTube: whether the Google account has a channel (default true).
    pub fn set_youtube_has_channel(&self, has: bool) {
        self.with("youtube", |s| s.youtube_has_channel = has);
    }

    /// Instagram: answer the code exchange in the newer `{"data":[{…}]}` wrapper.
    pub fn set_instagram_wrapped_token_response(&self, wrapped: bool) {
        self.with("instagram", |s| s.instagram_wrapped = wrapped);
    }

    /// Only this exact redirect URI is accepted (by default any absolute http(s) URI whose path
    /// ends with `/oauth/callback/<platform>`).
    pub fn register_redirect_uri(&self, platform: &str, uri: &str) {
        let uri = uri.to_string();
        self.with(platform, |s| s.registered_redirect_uri = Some(uri));
    }

    /// Marks every currently valid access token of the platform expired (identity calls then
    /// answer the platform's expired-token error; refresh tokens keep working).
    pub fn expire_access_tokens(&self, platform: &str) {
        let p = check_platform(platform);
        let mut inner = self.shared.lock();
        for t in inner.tokens.iter_mut() {
            if t.platform == p && t.kind != TokenKind::Refresh && t.state == TokenState::Valid {
                t.state = TokenState::Expired;
            }
        }
    }

    /// Posts the platform holds (deleted ones too, marked), in creation order.
    pub fn posts(&self, platform: &str) -> Vec<FakePost> {
        let p = check_platform(platform);
        self.shared
            .lock()
            .posts
            .iter()
            .filter(|x| x.platform == p)
            .cloned()
            .collect()
    }

    /// The image URLs a published post was made from.
    pub fn media_of(&self, post_id: &str) -> Vec<String> {
        self.shared.lock().media_of.get(post_id).cloned().unwrap_or_default()
    }

    /// Comments posted through the API: (post id, text).
    pub fn comments(&self) -> Vec<(String, String)> {
        self.shared.lock().comments.clone()
    }

    /// The next content-creating request of the platform behaves as scripted (queued in order).
    /// The user withdraws one permission of every grant of the platform (unticks it).
    pub fn withdraw_scope(&self, platform: &str, scope: &str) {
        let p = check_platform(platform);
        for g in self.shared.lock().grants.iter_mut().filter(|g| g.platform == p) {
            g.scopes.retain(|s| s != scope);
        }
    }

    /// TikTok names the public post id only after this many status reads past completion.
    pub fn delay_tiktok_public_id(&self, reads: u32) {
        self.shared.lock().tiktok_public_id_delay = reads;
    }

    /// How many posts an account may publish in a rolling 24 hours (Instagram, Threads).
    pub fn set_publishing_quota(&self, platform: &str, total: i64) {
        let p = check_platform(platform);
        self.shared.lock().publishing_quota.insert(p, total);
    }

    /// The publish_ids TikTok handed out.
    pub fn tiktok_publish_ids(&self) -> Vec<String> {
        self.shared.lock().tiktok_publishes.keys().cloned().collect()
    }

    /// The platform grants one more permission to every existing grant (an app that was approved for it).
    pub fn grant_scope(&self, platform: &str, scope: &str) {
        let p = check_platform(platform);
        for g in self.shared.lock().grants.iter_mut().filter(|g| g.platform == p) {
            g.scopes.push(scope.to_string());
        }
    }

    /// Every answer takes this long from now on.
    pub fn set_latency(&self, d: std::time::Duration) {
        self.shared.lock().latency = Some(d);
    }

    /// The most requests the fake was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    pub fn script(&self, platform: &str, s: Scripted) {
        self.with(platform, |st| st.publish_script.push_back(s));
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests whose path starts with `/<platform>/`.
    pub fn requests_for(&self, platform: &str) -> Vec<RecordedRequest> {
        let p = check_platform(platform);
        self.requests().into_iter().filter(|r| r.platform == p).collect()
    }

    /// Currently valid access tokens (Facebook: user and Page tokens), in mint order.
    pub fn valid_access_tokens(&self, platform: &str) -> Vec<String> {
        let p = check_platform(platform);
        self.shared
            .lock()
            .tokens
            .iter()
            .filter(|t| t.platform == p && t.kind != TokenKind::Refresh && t.state == TokenState::Valid)
            .map(|t| t.value.clone())
            .collect()
    }

    /// Currently valid refresh tokens, in mint order.
    pub fn valid_refresh_tokens(&self, platform: &str) -> Vec<String> {
        let p = check_platform(platform);
        self.shared
            .lock()
            .tokens
            .iter()
            .filter(|t| t.platform == p && t.kind == TokenKind::Refresh && t.state == TokenState::Valid)
            .map(|t| t.value.clone())
            .collect()
    }

    /// Every token and code ever minted (for "no plaintext secrets in the database" checks).
    pub fn minted_secrets(&self) -> Vec<String> {
        let inner = self.shared.lock();
        let mut v: Vec<String> = inner.tokens.iter().map(|t| t.value.clone()).collect();
        v.extend(inner.codes.keys().cloned());
        v
    }

    /// Tokens revoked through a revoke endpoint (including tokens revoked with them, e.g. the
    /// whole Google grant or a Facebook user's Page tokens), in order.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.shared.lock().revoked.clone()
    }

    fn with(&self, platform: &str, f: impl FnOnce(&mut PlatformState)) {
        let p = check_platform(platform);
        let mut inner = self.shared.lock();
        f(inner.platforms.get_mut(p).expect("platform state"));
    }
}

// ---------------------------------------------------------------------------------------------
// Platform metadata
// ---------------------------------------------------------------------------------------------

fn check_platform(p: &str) -> &'static str {
    find_platform(p).unwrap_or_else(|| panic!("fake provider: unknown platform {p:?}"))
}

fn find_platform(p: &str) -> Option<&'static str> {
    PLATFORMS.iter().copied().find(|x| *x == p)
}

fn display_name(p: &str) -> &'static str {
    match p {
        "facebook" => "Facebook",
        "instagram" => "Instagram",
        "tiktok" => "TikTok",
        "linkedin" => "LinkedIn",
        "youtube" => "YouTube",
        "twitter" => "X",
        _ => "Threads",
    }
}

fn is_meta(p: &str) -> bool {
    matches!(p, "facebook" | "instagram" | "threads")
}

fn scope_separator(p: &str) -> char {
    match p {
        "linkedin" | "youtube" | "twitter" => ' ',
        _ => ',',
    }
}

fn client_id_param(p: &str) -> &'static str {
    if p == "tiktok" { "client_key" } else { "client_id" }
}

fn token_path(p: &str) -> &'static str {
    if p == "linkedin" {
        "/oauth/v2/accessToken"
    } else {
        "/token"
    }
}

fn default_expires_in(p: &str) -> i64 {
    match p {
        "tiktok" => 86_400,
        "youtube" => 3599,
        "twitter" => 7200,
        _ => 5_184_000,
    }
}

fn requires_pkce(p: &str) -> bool {
    matches!(p, "twitter" | "youtube")
}

fn known_scopes(p: &str) -> &'static [&'static str] {
    match p {
        "facebook" => &[
            "pages_show_list",
            "pages_manage_posts",
            "pages_read_engagement",
            "business_management",
            "public_profile",
            "email",
            "pages_manage_metadata",
            "pages_read_user_content",
            "pages_manage_engagement",
            "read_insights",
            "publish_video",
            "instagram_basic",
            "instagram_content_publish",
            "instagram_manage_insights",
            "instagram_manage_comments",
        ],
        "instagram" => &[
            "instagram_business_basic",
            "instagram_business_content_publish",
            "instagram_business_manage_comments",
            "instagram_business_manage_messages",
            "instagram_business_manage_insights",
        ],
        "tiktok" => &[
            "user.info.basic",
            "user.info.profile",
            "user.info.stats",
            "video.publish",
            "video.upload",
            "video.list",
        ],
        "linkedin" => &[
            "openid",
            "profile",
            "email",
            "w_member_social",
            "r_organization_admin",
            "rw_organization_admin",
            "w_organization_social",
            "r_organization_social",
        ],
        "youtube" => &[
            "https://www.googleapis.com/auth/youtube.upload",
            "https://www.googleapis.com/auth/youtube.readonly",
            "https://www.googleapis.com/auth/youtube",
            "https://www.googleapis.com/auth/youtube.force-ssl",
            "https://www.googleapis.com/auth/userinfo.email",
            "https://www.googleapis.com/auth/userinfo.profile",
            "openid",
            "email",
            "profile",
        ],
        "twitter" => &[
            "tweet.read",
            "tweet.write",
            "tweet.moderate.write",
            "users.read",
            "offline.access",
            "media.write",
            "follows.read",
            "follows.write",
            "like.read",
            "like.write",
            "list.read",
            "list.write",
            "bookmark.read",
            "bookmark.write",
        ],
        _ => &[
            "threads_basic",
            "threads_content_publish",
            "threads_manage_replies",
            "threads_read_replies",
            "threads_manage_insights",
            "threads_delete",
        ],
    }
}

fn capitalize(p: &str) -> String {
    let mut c = p.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Clone)]
struct Identity {
    id: String,
    name: String,
    username: String,
}

#[derive(Debug, Clone)]
struct Placement {
    id: String,
    name: String,
    username: String,
}

struct PlatformState {
    identity: Identity,
    expires_in: i64,
    fail_token_exchange: bool,
    fail_long_lived_exchange: bool,
    fail_identity: Option<u16>,
    fail_placements: bool,
    reject_refresh: Option<bool>,
    issue_refresh_tokens: bool,
    placements: Vec<Placement>,
    youtube_has_channel: bool,
    instagram_wrapped: bool,
    registered_redirect_uri: Option<String>,
    /// Users who already consented (Google: refresh token only on first consent or prompt=consent).
    consented: HashSet<String>,
    /// Behaviour of the next content-creating requests (see `Scripted`).
    publish_script: std::collections::VecDeque<Scripted>,
}

impl PlatformState {
    fn new(p: &str) -> Self {
        let placements = match p {
            "facebook" => vec![
                Placement {
                    id: "facebook-page-1".into(),
                    name: "Fake Facebook Page One".into(),
                    username: "fakepageone".into(),
                },
                Placement {
                    id: "facebook-page-2".into(),
                    name: "Fake Facebook Page Two".into(),
                    username: "fakepagetwo".into(),
                },
            ],
            "linkedin" => vec![Placement {
                id: DEFAULT_LINKEDIN_ORG_ID.into(),
                name: "Fake LinkedIn Organization".into(),
                username: "fake-linkedin-org".into(),
            }],
            _ => Vec::new(),
        };
        PlatformState {
            identity: Identity {
                id: format!("{p}-user-1"),
                name: format!("Fake {} User", capitalize(p)),
                username: format!("fake_{p}"),
            },
            expires_in: default_expires_in(p),
            fail_token_exchange: false,
            fail_long_lived_exchange: false,
            fail_identity: None,
            fail_placements: false,
            reject_refresh: None,
            issue_refresh_tokens: true,
            placements,
            youtube_has_channel: true,
            instagram_wrapped: false,
            registered_redirect_uri: None,
            consented: HashSet::new(),
            publish_script: Default::default(),
        }
    }
}

struct AuthRequest {
    platform: &'static str,
    client_id: String,
    redirect_uri: String,
    state: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
    offline: bool,
    prompt_consent: bool,
}

struct AuthCode {
    platform: &'static str,
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    scopes: Vec<String>,
    user: Identity,
    offline: bool,
    prompt_consent: bool,
    used: bool,
}

struct Grant {
    platform: &'static str,
    user: Identity,
    scopes: Vec<String>,
}

impl Grant {
    fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Access,
    Refresh,
    /// A Facebook Page access token.
    Page,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    Valid,
    Expired,
    Revoked,
    /// A refresh token replaced by rotation (X).
    Rotated,
}

struct Token {
    value: String,
    platform: &'static str,
    kind: TokenKind,
    grant: usize,
    state: TokenState,
    long_lived: bool,
    page_id: Option<String>,
}

enum AuthFail {
    Missing,
    Unknown,
    Expired,
    Revoked,
}

struct Inner {
    base: String,
    seq: u64,
    codes: HashMap<String, AuthCode>,
    grants: Vec<Grant>,
    tokens: Vec<Token>,
    /// (user token, page id) → page token
    page_tokens: HashMap<(String, String), String>,
    revoked: Vec<String>,
    requests: Vec<RecordedRequest>,
    platforms: HashMap<&'static str, PlatformState>,
    /// Posts the fake platforms hold.
    posts: Vec<FakePost>,
    /// Threads containers by id.
    containers: HashMap<String, threads::Container>,
    /// Set by a handler: hold the current answer this long before sending it.
    stall: Option<std::time::Duration>,
    /// How long every answer takes (a real platform's latency).
    latency: Option<std::time::Duration>,
    /// Requests being answered now, and the most ever at once.
    in_flight: usize,
    max_in_flight: usize,
    /// The image URLs each published post was made from (as the platform fetched them).
    media_of: HashMap<String, Vec<String>>,
    /// Comments posted on posts: (post id, text).
    comments: Vec<(String, String)>,
    /// TikTok publish ids → (post id, status reads).
    tiktok_publishes: HashMap<String, (String, u32)>,
    /// Status reads after completion that still name no public post id.
    tiktok_public_id_delay: u32,
    /// Uploaded media: X media ids and LinkedIn image URNs → (owner, content type, size).
    uploads: HashMap<String, (String, String, usize)>,
    /// LinkedIn upload URLs handed out: token → (image URN, owner).
    upload_slots: HashMap<String, (String, String)>,
    /// Facebook photos uploaded with `published: false`: id → (page, url).
    unpublished_photos: HashMap<String, (String, String)>,
    /// Posts per rolling 24 hours per account (Instagram 50, Threads 250 unless set).
    publishing_quota: HashMap<&'static str, i64>,
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn parse_pairs(s: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s).into_owned().collect()
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn random_hex(bytes: usize) -> String {
    let r: [u8; 16] = rand::random();
    hex::encode(&r[..bytes.min(16)])
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut u = Url::parse(uri).expect("validated redirect_uri");
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

/// A JSON number when the id is numeric (as Meta sends `user_id`), else a string.
fn id_json(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

/// Splits a Graph-style field list (`id,name,picture.type(large),accounts{id}`) into base names.
fn split_fields(f: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in f.chars() {
        match c {
            '{' | '(' => {
                depth += 1;
                cur.push(c);
            }
            '}' | ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| {
            let s = s.trim();
            let end = s.find(['.', '{', '(']).unwrap_or(s.len());
            s[..end].to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn requested_fields(r: &RecordedRequest, param: &str, default: &[&str]) -> Vec<String> {
    match r.query_param(param) {
        Some(f) if !f.trim().is_empty() => split_fields(f),
        _ => default.iter().map(ToString::to_string).collect(),
    }
}

fn strip_graph_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v")
        && let Some(i) = rest.find('/')
    {
        let ver = &rest[..i];
        if !ver.is_empty() && ver.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return &rest[i..];
        }
    }
    path
}

fn json_resp(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn ok(v: Value) -> Response {
    json_resp(StatusCode::OK, v)
}

fn meta_err(code: i64, subcode: Option<i64>, message: &str) -> Response {
    meta_err_status(StatusCode::BAD_REQUEST, code, subcode, message)
}

fn meta_err_status(status: StatusCode, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut e = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": format!("Afake{}", random_hex(8)),
    });
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    json_resp(status, json!({ "error": e }))
}

fn oauth_err(status: StatusCode, error: &str, description: &str) -> Response {
    json_resp(status, json!({ "error": error, "error_description": description }))
}

fn tiktok_oauth_err(status: StatusCode, error: &str, description: &str) -> Response {
    json_resp(
        status,
        json!({ "error": error, "error_description": description, "log_id": random_hex(12) }),
    )
}

fn tiktok_api_err(status: StatusCode, code: &str, message: &str) -> Response {
    json_resp(
        status,
        json!({ "data": {}, "error": { "code": code, "message": message, "log_id": random_hex(12) } }),
    )
}

fn linkedin_api_err(status: StatusCode, service_code: i64, code: &str, message: &str) -> Response {
    json_resp(
        status,
        json!({ "status": status.as_u16(), "serviceErrorCode": service_code, "code": code, "message": message }),
    )
}

fn google_api_err(status: StatusCode, message: &str, reason: &str, google_status: &str) -> Response {
    json_resp(
        status,
        json!({ "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{ "message": message, "domain": "global", "reason": reason }],
            "status": google_status,
        }}),
    )
}

fn x_api_err(status: StatusCode, title: &str) -> Response {
    json_resp(
        status,
        json!({ "title": title, "type": "about:blank", "status": status.as_u16(), "detail": title }),
    )
}

fn not_found(r: &RecordedRequest) -> Response {
    json_resp(
        StatusCode::NOT_FOUND,
        json!({ "error": format!("fake provider: no route for {} {}", r.method, r.path) }),
    )
}

fn method_not_allowed(r: &RecordedRequest, expected: &str) -> Response {
    json_resp(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({ "error": format!(
            "fake provider: {} {} must be {expected} per docs/platforms.md",
            r.method, r.path
        )}),
    )
}

/// The platform's generic server error (5xx) or invalid-token error (401).
fn platform_failure(p: &str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::UNAUTHORIZED {
        return auth_error(p, AuthFail::Unknown);
    }
    match p {
        "facebook" | "instagram" | "threads" => json_resp(
            status,
            json!({ "error": {
                "message": "An unexpected error has occurred. Please retry your request later.",
                "type": "OAuthException",
                "is_transient": true,
                "code": 2,
                "fbtrace_id": format!("Afake{}", random_hex(8)),
            }}),
        ),
        "tiktok" => tiktok_api_err(
            status,
            "internal_error",
            "Something went wrong. Please try again later.",
        ),
        "linkedin" => linkedin_api_err(status, 0, "INTERNAL_SERVER_ERROR", "Internal Server Error"),
        "youtube" => google_api_err(status, "Backend Error", "backendError", "INTERNAL"),
        _ => x_api_err(status, "Internal Server Error"),
    }
}

/// The platform's answer to a missing / invalid / expired / revoked access token.
fn auth_error(p: &str, fail: AuthFail) -> Response {
    match p {
        "facebook" | "instagram" | "threads" => match fail {
            AuthFail::Missing => meta_err(
                2500,
                None,
                "An active access token must be used to query information about the current user.",
            ),
            AuthFail::Unknown => meta_err(190, None, "Invalid OAuth access token - Cannot parse access token"),
            AuthFail::Expired => meta_err(190, Some(463), "Error validating access token: Session has expired."),
            AuthFail::Revoked => meta_err(
                190,
                Some(458),
                &format!(
                    "Error validating access token: The user has not authorized application {}.",
                    FakeProvider::client_id(p)
                ),
            ),
        },
        "tiktok" => tiktok_api_err(
            StatusCode::UNAUTHORIZED,
            "access_token_invalid",
            "The access token is invalid or not found in the request.",
        ),
        "linkedin" => {
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
        "youtube" => google_api_err(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            "authError",
            "UNAUTHENTICATED",
        ),
        _ => x_api_err(StatusCode::UNAUTHORIZED, "Unauthorized"),
    }
}

// --- token endpoint errors ---

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrKind {
    /// Unknown client id / wrong secret / missing client authentication.
    Client,
    /// Unknown, used or expired code or refresh token.
    Grant,
    /// The code's redirect_uri differs.
    Redirect,
    /// A required parameter is missing or malformed.
    Request,
    UnsupportedGrantType,
    /// The refresh is refused because the user revoked the app.
    Revoked,
}

struct OErr {
    kind: ErrKind,
    msg: String,
    /// Meta (code, subcode) override.
    meta: Option<(i64, Option<i64>)>,
}

impl OErr {
    fn new(kind: ErrKind, msg: impl Into<String>) -> Self {
        OErr {
            kind,
            msg: msg.into(),
            meta: None,
        }
    }

    fn meta(mut self, code: i64, subcode: Option<i64>) -> Self {
        self.meta = Some((code, subcode));
        self
    }
}

/// Renders a token-endpoint error in the platform's format. `refresh` selects the refresh
/// flavour where the platform differs.
fn token_error(p: &str, refresh: bool, e: OErr) -> Response {
    use ErrKind::*;
    let bad = StatusCode::BAD_REQUEST;
    match p {
        "facebook" | "threads" => {
            let (code, sub) = e.meta.unwrap_or(match e.kind {
                Client => (101, None),
                Grant => (100, Some(36007)),
                Redirect => (100, Some(36008)),
                Request | UnsupportedGrantType => (100, None),
                Revoked => (190, Some(458)),
            });
            meta_err(code, sub, &e.msg)
        }
        "instagram" => json_resp(
            bad,
            json!({ "error_type": "OAuthException", "code": 400, "error_message": e.msg }),
        ),
        "tiktok" => {
            let error = match e.kind {
                Client => "invalid_client",
                Grant | Redirect | Revoked => "invalid_grant",
                Request => "invalid_request",
                UnsupportedGrantType => "unsupported_grant_type",
            };
            tiktok_oauth_err(bad, error, &e.msg)
        }
        "linkedin" => match e.kind {
            Client => oauth_err(StatusCode::UNAUTHORIZED, "invalid_client", &e.msg),
            Grant | Redirect if !refresh => oauth_err(bad, "invalid_request", &e.msg),
            Grant | Redirect | Revoked => oauth_err(bad, "invalid_grant", &e.msg),
            Request => oauth_err(bad, "invalid_request", &e.msg),
            UnsupportedGrantType => oauth_err(bad, "unsupported_grant_type", &e.msg),
        },
        "youtube" => match e.kind {
            Client => oauth_err(StatusCode::UNAUTHORIZED, "invalid_client", &e.msg),
            Grant | Revoked => oauth_err(bad, "invalid_grant", &e.msg),
            Redirect => oauth_err(bad, "redirect_uri_mismatch", &e.msg),
            Request => oauth_err(bad, "invalid_request", &e.msg),
            UnsupportedGrantType => oauth_err(bad, "unsupported_grant_type", &e.msg),
        },
        _ => match e.kind {
            Client => oauth_err(StatusCode::UNAUTHORIZED, "unauthorized_client", &e.msg),
            UnsupportedGrantType => oauth_err(bad, "unsupported_grant_type", &e.msg),
            _ => oauth_err(bad, "invalid_request", &e.msg),
        },
    }
}

fn invalid_code_message(p: &str) -> &'static str {
    match p {
        "facebook" | "threads" => "Invalid verification code format.",
        "instagram" => "Invalid authorization code",
        "tiktok" => "Authorization code is expired.",
        "linkedin" => {
            "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired. Or external member binding exists"
        }
        "youtube" => "Bad Request",
        _ => "Value passed for the authorization code was invalid.",
    }
}

fn refresh_rejected_message(p: &str, revoked: bool) -> String {
    match (p, revoked) {
        ("youtube", true) => "Token has been expired or revoked.".into(),
        ("youtube", false) => "Bad Request".into(),
        ("twitter", true) => "Value passed for the token was invalid: the token has been revoked.".into(),
        ("twitter", false) => "Value passed for the token was invalid.".into(),
        ("linkedin", true) => "The provided refresh token has been revoked".into(),
        ("linkedin", false) => "The provided refresh token is invalid or expired".into(),
        (_, true) => "Refresh token has been revoked by the user.".into(),
        (_, false) => "Refresh token is invalid or expired.".into(),
    }
}

fn deny_callback(req: &AuthRequest) -> String {
    let p = req.platform;
    let mut params: Vec<(&str, &str)> = vec![("error", "access_denied")];
    match p {
        "facebook" => {
            params.push(("error_code", "200"));
            params.push(("error_description", "Permissions error"));
            params.push(("error_reason", "user_denied"));
        }
        "instagram" | "threads" => {
            params.push(("error_reason", "user_denied"));
            params.push(("error_description", "The user denied your request."));
        }
        "tiktok" => {
            params.push(("error_description", "The user denied the authorization request."));
            params.push(("error_type", "user_denied"));
        }
        "linkedin" => {
            params.push(("error_description", "The user cancelled the authorization"));
        }
        "youtube" => {
            params.push(("error_description", "The user denied access to the application."));
        }
        _ => {
            params.push(("error_description", "The user denied the authorization request."));
        }
    }
    params.push(("state", &req.state));
    with_query(&req.redirect_uri, &params)
}

const PIXEL_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

// ---------------------------------------------------------------------------------------------
// HTTP entry point
// ---------------------------------------------------------------------------------------------

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let raw_query = uri.query().unwrap_or("").to_string();
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header(header::CONTENT_TYPE.as_str());
    let mut rec = RecordedRequest {
        platform: path.trim_start_matches('/').split('/').next().unwrap_or("").to_string(),
        method: method.as_str().to_string(),
        path: path.clone(),
        query: parse_pairs(raw_query.as_bytes()),
        raw_query,
        form: Vec::new(),
        authorization: header(header::AUTHORIZATION.as_str()),
        content_type,
        linkedin_version: header("linkedin-version"),
        restli_protocol_version: header("x-restli-protocol-version"),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        fetched: Vec::new(),
        body_bytes: body.to_vec(),
        parts: Vec::new(),
    };
    if rec.is_form() {
        rec.form = parse_pairs(&body);
    }
    rec.fetched = publishing::fetch_media_urls(&rec).await;
    rec.parts = publishing::multipart_parts(rec.content_type.as_deref(), body.clone()).await;
    let (resp, stall) = {
        let mut inner = shared.lock();
        inner.requests.push(rec.clone());
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        let resp = inner.route(&rec);
        (resp, inner.stall.take().or(inner.latency))
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    shared.lock().in_flight -= 1;
    resp
}

// ---------------------------------------------------------------------------------------------
// Behaviour
// ---------------------------------------------------------------------------------------------

impl Inner {
    fn new(base: String) -> Self {
        Inner {
            base,
            seq: 0,
            codes: HashMap::new(),
            grants: Vec::new(),
            tokens: Vec::new(),
            page_tokens: HashMap::new(),
            revoked: Vec::new(),
            requests: Vec::new(),
            platforms: PLATFORMS.iter().map(|p| (*p, PlatformState::new(p))).collect(),
            posts: Vec::new(),
            containers: HashMap::new(),
            stall: None,
            latency: None,
            in_flight: 0,
            max_in_flight: 0,
            media_of: HashMap::new(),
            comments: Vec::new(),
            unpublished_photos: HashMap::new(),
            publishing_quota: HashMap::new(),
            uploads: HashMap::new(),
            tiktok_publishes: HashMap::new(),
            tiktok_public_id_delay: 0,
            upload_slots: HashMap::new(),
        }
    }

    fn st(&self, p: &str) -> &PlatformState {
        self.platforms.get(p).expect("platform state")
    }

    fn st_mut(&mut self, p: &str) -> &mut PlatformState {
        self.platforms.get_mut(p).expect("platform state")
    }

    fn mint(&mut self, p: &str, what: &str) -> String {
        self.seq += 1;
        format!("fake-{p}-{what}-{}-{}", self.seq, random_hex(6))
    }

    fn issue(&mut self, p: &'static str, grant: usize, kind: TokenKind, long_lived: bool) -> String {
        let label = match kind {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
            TokenKind::Page => "page-access",
        };
        let value = self.mint(p, label);
        self.tokens.push(Token {
            value: value.clone(),
            platform: p,
            kind,
            grant,
            state: TokenState::Valid,
            long_lived,
            page_id: None,
        });
        value
    }

    fn picture_url(&self, p: &str, id: &str) -> String {
        format!("{}/{}/static/{}.png", self.base, p, id)
    }

    fn check_access(&self, p: &str, value: Option<&str>) -> Result<usize, AuthFail> {
        let v = value.filter(|v| !v.is_empty()).ok_or(AuthFail::Missing)?;
        let i = self
            .tokens
            .iter()
            .position(|t| t.value == v && t.platform == p && t.kind != TokenKind::Refresh)
            .ok_or(AuthFail::Unknown)?;
        match self.tokens[i].state {
            TokenState::Valid => Ok(i),
            TokenState::Expired => Err(AuthFail::Expired),
            TokenState::Revoked => Err(AuthFail::Revoked),
            TokenState::Rotated => Err(AuthFail::Unknown),
        }
    }

    fn revoke_where(&mut self, pred: impl Fn(&Token) -> bool) {
        let mut newly = Vec::new();
        for t in self.tokens.iter_mut() {
            if pred(t) && t.state != TokenState::Revoked {
                t.state = TokenState::Revoked;
                newly.push(t.value.clone());
            }
        }
        self.revoked.extend(newly);
    }

    fn revoke_grant(&mut self, grant: usize) {
        self.revoke_where(|t| t.grant == grant);
    }

    // --- authorize ---

    fn validate_authorize(&self, authorize_url: &str) -> Result<AuthRequest, String> {
        let Some(rest) = authorize_url.strip_prefix(&self.base) else {
            return Err(format!(
                "not an authorize URL of this fake provider ({}): {authorize_url}",
                self.base
            ));
        };
        let u = Url::parse(authorize_url).map_err(|e| format!("malformed URL ({e}): {authorize_url}"))?;
        let seg = rest.trim_start_matches('/').split(['/', '?']).next().unwrap_or("");
        let p = find_platform(seg).ok_or_else(|| format!("unknown platform in {authorize_url}"))?;
        let name = display_name(p);
        if u.path() != format!("/{p}/authorize") {
            return Err(format!("{name}: wrong authorize path {}", u.path()));
        }
        let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();

        let id_param = client_id_param(p);
        let client = match get(&q, id_param) {
            Some(c) => c,
            None if p == "tiktok" && get(&q, "client_id").is_some() => {
                return Err("TikTok: expects `client_key`, got `client_id`".into());
            }
            None => return Err(format!("{name}: missing `{id_param}`")),
        };
        if client != FakeProvider::client_id(p) {
            return Err(format!(
                "{name}: unknown {id_param} {client:?} (expected {:?})",
                FakeProvider::client_id(p)
            ));
        }

        let redirect_uri = get(&q, "redirect_uri")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| format!("{name}: missing `redirect_uri`"))?;
        let ru = Url::parse(redirect_uri)
            .map_err(|e| format!("{name}: redirect_uri {redirect_uri:?} is not absolute ({e})"))?;
        if !matches!(ru.scheme(), "http" | "https") || ru.fragment().is_some() {
            return Err(format!("{name}: invalid redirect_uri {redirect_uri:?}"));
        }
        match &self.st(p).registered_redirect_uri {
            Some(reg) if reg != redirect_uri => {
                return Err(format!(
                    "{name}: redirect_uri {redirect_uri:?} is not registered (registered: {reg:?})"
                ));
            }
            Some(_) => {}
            None => {
                let suffix = format!("/oauth/callback/{p}");
                if !ru.path().ends_with(&suffix) {
                    return Err(format!(
                        "{name}: redirect_uri {redirect_uri:?} is not registered (path must end with {suffix})"
                    ));
                }
            }
        }

        match get(&q, "response_type") {
            Some("code") => {}
            other => return Err(format!("{name}: response_type must be `code`, got {other:?}")),
        }

        let scope = get(&q, "scope")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| format!("{name}: missing `scope`"))?;
        let sep = scope_separator(p);
        let (sep_name, other) = if sep == ',' { ("comma", ' ') } else { ("space", ',') };
        if scope.contains(other) {
            return Err(format!("{name}: scope must be {sep_name}-separated, got {scope:?}"));
        }
        let scopes: Vec<String> = scope.split(sep).map(str::to_string).collect();
        for s in &scopes {
            if s.is_empty() {
                return Err(format!("{name}: empty item in scope {scope:?}"));
            }
            if !known_scopes(p).contains(&s.as_str()) {
                return Err(format!("{name}: invalid scope {s:?}"));
            }
        }

        let state = get(&q, "state")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{name}: missing `state`"))?;

        let code_challenge = if requires_pkce(p) {
            let ch = get(&q, "code_challenge")
                .ok_or_else(|| format!("{name}: missing `code_challenge` (PKCE is required)"))?;
            match get(&q, "code_challenge_method") {
                Some("S256") => {}
                other => {
                    return Err(format!("{name}: code_challenge_method must be S256, got {other:?}"));
                }
            }
            if ch.len() != 43 || !ch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(format!(
                    "{name}: code_challenge {ch:?} is not a base64url SHA-256 digest"
                ));
            }
            Some(ch.to_string())
        } else {
            None
        };

        let offline = get(&q, "access_type") == Some("offline");
        if p == "youtube" && !offline {
            return Err(format!(
                "{name}: access_type=offline is required (got {:?})",
                get(&q, "access_type")
            ));
        }
        let prompt_consent = get(&q, "prompt").is_some_and(|v| v.split(' ').any(|x| x == "consent"));

        Ok(AuthRequest {
            platform: p,
            client_id: client.to_string(),
            redirect_uri: redirect_uri.to_string(),
            state: state.to_string(),
            scopes,
            code_challenge,
            offline,
            prompt_consent,
        })
    }

    fn approve_callback(&mut self, req: &AuthRequest) -> String {
        let p = req.platform;
        let code = self.mint(p, "code");
        let user = self.st(p).identity.clone();
        self.codes.insert(
            code.clone(),
            AuthCode {
                platform: p,
                client_id: req.client_id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                code_challenge: req.code_challenge.clone(),
                scopes: req.scopes.clone(),
                user,
                offline: req.offline,
                prompt_consent: req.prompt_consent,
                used: false,
            },
        );
        let scopes = req.scopes.join(&scope_separator(p).to_string());
        let mut params: Vec<(&str, &str)> = vec![("code", &code), ("state", &req.state)];
        match p {
            "tiktok" => params.push(("scopes", &scopes)),
            "youtube" => params.push(("scope", &scopes)),
            _ => {}
        }
        with_query(&req.redirect_uri, &params)
    }

    fn consent_page(&mut self, r: &RecordedRequest) -> Response {
        let url = if r.raw_query.is_empty() {
            format!("{}{}", self.base, r.path)
        } else {
            format!("{}{}?{}", self.base, r.path, r.raw_query)
        };
        let req = match self.validate_authorize(&url) {
            Ok(req) => req,
            Err(e) => {
                let body = format!(
                    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Error</title></head>\
                     <body><h1>Something went wrong</h1><p id=\"error\">{}</p></body></html>",
                    html_escape(&e)
                );
                return (StatusCode::BAD_REQUEST, Html(body)).into_response();
            }
        };
        let p = req.platform;
        let name = display_name(p);
        let user = self.st(p).identity.clone();
        let approve = self.approve_callback(&req);
        let deny = deny_callback(&req);
        let scopes: String = req
            .scopes
            .iter()
            .map(|s| format!("<li>{}</li>", html_escape(s)))
            .collect();
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{name} — Authorize {client}</title></head>\
             <body><h1>{name}</h1>\
             <p><b>{client}</b> wants to access your {name} account <b>{uname}</b> ({display}).</p>\
             <ul id=\"scopes\">{scopes}</ul>\
             <a id=\"approve\" href=\"{approve}\">Allow</a> \
             <a id=\"deny\" href=\"{deny}\">Cancel</a>\
             </body></html>",
            client = html_escape(&req.client_id),
            uname = html_escape(&user.username),
            display = html_escape(&user.name),
            approve = html_escape(&approve),
            deny = html_escape(&deny),
        );
        Html(body).into_response()
    }

    // --- routing ---

    fn route(&mut self, r: &RecordedRequest) -> Response {
        let Some(p) = find_platform(&r.platform) else {
            return not_found(r);
        };
        let rest = &r.path[p.len() + 1..];
        let m = r.method.as_str();
        if rest == "/authorize" {
            return if m == "GET" {
                self.consent_page(r)
            } else {
                method_not_allowed(r, "GET")
            };
        }
        if rest == "/files/photo.jpg" {
            return ([(header::CONTENT_TYPE, "image/jpeg")], publishing::JPEG.to_vec()).into_response();
        }
        if rest == "/files/busy.jpg" {
            // A file host that is down for now.
            return (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response();
        }
        if rest.starts_with("/static/") {
            let png = STANDARD.decode(PIXEL_PNG).expect("png");
            return ([(header::CONTENT_TYPE, "image/png")], png).into_response();
        }
        if rest == token_path(p) {
            return self.token_endpoint(p, r);
        }
        if (p == "linkedin" && rest == "/oauth/v2/revoke") || (p == "youtube" && rest == "/revoke") {
            if m != "POST" {
                return method_not_allowed(r, "POST");
            }
            return if p == "linkedin" {
                self.linkedin_revoke(r)
            } else {
                self.google_revoke(r)
            };
        }
        if p == "linkedin" && rest.starts_with("/dms-uploads/") {
            // Upload URLs live outside the API host, as LinkedIn's do.
            return self.publishing(p, rest, r).unwrap_or_else(|| not_found(r));
        }
        if let Some(api) = rest.strip_prefix("/api") {
            return self.api(p, api, r);
        }
        not_found(r)
    }

    fn api(&mut self, p: &'static str, path: &str, r: &RecordedRequest) -> Response {
        if let Some(resp) = self.publishing(p, path, r) {
            return resp;
        }
        let m = r.method.as_str();
        let meta_path = strip_graph_version(path);
        match (p, m) {
            ("facebook", "GET") if meta_path == "/me" => self.facebook_me(r),
            ("facebook", "GET") if meta_path == "/me/accounts" => self.facebook_accounts(r),
            ("facebook", "DELETE") if meta_path.ends_with("/permissions") => {
                let who = meta_path.trim_end_matches("/permissions").trim_start_matches('/');
                self.facebook_revoke(who, r)
            }
            ("instagram" | "threads", "GET") if meta_path == "/me" => self.meta_me(p, r),
            ("instagram" | "threads", "GET") if meta_path == "/access_token" => self.meta_long_lived(p, r),
            ("instagram" | "threads", "GET") if meta_path == "/refresh_access_token" => self.meta_refresh(p, r),
            ("tiktok", "GET") if path == "/v2/user/info/" || path == "/v2/user/info" => self.tiktok_user_info(r),
            ("tiktok", "POST") if path == "/v2/oauth/revoke/" || path == "/v2/oauth/revoke" => self.tiktok_revoke(r),
            ("linkedin", "GET") if path == "/v2/userinfo" => self.linkedin_userinfo(r),
            ("linkedin", "GET") if path == "/rest/organizationAcls" => self.linkedin_acls(r),
            ("linkedin", "GET") if path.starts_with("/rest/organizations/") => {
                let id = path.trim_start_matches("/rest/organizations/").to_string();
                self.linkedin_org(&id, r)
            }
            ("youtube", "GET") if path == "/youtube/v3/channels" => self.youtube_channels(r),
            ("twitter", "GET") if path == "/2/users/me" => self.twitter_me(r),
            ("twitter", "POST") if path == "/2/oauth2/revoke" => self.twitter_revoke(r),
            _ => not_found(r),
        }
    }

    // --- token endpoint ---

    fn token_endpoint(&mut self, p: &'static str, r: &RecordedRequest) -> Response {
        if p == "facebook" {
            if r.method != "GET" {
                return method_not_allowed(r, "GET");
            }
            if r.query_param("grant_type") == Some("fb_exchange_token") {
                return self.facebook_long_lived(r);
            }
            return match self.exchange_code(p, &r.query, None) {
                Ok(v) => ok(v),
                Err(e) => token_error(p, false, e),
            };
        }
        if r.method != "POST" {
            return method_not_allowed(r, "POST");
        }
        if !r.is_form() {
            return token_error(
                p,
                false,
                OErr::new(
                    ErrKind::Request,
                    "Content-Type must be application/x-www-form-urlencoded",
                ),
            );
        }
        match r.form_param("grant_type") {
            Some("authorization_code") => match self.exchange_code(p, &r.form, r.basic()) {
                Ok(v) => ok(v),
                Err(e) => token_error(p, false, e),
            },
            Some("refresh_token") if matches!(p, "tiktok" | "linkedin" | "youtube" | "twitter") => {
                match self.refresh(p, &r.form, r.basic()) {
                    Ok(v) => ok(v),
                    Err(e) => token_error(p, true, e),
                }
            }
            other => token_error(
                p,
                false,
                OErr::new(
                    ErrKind::UnsupportedGrantType,
                    format!("Unsupported grant_type {other:?}"),
                ),
            ),
        }
    }

    fn client_auth(&self, p: &str, params: &[(String, String)], basic: Option<(String, String)>) -> Result<(), OErr> {
        let (id, secret) = match p {
            "twitter" => {
                let Some((id, secret)) = basic else {
                    return Err(OErr::new(ErrKind::Client, "Missing valid authorization header"));
                };
                if let Some(body_id) = get(params, "client_id")
                    && body_id != id
                {
                    return Err(OErr::new(ErrKind::Client, "client_id mismatch"));
                }
                (Some(id), Some(secret))
            }
            "youtube" if basic.is_some() => {
                let (id, secret) = basic.expect("checked");
                (Some(id), Some(secret))
            }
            _ => (
                get(params, client_id_param(p)).map(str::to_string),
                get(params, "client_secret").map(str::to_string),
            ),
        };
        let id_ok = id.as_deref() == Some(FakeProvider::client_id(p).as_str());
        let secret_ok = secret.as_deref() == Some(FakeProvider::client_secret(p).as_str());
        if !id_ok {
            let msg = match p {
                "facebook" | "threads" | "instagram" => "Error validating application. Invalid application ID.",
                "youtube" => "The OAuth client was not found.",
                "linkedin" => "Client authentication failed",
                "twitter" => "Missing valid authorization header",
                _ => "Client key is invalid.",
            };
            return Err(OErr::new(ErrKind::Client, msg).meta(101, None));
        }
        if !secret_ok {
            let msg = match p {
                "facebook" | "threads" | "instagram" => "Error validating client secret.",
                "youtube" => "Unauthorized",
                "linkedin" => "Client authentication failed",
                "twitter" => "Missing valid authorization header",
                _ => "Client secret is invalid.",
            };
            return Err(OErr::new(ErrKind::Client, msg).meta(1, None));
        }
        Ok(())
    }

    fn exchange_code(
        &mut self,
        p: &'static str,
        params: &[(String, String)],
        basic: Option<(String, String)>,
    ) -> Result<Value, OErr> {
        self.client_auth(p, params, basic)?;
        if self.st(p).fail_token_exchange {
            return Err(OErr::new(ErrKind::Grant, invalid_code_message(p)));
        }
        let code = get(params, "code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OErr::new(ErrKind::Request, "Missing required parameter: code"))?;
        let Some(ac) = self.codes.get(code).filter(|c| c.platform == p) else {
            return Err(OErr::new(ErrKind::Grant, invalid_code_message(p)));
        };
        if ac.used {
            let msg = match p {
                "facebook" | "threads" => "This authorization code has been used.",
                "instagram" => "This authorization code has been used",
                _ => invalid_code_message(p),
            };
            return Err(OErr::new(ErrKind::Grant, msg).meta(100, Some(36009)));
        }
        let redirect = get(params, "redirect_uri");
        if redirect != Some(ac.redirect_uri.as_str()) {
            let msg = match p {
                "facebook" | "threads" | "instagram" => {
                    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"
                }
                "youtube" => "Bad Request",
                _ => invalid_code_message(p),
            };
            return Err(OErr::new(ErrKind::Redirect, msg));
        }
        if let Some(challenge) = &ac.code_challenge {
            let Some(verifier) = get(params, "code_verifier") else {
                let msg = if p == "youtube" {
                    "Missing code verifier."
                } else {
                    "Missing required parameter [code_verifier]."
                };
                return Err(OErr::new(ErrKind::Grant, msg));
            };
            if !valid_verifier(verifier) || s256(verifier) != *challenge {
                let msg = if p == "youtube" {
                    "Invalid code verifier."
                } else {
                    "Value passed for the code verifier was invalid."
                };
                return Err(OErr::new(ErrKind::Grant, msg));
            }
        }
        let ac = self.codes.get_mut(code).expect("code present");
        ac.used = true;
        let user = ac.user.clone();
        let scopes = ac.scopes.clone();
        let offline = ac.offline;
        let prompt_consent = ac.prompt_consent;

        self.grants.push(Grant {
            platform: p,
            user: user.clone(),
            scopes: scopes.clone(),
        });
        let grant = self.grants.len() - 1;
        let expires_in = self.st(p).expires_in;
        let issue_refresh = self.st(p).issue_refresh_tokens;
        let body = match p {
            "facebook" => {
                let at = self.issue(p, grant, TokenKind::Access, false);
                json!({ "access_token": at, "token_type": "bearer", "expires_in": META_SHORT_LIVED_SECS })
            }
            "instagram" => {
                let at = self.issue(p, grant, TokenKind::Access, false);
                if self.st(p).instagram_wrapped {
                    json!({ "data": [{
                        "access_token": at,
                        "user_id": id_json(&user.id),
                        "permissions": scopes.join(","),
                    }]})
                } else {
                    json!({ "access_token": at, "user_id": id_json(&user.id), "permissions": scopes })
                }
            }
            "threads" => {
                let at = self.issue(p, grant, TokenKind::Access, false);
                json!({ "access_token": at, "user_id": id_json(&user.id) })
            }
            "tiktok" => {
                let at = self.issue(p, grant, TokenKind::Access, true);
                let mut v = json!({
                    "access_token": at,
                    "expires_in": expires_in,
                    "open_id": user.id,
                    "scope": scopes.join(","),
                    "token_type": "Bearer",
                });
                if issue_refresh {
                    v["refresh_token"] = json!(self.issue(p, grant, TokenKind::Refresh, true));
                    v["refresh_expires_in"] = json!(REFRESH_TOKEN_LIFETIME_SECS);
                }
                v
            }
            "linkedin" => {
                let at = self.issue(p, grant, TokenKind::Access, true);
                let mut v = json!({
                    "access_token": at,
                    "expires_in": expires_in,
                    "scope": scopes.join(","),
                    "token_type": "Bearer",
                });
                if issue_refresh {
                    v["refresh_token"] = json!(self.issue(p, grant, TokenKind::Refresh, true));
                    v["refresh_token_expires_in"] = json!(REFRESH_TOKEN_LIFETIME_SECS);
                }
                v
            }
            "youtube" => {
                let at = self.issue(p, grant, TokenKind::Access, true);
                let first = self.st_mut(p).consented.insert(user.id.clone());
                let mut v = json!({
                    "access_token": at,
                    "expires_in": expires_in,
                    "scope": scopes.join(" "),
                    "token_type": "Bearer",
                });
                if offline && (prompt_consent || first) {
                    v["refresh_token"] = json!(self.issue(p, grant, TokenKind::Refresh, true));
                }
                v
            }
            _ => {
                let at = self.issue(p, grant, TokenKind::Access, true);
                let mut v = json!({
                    "token_type": "bearer",
                    "expires_in": expires_in,
                    "access_token": at,
                    "scope": scopes.join(" "),
                });
                if scopes.iter().any(|s| s == "offline.access") {
                    v["refresh_token"] = json!(self.issue(p, grant, TokenKind::Refresh, true));
                }
                v
            }
        };
        Ok(body)
    }

    fn refresh(
        &mut self,
        p: &'static str,
        params: &[(String, String)],
        basic: Option<(String, String)>,
    ) -> Result<Value, OErr> {
        self.client_auth(p, params, basic)?;
        let rt = get(params, "refresh_token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OErr::new(ErrKind::Request, "Missing required parameter: refresh_token"))?;
        if let Some(revoked) = self.st(p).reject_refresh {
            let kind = if revoked { ErrKind::Revoked } else { ErrKind::Grant };
            return Err(OErr::new(kind, refresh_rejected_message(p, revoked)));
        }
        let Some(i) = self
            .tokens
            .iter()
            .position(|t| t.value == rt && t.platform == p && t.kind == TokenKind::Refresh)
        else {
            return Err(OErr::new(ErrKind::Grant, refresh_rejected_message(p, false)));
        };
        match self.tokens[i].state {
            TokenState::Valid => {}
            TokenState::Revoked => {
                return Err(OErr::new(ErrKind::Revoked, refresh_rejected_message(p, true)));
            }
            TokenState::Expired | TokenState::Rotated => {
                return Err(OErr::new(ErrKind::Grant, refresh_rejected_message(p, false)));
            }
        }
        let grant = self.tokens[i].grant;
        let scopes = self.grants[grant].scopes.clone();
        let open_id = self.grants[grant].user.id.clone();
        let expires_in = self.st(p).expires_in;
        let at = self.issue(p, grant, TokenKind::Access, true);
        let body = match p {
            "tiktok" => {
                // TikTok may hand out a new refresh token; the old one stays usable.
                let new_rt = self.issue(p, grant, TokenKind::Refresh, true);
                json!({
                    "access_token": at,
                    "expires_in": expires_in,
                    "open_id": open_id,
                    "refresh_token": new_rt,
                    "refresh_expires_in": REFRESH_TOKEN_LIFETIME_SECS,
                    "scope": scopes.join(","),
                    "token_type": "Bearer",
                })
            }
            "linkedin" => json!({
                "access_token": at,
                "expires_in": expires_in,
                "refresh_token": rt,
                "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_SECS - 86_400,
                "scope": scopes.join(","),
                "token_type": "Bearer",
            }),
            "youtube" => json!({
                "access_token": at,
                "expires_in": expires_in,
                "scope": scopes.join(" "),
                "token_type": "Bearer",
            }),
            _ => {
                // X rotates: the presented refresh token stops working.
                self.tokens[i].state = TokenState::Rotated;
                let new_rt = self.issue(p, grant, TokenKind::Refresh, true);
                json!({
                    "token_type": "bearer",
                    "expires_in": expires_in,
                    "access_token": at,
                    "scope": scopes.join(" "),
                    "refresh_token": new_rt,
                })
            }
        };
        Ok(body)
    }

    // --- Meta long-lived exchange and refresh ---

    fn long_lived_response(&mut self, p: &'static str, grant: usize) -> Response {
        let at = self.issue(p, grant, TokenKind::Access, true);
        ok(json!({ "access_token": at, "token_type": "bearer", "expires_in": self.st(p).expires_in }))
    }

    fn meta_refresh_rejection(p: &str, revoked: bool) -> Response {
        if revoked {
            auth_error(p, AuthFail::Revoked)
        } else {
            auth_error(p, AuthFail::Expired)
        }
    }

    fn facebook_long_lived(&mut self, r: &RecordedRequest) -> Response {
        let p = "facebook";
        if let Err(e) = self.client_auth(p, &r.query, None) {
            return token_error(p, false, e);
        }
        let presented = r.query_param("fb_exchange_token");
        let i = match self.check_access(p, presented) {
            Ok(i) => i,
            Err(AuthFail::Missing) => {
                return meta_err(100, None, "Missing required parameter: fb_exchange_token");
            }
            Err(f) => return auth_error(p, f),
        };
        if self.tokens[i].kind == TokenKind::Page {
            return meta_err(100, None, "Only User access tokens can be exchanged");
        }
        if self.tokens[i].long_lived {
            if let Some(revoked) = self.st(p).reject_refresh {
                return Self::meta_refresh_rejection(p, revoked);
            }
        } else if self.st(p).fail_long_lived_exchange {
            return meta_err(1, None, "An unknown error has occurred.");
        }
        let grant = self.tokens[i].grant;
        self.long_lived_response(p, grant)
    }

    fn meta_long_lived(&mut self, p: &'static str, r: &RecordedRequest) -> Response {
        let expected = if p == "instagram" {
            "ig_exchange_token"
        } else {
            "th_exchange_token"
        };
        if r.query_param("grant_type") != Some(expected) {
            return meta_err(
                100,
                None,
                &format!("Unsupported grant_type {:?}", r.query_param("grant_type")),
            );
        }
        if r.query_param("client_secret") != Some(FakeProvider::client_secret(p).as_str()) {
            return meta_err(1, None, "Error validating client secret.");
        }
        let i = match self.check_access(p, r.query_param("access_token")) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        if self.st(p).fail_long_lived_exchange {
            return meta_err(1, None, "An unknown error has occurred.");
        }
        let grant = self.tokens[i].grant;
        self.long_lived_response(p, grant)
    }

    fn meta_refresh(&mut self, p: &'static str, r: &RecordedRequest) -> Response {
        let expected = if p == "instagram" {
            "ig_refresh_token"
        } else {
            "th_refresh_token"
        };
        if r.query_param("grant_type") != Some(expected) {
            return meta_err(
                100,
                None,
                &format!("Unsupported grant_type {:?}", r.query_param("grant_type")),
            );
        }
        let i = match self.check_access(p, r.query_param("access_token")) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        if let Some(revoked) = self.st(p).reject_refresh {
            return Self::meta_refresh_rejection(p, revoked);
        }
        if !self.tokens[i].long_lived {
            return meta_err(100, None, "Only long-lived access tokens can be refreshed.");
        }
        let grant = self.tokens[i].grant;
        self.long_lived_response(p, grant)
    }

    // --- identity ---

    /// Common prologue of identity endpoints: the fail knob, then the token.
    #[allow(clippy::result_large_err)] // a ready response is the natural error here
    fn identity_token(&self, p: &str, token: Option<&str>) -> Result<usize, Response> {
        if let Some(status) = self.st(p).fail_identity {
            return Err(platform_failure(p, status));
        }
        self.check_access(p, token).map_err(|f| auth_error(p, f))
    }

    fn facebook_me(&mut self, r: &RecordedRequest) -> Response {
        let p = "facebook";
        let i = match self.identity_token(p, r.meta_token()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let grant = &self.grants[self.tokens[i].grant];
        let (id, name, node) = match &self.tokens[i].page_id {
            Some(page_id) => {
                let name = self
                    .st(p)
                    .placements
                    .iter()
                    .find(|x| &x.id == page_id)
                    .map(|x| x.name.clone())
                    .unwrap_or_default();
                (page_id.clone(), name, "Page")
            }
            None => (grant.user.id.clone(), grant.user.name.clone(), "User"),
        };
        let has_email = grant.has_scope("email");
        let username = grant.user.username.clone();
        let mut out = serde_json::Map::new();
        for f in requested_fields(r, "fields", &["id", "name"]) {
            let v = match f.as_str() {
                "id" => json!(id),
                "name" => json!(name),
                "first_name" => json!(name.split(' ').next().unwrap_or("")),
                "last_name" => json!(name.rsplit(' ').next().unwrap_or("")),
                "short_name" => json!(name.split(' ').next().unwrap_or("")),
                "picture" => json!({ "data": {
                    "height": 50, "width": 50, "is_silhouette": false,
                    "url": self.picture_url(p, &id),
                }}),
                "email" if node == "User" => {
                    if !has_email {
                        continue;
                    }
                    json!(format!("{username}@example.com"))
                }
                other => {
                    return meta_err(
                        100,
                        None,
                        &format!("(#100) Tried accessing nonexisting field ({other}) on node type ({node})"),
                    );
                }
            };
            out.insert(f, v);
        }
        out.entry("id").or_insert(json!(id));
        ok(Value::Object(out))
    }

    fn facebook_accounts(&mut self, r: &RecordedRequest) -> Response {
        let p = "facebook";
        let i = match self.check_access(p, r.meta_token()) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        if self.st(p).fail_placements {
            return platform_failure(p, 500);
        }
        if self.tokens[i].kind == TokenKind::Page {
            return meta_err(
                100,
                None,
                "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
            );
        }
        let user_token = self.tokens[i].value.clone();
        let grant = self.tokens[i].grant;
        let pages = if self.grants[grant].has_scope("pages_show_list") {
            self.st(p).placements.clone()
        } else {
            Vec::new()
        };
        let fields = requested_fields(
            r,
            "fields",
            &["access_token", "category", "category_list", "name", "id", "tasks"],
        );
        let mut data = Vec::new();
        for page in pages {
            let key = (user_token.clone(), page.id.clone());
            let page_token = match self.page_tokens.get(&key) {
                Some(t) => t.clone(),
                None => {
                    let t = self.issue(p, grant, TokenKind::Page, true);
                    self.tokens.last_mut().expect("just issued").page_id = Some(page.id.clone());
                    self.page_tokens.insert(key, t.clone());
                    t
                }
            };
            let mut obj = serde_json::Map::new();
            for f in &fields {
                let v = match f.as_str() {
                    "id" => json!(page.id),
                    "name" => json!(page.name),
                    "access_token" => json!(page_token),
                    "username" => json!(page.username),
                    "link" => json!(format!("https://www.facebook.com/{}", page.username)),
                    "category" => json!("Software"),
                    "category_list" => json!([{ "id": "2211", "name": "Software" }]),
                    "tasks" => json!([
                        "ADVERTISE",
                        "ANALYZE",
                        "CREATE_CONTENT",
                        "MESSAGING",
                        "MODERATE",
                        "MANAGE"
                    ]),
                    "picture" => json!({ "data": {
                        "height": 50, "width": 50, "is_silhouette": false,
                        "url": self.picture_url(p, &page.id),
                    }}),
                    other => {
                        return meta_err(
                            100,
                            None,
                            &format!("(#100) Tried accessing nonexisting field ({other}) on node type (Page)"),
                        );
                    }
                };
                obj.insert(f.clone(), v);
            }
            obj.entry("id").or_insert(json!(page.id));
            data.push(Value::Object(obj));
        }
        ok(json!({
            "data": data,
            "paging": { "cursors": { "before": "QVFIUmZAha2VCZA", "after": "QVFIUkZAhbmRfMQ" } },
        }))
    }

    fn facebook_revoke(&mut self, who: &str, r: &RecordedRequest) -> Response {
        let p = "facebook";
        let i = match self.check_access(p, r.meta_token()) {
            Ok(i) => i,
            Err(f) => return auth_error(p, f),
        };
        let user_id = self.grants[self.tokens[i].grant].user.id.clone();
        if who != "me" && who != user_id {
            return meta_err(100, None, "(#100) Only the current user's permissions can be revoked");
        }
        let grants: HashSet<usize> = self
            .grants
            .iter()
            .enumerate()
            .filter(|(_, g)| g.platform == p && g.user.id == user_id)
            .map(|(n, _)| n)
            .collect();
        self.revoke_where(|t| grants.contains(&t.grant));
        ok(json!({ "success": true }))
    }

    fn meta_me(&mut self, p: &'static str, r: &RecordedRequest) -> Response {
        let i = match self.identity_token(p, r.meta_token()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let user = self.grants[self.tokens[i].grant].user.clone();
        let picture = self.picture_url(p, &user.id);
        let mut out = serde_json::Map::new();
        for f in requested_fields(r, "fields", &["id"]) {
            let v = match (p, f.as_str()) {
                (_, "id") => json!(user.id),
                (_, "username") => json!(user.username),
                (_, "name") => json!(user.name),
                ("instagram", "user_id") => json!(user.id),
                ("instagram", "profile_picture_url") => json!(picture),
                ("instagram", "account_type") => json!("BUSINESS"),
                ("instagram", "followers_count" | "follows_count" | "media_count") => json!(0),
                ("threads", "threads_profile_picture_url") => json!(picture),
                ("threads", "threads_biography") => json!(""),
                (_, other) => {
                    let node = if p == "instagram" { "IGUser" } else { "ThreadsUser" };
                    return meta_err(
                        100,
                        None,
                        &format!("(#100) Tried accessing nonexisting field ({other}) on node type ({node})"),
                    );
                }
            };
            out.insert(f, v);
        }
        out.entry("id").or_insert(json!(user.id));
        ok(Value::Object(out))
    }

    fn tiktok_user_info(&mut self, r: &RecordedRequest) -> Response {
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

    fn tiktok_revoke(&mut self, r: &RecordedRequest) -> Response {
        let p = "tiktok";
        if !r.is_form() {
            return tiktok_oauth_err(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
            );
        }
        if let Err(e) = self.client_auth(p, &r.form, None) {
            return token_error(p, false, e);
        }
        let Some(token) = r.form_param("token").filter(|t| !t.is_empty()) else {
            return tiktok_oauth_err(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: token",
            );
        };
        if let Some(t) = self.tokens.iter().find(|t| t.platform == p && t.value == token) {
            let grant = t.grant;
            self.revoke_grant(grant);
        }
        StatusCode::OK.into_response()
    }

    fn linkedin_userinfo(&mut self, r: &RecordedRequest) -> Response {
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
    fn linkedin_rest_prologue(&self, r: &RecordedRequest) -> Result<usize, Response> {
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

    fn linkedin_acls(&mut self, r: &RecordedRequest) -> Response {
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

    fn linkedin_org(&mut self, id: &str, r: &RecordedRequest) -> Response {
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

    fn linkedin_revoke(&mut self, r: &RecordedRequest) -> Response {
        let p = "linkedin";
        if !r.is_form() {
            return oauth_err(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
            );
        }
        if let Err(e) = self.client_auth(p, &r.form, None) {
            return token_error(p, false, e);
        }
        let Some(token) = r.form_param("token").filter(|t| !t.is_empty()) else {
            return oauth_err(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: token",
            );
        };
        if let Some(t) = self.tokens.iter().find(|t| t.platform == p && t.value == token) {
            let grant = t.grant;
            self.revoke_grant(grant);
        }
        StatusCode::OK.into_response()
    }

    fn youtube_channels(&mut self, r: &RecordedRequest) -> Response {
        let p = "youtube";
        let i = match self.identity_token(p, r.bearer()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let grant = &self.grants[self.tokens[i].grant];
        let readable = [
            "https://www.googleapis.com/auth/youtube.readonly",
            "https://www.googleapis.com/auth/youtube",
            "https://www.googleapis.com/auth/youtube.force-ssl",
        ]
        .iter()
        .any(|s| grant.has_scope(s));
        if !readable {
            return google_api_err(
                StatusCode::FORBIDDEN,
                "Request had insufficient authentication scopes.",
                "insufficientPermissions",
                "PERMISSION_DENIED",
            );
        }
        let parts: Vec<&str> = r.query_param("part").unwrap_or("").split(',').map(str::trim).collect();
        if parts.iter().all(|x| x.is_empty()) {
            return google_api_err(
                StatusCode::BAD_REQUEST,
                "No filter selected. Expected one of: mySubscribers, forUsername, managedByMe, mine, id, idParam, forHandle",
                "missingRequiredParameter",
                "INVALID_ARGUMENT",
            );
        }
        if r.query_param("mine") != Some("true") {
            return google_api_err(
                StatusCode::BAD_REQUEST,
                "No filter selected. Expected one of: mySubscribers, forUsername, managedByMe, mine, id, idParam, forHandle",
                "missingRequiredParameter",
                "INVALID_ARGUMENT",
            );
        }
        let user = grant.user.clone();
        if !self.st(p).youtube_has_channel {
            return ok(json!({
                "kind": "youtube#channelListResponse",
                "etag": "fake-etag-empty",
                "pageInfo": { "totalResults": 0, "resultsPerPage": 5 },
            }));
        }
        let thumb = self.picture_url(p, &user.id);
        let mut item = json!({ "kind": "youtube#channel", "etag": "fake-etag", "id": user.id });
        if parts.contains(&"snippet") {
            item["snippet"] = json!({
                "title": user.name,
                "description": "",
                "customUrl": format!("@{}", user.username),
                "publishedAt": "2020-01-01T00:00:00Z",
                "thumbnails": {
                    "default": { "url": thumb, "width": 88, "height": 88 },
                    "medium": { "url": thumb, "width": 240, "height": 240 },
                    "high": { "url": thumb, "width": 800, "height": 800 },
                },
                "localized": { "title": user.name, "description": "" },
            });
        }
        ok(json!({
            "kind": "youtube#channelListResponse",
            "etag": "fake-etag-list",
            "pageInfo": { "totalResults": 1, "resultsPerPage": 5 },
            "items": [item],
        }))
    }

    fn google_revoke(&mut self, r: &RecordedRequest) -> Response {
        let p = "youtube";
        let token = r.form_param("token").or_else(|| r.query_param("token"));
        let found = token.and_then(|tok| {
            self.tokens
                .iter()
                .find(|t| t.platform == p && t.value == tok && t.state == TokenState::Valid)
                .map(|t| t.grant)
        });
        match found {
            Some(grant) => {
                self.revoke_grant(grant);
                ok(json!({}))
            }
            None => oauth_err(StatusCode::BAD_REQUEST, "invalid_token", "Token expired or revoked"),
        }
    }

    fn twitter_me(&mut self, r: &RecordedRequest) -> Response {
        let p = "twitter";
        let i = match self.identity_token(p, r.bearer()) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let grant = &self.grants[self.tokens[i].grant];
        if !grant.has_scope("users.read") || !grant.has_scope("tweet.read") {
            return x_api_err(StatusCode::FORBIDDEN, "Forbidden");
        }
        let user = grant.user.clone();
        let mut data = json!({ "id": user.id, "name": user.name, "username": user.username });
        if let Some(fields) = r.query_param("user.fields") {
            for f in fields.split(',').map(str::trim) {
                match f {
                    "profile_image_url" => {
                        data[f] = json!(format!("{}/{}/static/{}_normal.png", self.base, p, user.id));
                    }
                    "description" => data[f] = json!(""),
                    "verified" | "protected" => data[f] = json!(false),
                    "created_at" => data[f] = json!("2020-01-01T00:00:00.000Z"),
                    "" => {}
                    other => {
                        return json_resp(
                            StatusCode::BAD_REQUEST,
                            json!({
                                "errors": [{
                                    "parameters": { "user.fields": [fields] },
                                    "message": format!("The `user.fields` query parameter value [{other}] is not one of [...]"),
                                }],
                                "title": "Invalid Request",
                                "detail": "One or more parameters to your request was invalid.",
                                "type": "https://api.twitter.com/2/problems/invalid-request",
                            }),
                        );
                    }
                }
            }
        }
        ok(json!({ "data": data }))
    }

    fn twitter_revoke(&mut self, r: &RecordedRequest) -> Response {
        let p = "twitter";
        if !r.is_form() {
            return oauth_err(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
            );
        }
        if let Err(e) = self.client_auth(p, &r.form, r.basic()) {
            return token_error(p, false, e);
        }
        let Some(token) = r.form_param("token").filter(|t| !t.is_empty()) else {
            return oauth_err(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter [token].",
            );
        };
        let token = token.to_string();
        self.revoke_where(|t| t.platform == p && t.value == token);
        ok(json!({ "revoked": true }))
    }
}

// ---------------------------------------------------------------------------------------------
// Self-tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests;
