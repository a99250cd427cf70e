//! A fake of the seven platforms of `docs/platforms.md` (OAuth, identity, revocation and
//! publishing), served by axum on 127.0.0.1 inside the test binary. It speaks each platform's
//! request and response formats (methods, client authentication, PKCE, error shapes) so the
//! connection flow, token refresh and publishing can be tested end to end, and it records every
//! request it receives.
//!
//! One room per platform, as in `src/platforms/`: each platform's file (`facebook.rs`, `x.rs`, …)
//! opens with its `SPEC` (OAuth quirks, words, error formats, token answers, routes) and holds its
//! identity, revocation and publishing handlers; `meta.rs` is what Meta's three share. This file
//! is the server, the recording, the shared state and the generic authorize and token endpoints
//! driven by the specs; `publishing.rs` the publishing helpers; `tests.rs` the fake's self-tests.
//! Adding a platform: its file with a `SPEC`, and its line in `SPECS`.
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
mod meta;
mod publishing;
mod threads;
mod tiktok;
mod x;
mod youtube;

pub use publishing::{FakePost, JPEG, Scripted, multipart_parts, sniff_image};

use meta::meta_err;

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

/// The fake platforms' path segments, in the registry's order.
pub const PLATFORMS: [&str; 7] = {
    let mut names = [""; 7];
    let mut i = 0;
    while i < SPECS.len() {
        names[i] = SPECS[i].name;
        i += 1;
    }
    names
};

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
        format!("{}/{}{}", self.base, p, spec(p).token_path)
    }

    pub fn api_url(&self, platform: &str) -> String {
        format!("{}/{}/api", self.base, check_platform(platform))
    }

    /// The revoke URL the server should derive (LinkedIn, YouTube) or use (`{api}/...`).
    pub fn revoke_url(&self, platform: &str) -> Option<String> {
        let p = check_platform(platform);
        match spec(p).revoke.as_ref()? {
            Revoke::Site(path) => Some(format!("{}/{p}{path}", self.base)),
            Revoke::Api(path) => Some(format!("{}{path}", self.api_url(p))),
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
// What each fake platform is
// ---------------------------------------------------------------------------------------------

/// What one fake platform is, as data: its OAuth quirks, its words and error formats, and its
/// routes. Each platform's file defines its `SPEC`; `spec` is the registry. The server, the
/// authorize and token endpoints and the token bookkeeping below are shared and read it.
struct FakeSpec {
    /// The first path segment (`twitter` for X).
    name: &'static str,
    label: &'static str,
    scope_separator: char,
    /// The client id's name in the authorize URL and token forms (`client_key` on TikTok).
    client_id_param: &'static str,
    /// The token endpoint under `{base}/<platform>`.
    token_path: &'static str,
    /// The token endpoint takes GET with a query (Facebook) rather than a POST form.
    token_by_get: bool,
    client_auth: ClientAuth,
    /// `expires_in` of access tokens (until `set_expires_in`).
    expires_in: i64,
    pkce: bool,
    /// `access_type=offline` must be asked for (Google, so that a refresh token is issued).
    requires_offline: bool,
    scopes: &'static [&'static str],
    /// The callback repeats the granted scopes under this name (TikTok `scopes`, Google `scope`).
    callback_scopes: Option<&'static str>,
    /// What the callback carries besides `error=access_denied` when the user cancels.
    denied: &'static [(&'static str, &'static str)],
    words: Words,
    /// Where the app's access is revoked.
    revoke: Option<Revoke>,
    /// Pages or organisations the user manages, until `set_placements`: (id, name, username).
    placements: &'static [(&'static str, &'static str, &'static str)],
    /// The answer to a code exchange.
    code_tokens: fn(&mut Inner, &Exchange) -> Value,
    /// The answer to the `refresh_token` grant; None where the platform has none (Meta renews
    /// its tokens on endpoints of its own).
    refresh_tokens: Option<fn(&mut Inner, &Renewal) -> Value>,
    /// A token-endpoint error in the platform's format (`refresh`: the refresh flavour).
    token_error: fn(&str, bool, OErr) -> Response,
    /// The answer to a missing, unknown, expired or revoked access token.
    auth_error: fn(&str, AuthFail) -> Response,
    /// The platform's generic server error (5xx).
    server_error: fn(StatusCode) -> Response,
    /// Requests under `{base}/<platform>/api` (identity, publishing, revocation).
    api: fn(&mut Inner, &str, &RecordedRequest) -> Option<Response>,
    /// Requests elsewhere under `{base}/<platform>` that the platform serves itself (revocation
    /// and upload hosts), seen before the shared authorize and token endpoints.
    site: fn(&mut Inner, &str, &RecordedRequest) -> Option<Response>,
}

/// How the token endpoint authenticates the client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    /// `client_id` (or `client_key`) and `client_secret` in the form or query.
    Body,
    /// HTTP Basic only (X); a `client_id` in the body must match.
    Basic,
    /// HTTP Basic or the body (Google).
    BasicOrBody,
}

/// Where a platform revokes access: a path under `{base}/<platform>` or under its API.
enum Revoke {
    Site(&'static str),
    Api(&'static str),
}

/// A platform's words for the token endpoint's refusals.
struct Words {
    bad_client_id: &'static str,
    bad_client_secret: &'static str,
    invalid_code: &'static str,
    used_code: &'static str,
    redirect_mismatch: &'static str,
    missing_verifier: &'static str,
    bad_verifier: &'static str,
    refresh_invalid: &'static str,
    refresh_revoked: &'static str,
}

impl Words {
    /// The plain OAuth words (a platform overrides what it says differently).
    const OAUTH: Words = Words {
        bad_client_id: "Client authentication failed",
        bad_client_secret: "Client authentication failed",
        invalid_code: "Invalid authorization code",
        used_code: "Invalid authorization code",
        redirect_mismatch: "Invalid authorization code",
        missing_verifier: "Missing required parameter [code_verifier].",
        bad_verifier: "Value passed for the code verifier was invalid.",
        refresh_invalid: "Refresh token is invalid or expired.",
        refresh_revoked: "Refresh token has been revoked by the user.",
    };
}

/// A code being exchanged, for the platform's token answer.
struct Exchange {
    p: &'static str,
    grant: usize,
    user: Identity,
    scopes: Vec<String>,
    offline: bool,
    prompt_consent: bool,
    expires_in: i64,
    issue_refresh: bool,
}

/// A refresh being granted: the new access token is issued, the presented refresh token is
/// `self.tokens[token]`.
struct Renewal {
    p: &'static str,
    token: usize,
    refresh_token: String,
    grant: usize,
    scopes: Vec<String>,
    open_id: String,
    expires_in: i64,
    access_token: String,
}

/// The registry: one line per platform.
const SPECS: [&FakeSpec; 7] = [
    &facebook::SPEC,
    &instagram::SPEC,
    &tiktok::SPEC,
    &linkedin::SPEC,
    &youtube::SPEC,
    &x::SPEC,
    &threads::SPEC,
];

fn spec(p: &str) -> &'static FakeSpec {
    SPECS
        .iter()
        .find(|s| s.name == p)
        .unwrap_or_else(|| panic!("fake provider: unknown platform {p:?}"))
}

fn no_site(_: &mut Inner, _: &str, _: &RecordedRequest) -> Option<Response> {
    None
}

fn check_platform(p: &str) -> &'static str {
    find_platform(p).unwrap_or_else(|| panic!("fake provider: unknown platform {p:?}"))
}

fn find_platform(p: &str) -> Option<&'static str> {
    PLATFORMS.iter().copied().find(|x| *x == p)
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
        let placements = spec(p)
            .placements
            .iter()
            .map(|(id, name, username)| Placement {
                id: id.to_string(),
                name: name.to_string(),
                username: username.to_string(),
            })
            .collect();
        PlatformState {
            identity: Identity {
                id: format!("{p}-user-1"),
                name: format!("Fake {} User", capitalize(p)),
                username: format!("fake_{p}"),
            },
            expires_in: spec(p).expires_in,
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
    containers: HashMap<String, meta::Container>,
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

fn oauth_err(status: StatusCode, error: &str, description: &str) -> Response {
    json_resp(status, json!({ "error": error, "error_description": description }))
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
    (spec(p).server_error)(status)
}

/// The platform's answer to a missing / invalid / expired / revoked access token.
fn auth_error(p: &str, fail: AuthFail) -> Response {
    (spec(p).auth_error)(p, fail)
}

/// Renders a token-endpoint error in the platform's format. `refresh` selects the refresh
/// flavour where the platform differs.
fn token_error(p: &str, refresh: bool, e: OErr) -> Response {
    (spec(p).token_error)(p, refresh, e)
}

fn deny_callback(req: &AuthRequest) -> String {
    let mut params: Vec<(&str, &str)> = vec![("error", "access_denied")];
    params.extend(spec(req.platform).denied.iter().copied());
    params.push(("state", &req.state));
    with_query(&req.redirect_uri, &params)
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

    /// RFC 7009 revocation as LinkedIn, TikTok and X serve it: a form, the client authenticated
    /// as at the token endpoint, a `token`. Returns the token presented; each platform decides
    /// what it revokes and answers. `refuse` renders the platform's `invalid_request`.
    #[allow(clippy::result_large_err)] // a ready response is the natural error here
    fn revocation_request(
        &self,
        p: &str,
        r: &RecordedRequest,
        refuse: fn(StatusCode, &str, &str) -> Response,
        missing_token: &str,
    ) -> Result<String, Response> {
        if !r.is_form() {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
        let basic = (spec(p).client_auth != ClientAuth::Body).then(|| r.basic()).flatten();
        self.client_auth(p, &r.form, basic)
            .map_err(|e| token_error(p, false, e))?;
        match r.form_param("token").filter(|t| !t.is_empty()) {
            Some(token) => Ok(token.to_string()),
            None => Err(refuse(StatusCode::BAD_REQUEST, "invalid_request", missing_token)),
        }
    }

    /// Revokes the whole grant a presented token belongs to (LinkedIn, TikTok).
    fn revoke_grant_of(&mut self, p: &str, token: &str) {
        if let Some(grant) = self
            .tokens
            .iter()
            .find(|t| t.platform == p && t.value == token)
            .map(|t| t.grant)
        {
            self.revoke_grant(grant);
        }
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
        let sp = spec(p);
        let name = sp.label;
        if u.path() != format!("/{p}/authorize") {
            return Err(format!("{name}: wrong authorize path {}", u.path()));
        }
        let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();

        let id_param = sp.client_id_param;
        let client = match get(&q, id_param) {
            Some(c) => c,
            None if id_param != "client_id" && get(&q, "client_id").is_some() => {
                return Err(format!("{name}: expects `{id_param}`, got `client_id`"));
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
        let sep = sp.scope_separator;
        let (sep_name, other) = if sep == ',' { ("comma", ' ') } else { ("space", ',') };
        if scope.contains(other) {
            return Err(format!("{name}: scope must be {sep_name}-separated, got {scope:?}"));
        }
        let scopes: Vec<String> = scope.split(sep).map(str::to_string).collect();
        for s in &scopes {
            if s.is_empty() {
                return Err(format!("{name}: empty item in scope {scope:?}"));
            }
            if !sp.scopes.contains(&s.as_str()) {
                return Err(format!("{name}: invalid scope {s:?}"));
            }
        }

        let state = get(&q, "state")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{name}: missing `state`"))?;

        let code_challenge = if sp.pkce {
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
        if sp.requires_offline && !offline {
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
        let scopes = req.scopes.join(&spec(p).scope_separator.to_string());
        let mut params: Vec<(&str, &str)> = vec![("code", &code), ("state", &req.state)];
        if let Some(name) = spec(p).callback_scopes {
            params.push((name, &scopes));
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
        let name = spec(p).label;
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
        if let Some(resp) = (spec(p).site)(self, rest, r) {
            return resp;
        }
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
        if rest == spec(p).token_path {
            return self.token_endpoint(p, r);
        }
        if let Some(api) = rest.strip_prefix("/api") {
            return (spec(p).api)(self, api, r).unwrap_or_else(|| not_found(r));
        }
        not_found(r)
    }

    // --- token endpoint ---

    fn token_endpoint(&mut self, p: &'static str, r: &RecordedRequest) -> Response {
        if spec(p).token_by_get {
            if r.method != "GET" {
                return method_not_allowed(r, "GET");
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
            Some("refresh_token") if spec(p).refresh_tokens.is_some() => match self.refresh(p, &r.form, r.basic()) {
                Ok(v) => ok(v),
                Err(e) => token_error(p, true, e),
            },
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
        let sp = spec(p);
        let (id, secret) = match (sp.client_auth, basic) {
            (ClientAuth::Basic, None) => {
                return Err(OErr::new(ErrKind::Client, "Missing valid authorization header"));
            }
            (ClientAuth::Basic, Some((id, secret))) => {
                if let Some(body_id) = get(params, "client_id")
                    && body_id != id
                {
                    return Err(OErr::new(ErrKind::Client, "client_id mismatch"));
                }
                (Some(id), Some(secret))
            }
            (ClientAuth::BasicOrBody, Some((id, secret))) => (Some(id), Some(secret)),
            (ClientAuth::Body | ClientAuth::BasicOrBody, _) => (
                get(params, sp.client_id_param).map(str::to_string),
                get(params, "client_secret").map(str::to_string),
            ),
        };
        if id.as_deref() != Some(FakeProvider::client_id(p).as_str()) {
            return Err(OErr::new(ErrKind::Client, sp.words.bad_client_id).meta(101, None));
        }
        if secret.as_deref() != Some(FakeProvider::client_secret(p).as_str()) {
            return Err(OErr::new(ErrKind::Client, sp.words.bad_client_secret).meta(1, None));
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
        let words = &spec(p).words;
        if self.st(p).fail_token_exchange {
            return Err(OErr::new(ErrKind::Grant, words.invalid_code));
        }
        let code = get(params, "code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OErr::new(ErrKind::Request, "Missing required parameter: code"))?;
        let Some(ac) = self.codes.get(code).filter(|c| c.platform == p) else {
            return Err(OErr::new(ErrKind::Grant, words.invalid_code));
        };
        if ac.used {
            return Err(OErr::new(ErrKind::Grant, words.used_code).meta(100, Some(36009)));
        }
        let redirect = get(params, "redirect_uri");
        if redirect != Some(ac.redirect_uri.as_str()) {
            return Err(OErr::new(ErrKind::Redirect, words.redirect_mismatch));
        }
        if let Some(challenge) = &ac.code_challenge {
            let Some(verifier) = get(params, "code_verifier") else {
                return Err(OErr::new(ErrKind::Grant, words.missing_verifier));
            };
            if !valid_verifier(verifier) || s256(verifier) != *challenge {
                return Err(OErr::new(ErrKind::Grant, words.bad_verifier));
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
        let exchange = Exchange {
            p,
            grant,
            user,
            scopes,
            offline,
            prompt_consent,
            expires_in: self.st(p).expires_in,
            issue_refresh: self.st(p).issue_refresh_tokens,
        };
        Ok((spec(p).code_tokens)(self, &exchange))
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
            let words = &spec(p).words;
            let msg = if revoked {
                words.refresh_revoked
            } else {
                words.refresh_invalid
            };
            return Err(OErr::new(kind, msg));
        }
        let Some(i) = self
            .tokens
            .iter()
            .position(|t| t.value == rt && t.platform == p && t.kind == TokenKind::Refresh)
        else {
            return Err(OErr::new(ErrKind::Grant, spec(p).words.refresh_invalid));
        };
        match self.tokens[i].state {
            TokenState::Valid => {}
            TokenState::Revoked => {
                return Err(OErr::new(ErrKind::Revoked, spec(p).words.refresh_revoked));
            }
            TokenState::Expired | TokenState::Rotated => {
                return Err(OErr::new(ErrKind::Grant, spec(p).words.refresh_invalid));
            }
        }
        let grant = self.tokens[i].grant;
        let scopes = self.grants[grant].scopes.clone();
        let open_id = self.grants[grant].user.id.clone();
        let expires_in = self.st(p).expires_in;
        let access_token = self.issue(p, grant, TokenKind::Access, true);
        let renewal = Renewal {
            p,
            token: i,
            refresh_token: rt.to_string(),
            grant,
            scopes,
            open_id,
            expires_in,
            access_token,
        };
        let answer = spec(p).refresh_tokens.expect("checked by the token endpoint");
        Ok(answer(self, &renewal))
    }

    // --- Meta long-lived exchange and refresh ---

    // --- identity ---

    /// Common prologue of identity endpoints: the fail knob, then the token.
    #[allow(clippy::result_large_err)] // a ready response is the natural error here
    fn identity_token(&self, p: &str, token: Option<&str>) -> Result<usize, Response> {
        if let Some(status) = self.st(p).fail_identity {
            return Err(platform_failure(p, status));
        }
        self.check_access(p, token).map_err(|f| auth_error(p, f))
    }
}

// ---------------------------------------------------------------------------------------------
// Self-tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests;
