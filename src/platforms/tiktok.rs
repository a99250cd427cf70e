//! TikTok Login Kit: the client id is called `client_key`, scopes are comma-separated, and the
//! user-info answer wraps data and an error object in one envelope.

use super::{Identity, OAuthError, ProviderConfig, TokenSet, send_json, str_field, token_set};

pub async fn exchange_code(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    code: &str,
    redirect_uri: &str,
) -> Result<TokenSet, OAuthError> {
    let body = send_json(http.post(&cfg.token_url).form(&[
        ("client_key", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.as_str()),
        ("code", code),
        ("grant_type", "authorization_code"),
        ("redirect_uri", redirect_uri),
    ]))
    .await?;
    checked_token(&body)
}

pub async fn refresh(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    refresh_token: &str,
) -> Result<TokenSet, OAuthError> {
    let body = send_json(http.post(&cfg.token_url).form(&[
        ("client_key", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.as_str()),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ]))
    .await?;
    checked_token(&body)
}

/// TikTok has answered token errors with HTTP 200 and an `error` field.
fn checked_token(body: &serde_json::Value) -> Result<TokenSet, OAuthError> {
    if body["access_token"].is_null() && body["error"].is_string() {
        return Err(super::classify_error(400, body));
    }
    token_set(body)
}

pub async fn fetch_identity(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    tokens: &TokenSet,
) -> Result<Identity, OAuthError> {
    let body = send_json(
        http.get(format!("{}/v2/user/info/", cfg.api_url))
            .query(&[("fields", "open_id,union_id,avatar_url,display_name,username")])
            .bearer_auth(&tokens.access_token),
    )
    .await?;
    if let Some(code) = body["error"]["code"].as_str().filter(|c| *c != "ok") {
        return Err(OAuthError::Rejected(format!("user info error {code}")));
    }
    let user = &body["data"]["user"];
    let username = str_field(&user["username"]);
    Ok(Identity {
        external_id: super::required(&user["open_id"], "open_id")?,
        name: str_field(&user["display_name"])
            .or_else(|| username.clone())
            .unwrap_or_default(),
        username,
        avatar_url: str_field(&user["avatar_url"]),
        placements: vec![],
    })
}

pub async fn revoke(http: &reqwest::Client, cfg: &ProviderConfig, access_token: &str) -> Result<(), OAuthError> {
    send_json(http.post(format!("{}/v2/oauth/revoke/", cfg.api_url)).form(&[
        ("client_key", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.as_str()),
        ("token", access_token),
    ]))
    .await
    .map(|_| ())
}
