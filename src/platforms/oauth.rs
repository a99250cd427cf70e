//! What the platforms' OAuth 2 sides share: the configured apps (`Providers`), the token and
//! identity types, authorize URLs built from each platform's `OAuthSpec`, the RFC 6749 code
//! exchange and refresh, and the JSON plumbing that classifies a platform's error answers.
//! A platform's own file overrides only where its API differs.

use std::collections::HashMap;

use serde_json::Value;

use super::pkce;
use super::publish::{Failure, FailureKind};
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
    /// Further endpoints a platform names in its spec (Bluesky's PLC directory): (variable, URL).
    pub urls: Vec<(&'static str, String)>,
}

impl ProviderConfig {
    /// A further endpoint by its variable name (`PLC_URL`), or its default.
    pub fn url(&self, var: &str) -> &str {
        self.urls
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
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
    /// An OAuth platform is configured when it has both a client id and a secret; a platform
    /// connected with credentials (Bluesky, Telegram) needs no app and is always configured, its
    /// endpoints overridable by the variables its spec names.
    pub fn from_env() -> Providers {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Providers {
        let mut configs = HashMap::new();
        for p in Platform::ALL {
            let prefix = env_prefix(p);
            let var = |name: &str| get(&format!("{prefix}{name}")).filter(|v| !v.trim().is_empty());
            let url = |name: &str, default: &str| {
                var(name)
                    .unwrap_or_else(|| default.into())
                    .trim_end_matches('/')
                    .to_string()
            };
            let spec = super::network(p).spec();
            let (client_id, client_secret, api_var, urls) = match &spec.connect {
                super::Connect::OAuth2(_) => {
                    let (Some(id), Some(secret)) = (var("CLIENT_ID"), var("CLIENT_SECRET")) else {
                        continue;
                    };
                    (id, secret, "API_URL", vec![])
                }
                super::Connect::Credentials(c) => {
                    let urls = c.urls.iter().map(|(k, d)| (*k, url(k, d))).collect();
                    (String::new(), String::new(), c.api_url_var, urls)
                }
            };
            configs.insert(
                p,
                ProviderConfig {
                    platform: p,
                    client_id,
                    client_secret,
                    authorize_url: var("AUTHORIZE_URL").unwrap_or_else(|| spec.authorize_url.into()),
                    token_url: var("TOKEN_URL").unwrap_or_else(|| spec.token_url.into()),
                    api_url: url(api_var, spec.api_url),
                    scopes: var("SCOPES")
                        .map(|s| {
                            s.split([' ', ','])
                                .filter(|s| !s.is_empty())
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_else(|| spec.scopes.iter().map(|s| s.to_string()).collect()),
                    urls,
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
    /// Its public handle, for permalinks (a Telegram channel's username).
    pub username: Option<String>,
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

/// A configured OAuth app, with the client to call its platform through.
#[derive(Clone, Copy)]
pub struct App<'a> {
    pub http: &'a reqwest::Client,
    pub cfg: &'a ProviderConfig,
}

/// An authorization code the callback received, with what the authorization was asked with.
#[derive(Clone, Copy)]
pub struct Code<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub pkce_verifier: Option<&'a str>,
}

/// The tokens a connection holds, for their renewal: the current access token and the stored
/// refresh token.
#[derive(Clone, Copy)]
pub struct Held<'a> {
    pub access_token: &'a str,
    pub refresh_token: Option<&'a str>,
    /// The secret kept to sign in again (Bluesky's app password).
    pub credential: Option<&'a str>,
    /// The account's own API host (a Bluesky PDS), when it has one.
    pub endpoint: Option<&'a str>,
    /// The guarded client, for that host.
    pub outbound: &'a crate::outbound::Outbound,
}

/// What the browser is sent to, plus the PKCE verifier to keep (if the platform uses PKCE).
pub struct AuthorizeRequest {
    pub url: String,
    pub pkce_verifier: Option<String>,
}

/// How a platform's OAuth 2 differs from the plain protocol, as data (the `oauth2` crate's way
/// of expressing quirks), read by `authorize`.
pub struct OAuthSpec {
    /// Name of the client id in the authorize URL (`client_key` on TikTok).
    pub client_id_param: &'static str,
    /// How the scopes are joined (`,` for Meta and TikTok, a space elsewhere).
    pub scope_separator: &'static str,
    /// PKCE (S256) on the authorize URL and the code exchange.
    pub pkce: bool,
    /// More authorize parameters (Google: offline access, so a refresh token is issued).
    pub extra_authorize_params: &'static [(&'static str, &'static str)],
    /// How the token and revocation endpoints authenticate the client.
    pub client_auth: ClientAuth,
}

/// How a platform authenticates the client at its token and revocation endpoints (RFC 6749
/// §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// The id (under `client_id_param`) and secret in the form body.
    Body,
    /// HTTP Basic, with the client id repeated in the form (X).
    Basic,
}

/// Builds the platform's authorization URL.
pub fn authorize(cfg: &ProviderConfig, redirect_uri: &str, state: &str) -> AuthorizeRequest {
    // Only OAuth platforms have a `ProviderConfig` (see `Providers::from_lookup`).
    let quirks = super::network(cfg.platform)
        .spec()
        .oauth()
        .expect("a platform with an OAuth app connects through OAuth 2");
    let pkce = quirks.pkce.then(pkce::Pkce::new);
    let mut params: Vec<(&str, String)> = vec![
        (quirks.client_id_param, cfg.client_id.clone()),
        ("redirect_uri", redirect_uri.to_string()),
        ("response_type", "code".into()),
        ("state", state.to_string()),
        ("scope", cfg.scopes.join(quirks.scope_separator)),
    ];
    params.extend(quirks.extra_authorize_params.iter().map(|(k, v)| (*k, v.to_string())));
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

/// A form POST to a platform's OAuth endpoint, the client authenticated as its `OAuthSpec` says.
async fn client_post(app: App<'_>, url: &str, mut form: Vec<(&str, &str)>) -> Result<Value, Failure> {
    let App { http, cfg } = app;
    let quirks = super::network(cfg.platform).spec().oauth();
    let mut req = http.post(url);
    match quirks.map_or(ClientAuth::Body, |q| q.client_auth) {
        ClientAuth::Body => {
            form.push((quirks.map_or("client_id", |q| q.client_id_param), &cfg.client_id));
            form.push(("client_secret", &cfg.client_secret));
        }
        ClientAuth::Basic => {
            req = req.basic_auth(&cfg.client_id, Some(&cfg.client_secret));
            form.push(("client_id", &cfg.client_id));
        }
    }
    send_json(req.form(&form)).await
}

/// RFC 6749 §4.1.3, plus the PKCE verifier where the platform uses PKCE.
pub(crate) async fn standard_exchange(app: App<'_>, code: Code<'_>) -> Result<TokenSet, Failure> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.code),
        ("redirect_uri", code.redirect_uri),
    ];
    if super::network(app.cfg.platform).spec().oauth().is_some_and(|q| q.pkce) {
        form.push((
            "code_verifier",
            code.pkce_verifier.ok_or_else(|| unreadable("PKCE verifier missing"))?,
        ));
    }
    token_set(&client_post(app, &app.cfg.token_url, form).await?)
}

/// RFC 6749 §6.
pub(crate) async fn standard_refresh(app: App<'_>, refresh_token: &str) -> Result<TokenSet, Failure> {
    let form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    token_set(&client_post(app, &app.cfg.token_url, form).await?)
}

/// RFC 7009 revocation of `token` at `url`, with `extra` parameters (a `token_type_hint`).
pub(crate) async fn revoke_token(app: App<'_>, url: &str, token: &str, extra: &[(&str, &str)]) -> Result<(), Failure> {
    let mut form = vec![("token", token)];
    form.extend_from_slice(extra);
    client_post(app, url, form).await.map(|_| ())
}

// ---- shared HTTP plumbing ------------------------------------------------------------------

/// Sends a request and returns the JSON body of a 2xx answer, or a classified error.
pub(crate) async fn send_json(req: reqwest::RequestBuilder) -> Result<Value, Failure> {
    let resp = req
        .send()
        .await
        .map_err(|e| Failure::new(FailureKind::Transient, redact_reqwest(&e)))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| Failure::new(FailureKind::Transient, redact_reqwest(&e)))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        if body.is_null() {
            return Err(unreadable(format!("non-JSON answer ({status})")));
        }
        return Ok(body);
    }
    Err(classify_error(status.as_u16(), &body))
}

/// Maps an error answer to a failure kind (`Refused`: the user reconnects; `Revoked`;
/// `Transient`), reading the OAuth (`error`), Meta (`error.code`) and TikTok shapes.
fn classify_error(status: u16, body: &Value) -> Failure {
    let description = describe(body);
    let msg = format!("HTTP {status}: {description}");
    if status == 429 || status >= 500 {
        return Failure::new(FailureKind::Transient, msg);
    }
    let lower = description.to_ascii_lowercase();
    let meta_subcode = body["error"]["error_subcode"].as_i64();
    // Meta says so with subcode 458; LinkedIn in words. Google's "expired or revoked" cannot
    // tell the two apart, so it counts as expired (the user reconnects either way).
    let says_revoked = lower.contains("revoked") && !lower.contains("expired");
    if meta_subcode == Some(458) || says_revoked || lower.contains("not authorized application") {
        return Failure::new(FailureKind::Revoked, msg);
    }
    Failure::new(FailureKind::Refused, msg)
}

/// An answer to an OAuth or identity call that cannot be used. These calls create nothing, so by
/// the one rule (`publish::server_failure`) it is worth asking again: transient.
pub(crate) fn unreadable(what: impl std::fmt::Display) -> Failure {
    Failure::new(FailureKind::Transient, format!("unexpected platform response: {what}"))
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
/// A URL path without secrets: Telegram puts the bot token in the path (`/bot<token>/getMe`).
pub(crate) fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with("bot") && seg.contains(':') {
                "bot<token>"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

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
        Some(u) => format!("{kind} ({}{})", u.host_str().unwrap_or(""), redact_path(u.path())),
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

pub(crate) fn required(v: &Value, what: &str) -> Result<String, Failure> {
    str_field(v).ok_or_else(|| unreadable(format!("missing {what}")))
}

/// The common token-response shape (`access_token`, `refresh_token`, `expires_in`, …).
pub(crate) fn token_set(body: &Value) -> Result<TokenSet, Failure> {
    // Instagram's newer answers wrap the token in `data: [...]`.
    if let Some(first) = body["data"].as_array().and_then(|items| items.first()) {
        return token_set(first);
    }
    // TikTok has answered token errors with HTTP 200 and an `error` field.
    if body["access_token"].is_null() && body["error"].is_string() {
        return Err(classify_error(400, body));
    }
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
        // Telegram needs no app: always there, at its default address unless overridden.
        assert_eq!(
            p.configured(),
            vec![Platform::Twitter, Platform::Telegram, Platform::Bluesky]
        );
        assert_eq!(p.get(Platform::Twitter).unwrap().api_url, "http://127.0.0.1:9");
        assert_eq!(p.get(Platform::Telegram).unwrap().api_url, "https://api.telegram.org");
        let tg = Providers::from_lookup(|k| (k == "POSTPROXY_TELEGRAM_API_URL").then(|| "http://127.0.0.1:8/".into()));
        assert_eq!(tg.get(Platform::Telegram).unwrap().api_url, "http://127.0.0.1:8");
        // Bluesky's service and directory, by the names its spec gives them.
        let bsky = Providers::from_lookup(|k| match k {
            "POSTPROXY_BLUESKY_SERVICE_URL" => Some("http://127.0.0.1:7/".into()),
            "POSTPROXY_BLUESKY_PLC_URL" => Some("http://127.0.0.1:6".into()),
            _ => None,
        });
        let b = bsky.get(Platform::Bluesky).unwrap();
        assert_eq!(
            (b.api_url.as_str(), b.url("PLC_URL")),
            ("http://127.0.0.1:7", "http://127.0.0.1:6")
        );
        let default = p.get(Platform::Bluesky).unwrap();
        assert_eq!(
            (default.api_url.as_str(), default.url("PLC_URL")),
            ("https://bsky.social", "https://plc.directory")
        );
        assert!(!format!("{:?}", p.get(Platform::Twitter).unwrap()).contains("\"b\""));
    }

    #[test]
    fn classifies_errors() {
        let j = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert!(matches!(
            classify_error(400, &j(r#"{"error":"invalid_grant"}"#)).kind,
            FailureKind::Refused
        ));
        assert_eq!(classify_error(503, &Value::Null).kind, FailureKind::Transient);
        assert_eq!(classify_error(429, &Value::Null).kind, FailureKind::Transient);
        assert!(matches!(
            classify_error(400, &j(r#"{"error":{"message":"x","code":190,"error_subcode":458}}"#)).kind,
            FailureKind::Revoked
        ));
        assert!(matches!(
            classify_error(
                400,
                &j(r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#)
            )
            .kind,
            FailureKind::Refused
        ));
        assert!(matches!(
            classify_error(
                401,
                &j(r#"{"error":"invalid_token","error_description":"The token has been revoked"}"#)
            )
            .kind,
            FailureKind::Revoked
        ));
    }
}
