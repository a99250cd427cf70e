//! The seven platforms: OAuth 2 clients (configuration, authorize URLs, code exchange, identity,
//! refresh, revocation) and their publishers, one module per platform family. Hand-written on reqwest (see docs/platforms.md for each platform's
//! contract): the platforms differ in exactly the places a generic client would hide.

mod google;
mod linkedin;
mod meta;
pub mod pkce;
pub mod publish;
pub mod quota;
mod tiktok;
mod x;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::domain::platform::Platform;

/// One platform's OAuth app and endpoints.
#[derive(Clone)]
pub struct ProviderConfig {
    pub platform: Platform,
    pub client_id: String,
    pub client_secret: String,
    pub authorize_url: String,
    pub token_url: String,
    /// Base of the platform's API, e.g. `https://api.x.com`.
    pub api_url: String,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("platform", &self.platform)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// Production endpoints and the scopes needed to publish.
pub fn defaults(p: Platform) -> (&'static str, &'static str, &'static str, &'static [&'static str]) {
    match p {
        Platform::Facebook => (
            "https://www.facebook.com/v21.0/dialog/oauth",
            "https://graph.facebook.com/v21.0/oauth/access_token",
            "https://graph.facebook.com/v21.0",
            &[
                "pages_show_list",
                "pages_manage_posts",
                "pages_read_engagement",
                "business_management",
                // first_comment, as the Page.
                "pages_manage_engagement",
            ],
        ),
        Platform::Instagram => (
            "https://www.instagram.com/oauth/authorize",
            "https://api.instagram.com/oauth/access_token",
            "https://graph.instagram.com",
            // manage_comments: the post's first_comment.
            &[
                "instagram_business_basic",
                "instagram_business_content_publish",
                "instagram_business_manage_comments",
            ],
        ),
        Platform::Tiktok => (
            "https://www.tiktok.com/v2/auth/authorize/",
            "https://open.tiktokapis.com/v2/oauth/token/",
            "https://open.tiktokapis.com",
            // `user.info.profile` carries the username since TikTok's 2024 scope split.
            &["user.info.basic", "user.info.profile", "video.publish", "video.upload"],
        ),
        Platform::Linkedin => (
            "https://www.linkedin.com/oauth/v2/authorization",
            "https://www.linkedin.com/oauth/v2/accessToken",
            "https://api.linkedin.com",
            &["openid", "profile", "w_member_social"],
        ),
        Platform::Youtube => (
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
            "https://www.googleapis.com",
            &[
                "https://www.googleapis.com/auth/youtube.upload",
                "https://www.googleapis.com/auth/youtube.readonly",
            ],
        ),
        Platform::Twitter => (
            "https://x.com/i/oauth2/authorize",
            "https://api.x.com/2/oauth2/token",
            "https://api.x.com",
            &[
                "tweet.read",
                "tweet.write",
                "users.read",
                "offline.access",
                "media.write",
            ],
        ),
        Platform::Threads => (
            "https://threads.net/oauth/authorize",
            "https://graph.threads.net/oauth/access_token",
            "https://graph.threads.net",
            // threads_delete: delete_on_platform.
            &["threads_basic", "threads_content_publish", "threads_delete"],
        ),
    }
}

/// The environment-variable prefix of a platform, e.g. `POSTPROXY_TWITTER_`.
pub fn env_prefix(p: Platform) -> String {
    format!("POSTPROXY_{}_", p.as_str().to_ascii_uppercase())
}

/// The configured platforms.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    configs: HashMap<Platform, ProviderConfig>,
}

impl Providers {
    /// Reads `POSTPROXY_<PLATFORM>_{CLIENT_ID,CLIENT_SECRET,AUTHORIZE_URL,TOKEN_URL,API_URL,SCOPES}`.
    /// A platform is configured when it has both a client id and a secret.
    pub fn from_env() -> Providers {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Providers {
        let mut configs = HashMap::new();
        for p in Platform::ALL {
            let prefix = env_prefix(p);
            let var = |name: &str| get(&format!("{prefix}{name}")).filter(|v| !v.trim().is_empty());
            let (Some(client_id), Some(client_secret)) = (var("CLIENT_ID"), var("CLIENT_SECRET")) else {
                continue;
            };
            let (authorize, token, api, scopes) = defaults(p);
            configs.insert(
                p,
                ProviderConfig {
                    platform: p,
                    client_id,
                    client_secret,
                    authorize_url: var("AUTHORIZE_URL").unwrap_or_else(|| authorize.into()),
                    token_url: var("TOKEN_URL").unwrap_or_else(|| token.into()),
                    api_url: var("API_URL")
                        .unwrap_or_else(|| api.into())
                        .trim_end_matches('/')
                        .into(),
                    scopes: var("SCOPES")
                        .map(|s| {
                            s.split([' ', ','])
                                .filter(|s| !s.is_empty())
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_else(|| scopes.iter().map(|s| s.to_string()).collect()),
                },
            );
        }
        Providers { configs }
    }

    pub fn insert(&mut self, config: ProviderConfig) {
        self.configs.insert(config.platform, config);
    }

    pub fn get(&self, p: Platform) -> Option<&ProviderConfig> {
        self.configs.get(&p)
    }

    pub fn configured(&self) -> Vec<Platform> {
        Platform::ALL
            .into_iter()
            .filter(|p| self.configs.contains_key(p))
            .collect()
    }
}

/// Tokens as the platform issued them (plaintext: seal before storing).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires (`None`: no expiry given).
    pub expires_in: Option<i64>,
    /// Seconds until the refresh token expires, where the platform says.
    pub refresh_expires_in: Option<i64>,
    /// A platform-side account id returned with the token (Instagram, Threads, TikTok).
    pub user_id: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}

/// A sub-account the profile can publish to (a Facebook Page, a LinkedIn organisation).
#[derive(Clone, PartialEq, Eq)]
pub struct PlacementInfo {
    pub external_id: String,
    pub name: String,
    pub avatar_url: Option<String>,
    /// A placement-specific token (Facebook Page access token).
    pub access_token: Option<String>,
}

impl std::fmt::Debug for PlacementInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlacementInfo")
            .field("external_id", &self.external_id)
            .field("name", &self.name)
            .finish()
    }
}

/// Who connected: the account on the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub external_id: String,
    pub name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub placements: Vec<PlacementInfo>,
}

/// Why a call to a platform failed, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The platform refused the grant or token: the user must reconnect.
    #[error("rejected by the platform: {0}")]
    Rejected(String),
    /// The user withdrew the app's access on the platform.
    #[error("access revoked on the platform: {0}")]
    Revoked(String),
    /// Network trouble, 5xx or 429: worth retrying later.
    #[error("temporary platform failure: {0}")]
    Transient(String),
    /// The platform answered something we cannot use.
    #[error("unexpected platform response: {0}")]
    Protocol(String),
}

/// What the browser is sent to, plus the PKCE verifier to keep (if the platform uses PKCE).
pub struct AuthorizeRequest {
    pub url: String,
    pub pkce_verifier: Option<String>,
}

/// Builds the platform's authorization URL.
pub fn authorize(cfg: &ProviderConfig, redirect_uri: &str, state: &str) -> AuthorizeRequest {
    let pkce = matches!(cfg.platform, Platform::Twitter | Platform::Youtube).then(pkce::Pkce::new);
    let comma = |s: &[String]| s.join(",");
    let space = |s: &[String]| s.join(" ");
    let mut params: Vec<(&str, String)> = Vec::new();
    match cfg.platform {
        Platform::Tiktok => params.push(("client_key", cfg.client_id.clone())),
        _ => params.push(("client_id", cfg.client_id.clone())),
    }
    params.push(("redirect_uri", redirect_uri.to_string()));
    params.push(("response_type", "code".into()));
    params.push(("state", state.to_string()));
    let scope = match cfg.platform {
        Platform::Facebook | Platform::Instagram | Platform::Tiktok | Platform::Threads => comma(&cfg.scopes),
        Platform::Linkedin | Platform::Youtube | Platform::Twitter => space(&cfg.scopes),
    };
    params.push(("scope", scope));
    if cfg.platform == Platform::Youtube {
        // Without these Google issues no refresh token on repeat connections.
        params.push(("access_type", "offline".into()));
        params.push(("prompt", "consent".into()));
        params.push(("include_granted_scopes", "true".into()));
    }
    if let Some(p) = &pkce {
        params.push(("code_challenge", p.challenge.clone()));
        params.push(("code_challenge_method", "S256".into()));
    }
    let mut url =
        url::Url::parse(&cfg.authorize_url).unwrap_or_else(|_| url::Url::parse("http://invalid.invalid/").unwrap());
    url.query_pairs_mut()
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    AuthorizeRequest {
        url: url.into(),
        pkce_verifier: pkce.map(|p| p.verifier),
    }
}

/// Exchanges an authorization code for tokens (including Meta's long-lived swap).
pub async fn exchange_code(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: Option<&str>,
) -> Result<TokenSet, OAuthError> {
    match cfg.platform {
        Platform::Facebook | Platform::Instagram | Platform::Threads => {
            meta::exchange_code(http, cfg, code, redirect_uri).await
        }
        Platform::Tiktok => tiktok::exchange_code(http, cfg, code, redirect_uri).await,
        Platform::Linkedin => standard_exchange(http, cfg, code, redirect_uri, None).await,
        Platform::Youtube => standard_exchange(http, cfg, code, redirect_uri, pkce_verifier).await,
        Platform::Twitter => x::exchange_code(http, cfg, code, redirect_uri, pkce_verifier).await,
    }
}

/// Fetches the connected account (and its placements) from the platform's "me" endpoint.
pub async fn fetch_identity(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    tokens: &TokenSet,
) -> Result<Identity, OAuthError> {
    match cfg.platform {
        Platform::Facebook | Platform::Instagram | Platform::Threads => meta::fetch_identity(http, cfg, tokens).await,
        Platform::Tiktok => tiktok::fetch_identity(http, cfg, tokens).await,
        Platform::Linkedin => linkedin::fetch_identity(http, cfg, tokens).await,
        Platform::Youtube => google::fetch_identity(http, cfg, tokens).await,
        Platform::Twitter => x::fetch_identity(http, cfg, tokens).await,
    }
}

/// Whether the platform can renew this connection without the user.
pub fn can_refresh(p: Platform, has_refresh_token: bool) -> bool {
    match p {
        // Meta renews long-lived tokens with the token itself.
        Platform::Facebook | Platform::Instagram | Platform::Threads => true,
        _ => has_refresh_token,
    }
}

/// How long before the access token's expiry a refresh is due.
pub fn refresh_lead(p: Platform) -> Duration {
    match p {
        Platform::Facebook | Platform::Instagram | Platform::Threads | Platform::Linkedin => {
            Duration::from_secs(7 * 24 * 3600)
        }
        Platform::Tiktok => Duration::from_secs(2 * 3600),
        Platform::Youtube => Duration::from_secs(10 * 60),
        Platform::Twitter => Duration::from_secs(15 * 60),
    }
}

/// Renews the tokens. `refresh_token` is the stored refresh token, `access_token` the current one.
pub async fn refresh(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    access_token: &str,
    refresh_token: Option<&str>,
) -> Result<TokenSet, OAuthError> {
    let need = || OAuthError::Rejected("no refresh token".into());
    match cfg.platform {
        Platform::Facebook | Platform::Instagram | Platform::Threads => meta::refresh(http, cfg, access_token).await,
        Platform::Tiktok => tiktok::refresh(http, cfg, refresh_token.ok_or_else(need)?).await,
        // Google keeps its refresh token (it answers without one); the refresh job keeps ours.
        Platform::Linkedin | Platform::Youtube => standard_refresh(http, cfg, refresh_token.ok_or_else(need)?).await,
        Platform::Twitter => x::refresh(http, cfg, refresh_token.ok_or_else(need)?).await,
    }
}

/// Revokes the app's access where the platform offers it (best effort; errors are the caller's to log).
pub async fn revoke(http: &reqwest::Client, cfg: &ProviderConfig, access_token: &str) -> Result<(), OAuthError> {
    match cfg.platform {
        Platform::Facebook => meta::revoke(http, cfg, access_token).await,
        Platform::Tiktok => tiktok::revoke(http, cfg, access_token).await,
        Platform::Linkedin => linkedin::revoke(http, cfg, access_token).await,
        Platform::Youtube => google::revoke(http, cfg, access_token).await,
        Platform::Twitter => x::revoke(http, cfg, access_token).await,
        // Instagram and Threads have no revocation endpoint.
        Platform::Instagram | Platform::Threads => Ok(()),
    }
}

/// Publishes one item (the post or a thread part) on the account's platform.
pub async fn publish(
    http: &reqwest::Client,
    account: &publish::Account,
    item: &publish::Item<'_>,
    guard: &dyn publish::SendGuard,
) -> Result<publish::Published, publish::Failure> {
    let label = crate::domain::post::platform_label(account.platform);
    let not_yet = |what: &str| {
        Err(publish::Failure::new(
            publish::FailureKind::Refused,
            format!("Publishing {what} to {label} is not available in this server version yet"),
        )
        .note("Nothing was sent to the platform. The post was stored; post it there directly for now."))
    };
    if item.media.iter().any(publish::MediaFile::is_video) {
        return not_yet("videos");
    }
    match account.platform {
        Platform::Twitter => x::publish(http, account, item, guard).await,
        Platform::Linkedin => linkedin::publish(http, account, item, guard).await,
        Platform::Facebook => meta::publish_facebook(http, account, item, guard).await,
        Platform::Threads => meta::publish_threads(http, account, item, guard).await,
        Platform::Instagram => meta::publish_instagram(http, account, item, guard).await,
        Platform::Tiktok => tiktok::publish(http, account, item, guard).await,
        Platform::Youtube => not_yet("videos"),
    }
}

/// Whether the platform lets postproxy look for a post whose create call had an unknown outcome.
pub fn can_look_up(p: Platform) -> bool {
    matches!(
        p,
        Platform::Twitter
            | Platform::Facebook
            | Platform::Threads
            | Platform::Instagram
            | Platform::Tiktok
            | Platform::Linkedin
    )
}

/// Looks for an item among the account's posts created since `since_ms` (see `can_look_up`);
/// `reference` is what the send was armed with (a Threads or Instagram container).
pub async fn look_up(
    http: &reqwest::Client,
    account: &publish::Account,
    item: &publish::Item<'_>,
    since_ms: i64,
    reference: Option<&str>,
) -> Result<publish::Lookup, publish::Failure> {
    match account.platform {
        Platform::Twitter => x::lookup(http, account, item, since_ms).await,
        Platform::Facebook => meta::lookup_facebook(http, account, item, since_ms).await,
        Platform::Threads | Platform::Instagram => {
            meta::lookup_container(http, account, item, since_ms, reference).await
        }
        Platform::Tiktok => tiktok::lookup(http, account, reference).await,
        Platform::Linkedin => linkedin::lookup(http, account, item, since_ms).await,
        p => Ok(publish::Lookup::Unavailable(format!(
            "{} offers no way to look the post up",
            crate::domain::post::platform_label(p)
        ))),
    }
}

/// Whether a published id is provisional and the platform names the final one later.
pub fn awaits_final_id(p: Platform, id: &str) -> bool {
    p == Platform::Tiktok && tiktok::awaits_public_id(id)
}

/// Asks the platform once for the final id of a post published under a provisional one.
pub async fn final_id(
    http: &reqwest::Client,
    account: &publish::Account,
    provisional: &str,
) -> Result<Option<publish::Published>, publish::Failure> {
    match account.platform {
        Platform::Tiktok => tiktok::public_id(http, account, provisional).await,
        _ => Ok(None),
    }
}

/// Whether the platform's API lets an app delete a post it published.
pub fn can_delete(p: Platform) -> bool {
    matches!(
        p,
        Platform::Twitter | Platform::Linkedin | Platform::Facebook | Platform::Threads
    )
}

/// Deletes a published item where the platform allows it.
pub async fn delete_post(
    http: &reqwest::Client,
    account: &publish::Account,
    platform_post_id: &str,
) -> Result<(), publish::Failure> {
    match account.platform {
        Platform::Twitter => x::delete(http, account, platform_post_id).await,
        Platform::Linkedin => linkedin::delete(http, account, platform_post_id).await,
        Platform::Facebook | Platform::Threads => meta::delete(http, account, platform_post_id).await,
        p => Err(publish::Failure::new(
            publish::FailureKind::Refused,
            format!(
                "{} does not let apps delete posts",
                crate::domain::post::platform_label(p)
            ),
        )),
    }
}

/// RFC 6749 §4.1.3 with the client's credentials in the form body (LinkedIn, Google), plus the
/// PKCE verifier where one was used.
async fn standard_exchange(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: Option<&str>,
) -> Result<TokenSet, OAuthError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.as_str()),
    ];
    if let Some(v) = pkce_verifier {
        form.push(("code_verifier", v));
    }
    token_set(&send_json(http.post(&cfg.token_url).form(&form)).await?)
}

/// RFC 6749 §6 with the client's credentials in the form body (LinkedIn, Google).
async fn standard_refresh(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    refresh_token: &str,
) -> Result<TokenSet, OAuthError> {
    token_set(
        &send_json(http.post(&cfg.token_url).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.as_str()),
        ]))
        .await?,
    )
}

// ---- shared HTTP plumbing ------------------------------------------------------------------

/// Sends a request and returns the JSON body of a 2xx answer, or a classified error.
pub(crate) async fn send_json(req: reqwest::RequestBuilder) -> Result<Value, OAuthError> {
    let resp = req
        .send()
        .await
        .map_err(|e| OAuthError::Transient(redact_reqwest(&e)))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| OAuthError::Transient(redact_reqwest(&e)))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        if body.is_null() {
            return Err(OAuthError::Protocol(format!("non-JSON answer ({status})")));
        }
        return Ok(body);
    }
    Err(classify_error(status.as_u16(), &body))
}

/// Maps an error answer to a class, reading the OAuth (`error`), Meta (`error.code`) and TikTok shapes.
pub(crate) fn classify_error(status: u16, body: &Value) -> OAuthError {
    let description = describe(body);
    let msg = format!("HTTP {status}: {description}");
    if status == 429 || status >= 500 {
        return OAuthError::Transient(msg);
    }
    let lower = description.to_ascii_lowercase();
    let meta_subcode = body["error"]["error_subcode"].as_i64();
    // Meta says so with subcode 458; LinkedIn in words. Google's "expired or revoked" cannot
    // tell the two apart, so it counts as expired (the user reconnects either way).
    let says_revoked = lower.contains("revoked") && !lower.contains("expired");
    if meta_subcode == Some(458) || says_revoked || lower.contains("not authorized application") {
        return OAuthError::Revoked(msg);
    }
    OAuthError::Rejected(msg)
}

/// A short, secret-free description of a platform error body.
fn describe(body: &Value) -> String {
    let pick = |v: &Value| v.as_str().map(str::to_string);
    let text = match &body["error"] {
        Value::String(code) => Some(match pick(&body["error_description"]) {
            Some(d) => format!("{code}: {d}"),
            None => code.clone(),
        }),
        Value::Object(e) => e
            .get("message")
            .and_then(|m| m.as_str())
            .map(|m| format!("{m} (code {})", e.get("code").cloned().unwrap_or(Value::Null))),
        _ => None,
    }
    .or_else(|| pick(&body["error_message"]))
    .or_else(|| pick(&body["message"]))
    .unwrap_or_else(|| "no error description".into());
    text.chars().take(300).collect()
}

/// reqwest errors can include the URL, whose query may hold a token (Meta APIs): drop it.
pub(crate) fn redact_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    match e.url() {
        Some(u) => format!("{kind} ({}{})", u.host_str().unwrap_or(""), u.path()),
        None => kind.to_string(),
    }
}

/// Reads a string or number field as a string (ids arrive as either).
pub(crate) fn str_field(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn required(v: &Value, what: &str) -> Result<String, OAuthError> {
    str_field(v).ok_or_else(|| OAuthError::Protocol(format!("missing {what}")))
}

/// The common token-response shape (`access_token`, `refresh_token`, `expires_in`, …).
pub(crate) fn token_set(body: &Value) -> Result<TokenSet, OAuthError> {
    Ok(TokenSet {
        access_token: required(&body["access_token"], "access_token")?,
        refresh_token: str_field(&body["refresh_token"]),
        expires_in: body["expires_in"]
            .as_i64()
            .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok())),
        refresh_expires_in: body["refresh_expires_in"]
            .as_i64()
            .or_else(|| body["refresh_token_expires_in"].as_i64()),
        user_id: str_field(&body["user_id"]).or_else(|| str_field(&body["open_id"])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(p: Platform) -> ProviderConfig {
        Providers::from_lookup(|k| match k {
            k if k.ends_with("CLIENT_ID") => Some("cid".into()),
            k if k.ends_with("CLIENT_SECRET") => Some("secret".into()),
            _ => None,
        })
        .get(p)
        .unwrap()
        .clone()
    }

    fn query(url: &str) -> HashMap<String, String> {
        url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
    }

    #[test]
    fn authorize_urls_carry_each_platforms_quirks() {
        let t = authorize(&cfg(Platform::Tiktok), "https://h/cb", "st");
        let q = query(&t.url);
        assert_eq!(q["client_key"], "cid");
        assert!(!q.contains_key("client_id"));
        assert_eq!(
            q["scope"],
            "user.info.basic,user.info.profile,video.publish,video.upload"
        );
        assert!(t.url.starts_with("https://www.tiktok.com/v2/auth/authorize/?"));

        let x = authorize(&cfg(Platform::Twitter), "https://h/cb", "st");
        let q = query(&x.url);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["code_challenge"],
            pkce::challenge_for(x.pkce_verifier.as_deref().unwrap())
        );
        assert!(q["scope"].contains("offline.access"));

        let g = authorize(&cfg(Platform::Youtube), "https://h/cb", "st");
        let q = query(&g.url);
        assert_eq!(
            (q["access_type"].as_str(), q["prompt"].as_str()),
            ("offline", "consent")
        );
        assert!(g.pkce_verifier.is_some());

        let f = authorize(&cfg(Platform::Facebook), "https://h/cb", "st");
        assert!(f.pkce_verifier.is_none());
        assert_eq!(query(&f.url)["redirect_uri"], "https://h/cb");
    }

    #[test]
    fn unconfigured_platforms_are_absent_and_overrides_apply() {
        let p = Providers::from_lookup(|k| match k {
            "POSTPROXY_TWITTER_CLIENT_ID" => Some("a".into()),
            "POSTPROXY_TWITTER_CLIENT_SECRET" => Some("b".into()),
            "POSTPROXY_TWITTER_API_URL" => Some("http://127.0.0.1:9/".into()),
            "POSTPROXY_FACEBOOK_CLIENT_ID" => Some("only id".into()),
            _ => None,
        });
        assert_eq!(p.configured(), vec![Platform::Twitter]);
        assert_eq!(p.get(Platform::Twitter).unwrap().api_url, "http://127.0.0.1:9");
        assert!(!format!("{:?}", p.get(Platform::Twitter).unwrap()).contains("\"b\""));
    }

    #[test]
    fn classifies_errors() {
        let j = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert!(matches!(
            classify_error(400, &j(r#"{"error":"invalid_grant"}"#)),
            OAuthError::Rejected(_)
        ));
        assert!(matches!(classify_error(503, &Value::Null), OAuthError::Transient(_)));
        assert!(matches!(classify_error(429, &Value::Null), OAuthError::Transient(_)));
        assert!(matches!(
            classify_error(400, &j(r#"{"error":{"message":"x","code":190,"error_subcode":458}}"#)),
            OAuthError::Revoked(_)
        ));
        assert!(matches!(
            classify_error(
                400,
                &j(r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#)
            ),
            OAuthError::Rejected(_)
        ));
        assert!(matches!(
            classify_error(
                401,
                &j(r#"{"error":"invalid_token","error_description":"The token has been revoked"}"#)
            ),
            OAuthError::Revoked(_)
        ));
    }
}
