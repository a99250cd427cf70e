//! X (Twitter) OAuth 2.0: a confidential client authenticates with HTTP Basic, PKCE is
//! mandatory, and refresh tokens rotate (the old one dies on use).

use super::{Identity, OAuthError, ProviderConfig, TokenSet, send_json, str_field, token_set};

pub async fn exchange_code(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: Option<&str>,
) -> Result<TokenSet, OAuthError> {
    let verifier = pkce_verifier.ok_or_else(|| OAuthError::Protocol("PKCE verifier missing".into()))?;
    token_set(
        &send_json(
            http.post(&cfg.token_url)
                .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
                .form(&[
                    ("code", code),
                    ("grant_type", "authorization_code"),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", verifier),
                    ("client_id", cfg.client_id.as_str()),
                ]),
        )
        .await?,
    )
}

pub async fn refresh(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    refresh_token: &str,
) -> Result<TokenSet, OAuthError> {
    token_set(
        &send_json(
            http.post(&cfg.token_url)
                .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]),
        )
        .await?,
    )
}

pub async fn fetch_identity(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    tokens: &TokenSet,
) -> Result<Identity, OAuthError> {
    let body = send_json(
        http.get(format!("{}/2/users/me", cfg.api_url))
            .query(&[("user.fields", "profile_image_url")])
            .bearer_auth(&tokens.access_token),
    )
    .await?;
    let data = &body["data"];
    Ok(Identity {
        external_id: super::required(&data["id"], "id")?,
        name: str_field(&data["name"]).unwrap_or_default(),
        username: str_field(&data["username"]),
        avatar_url: str_field(&data["profile_image_url"]),
        placements: vec![],
    })
}

pub async fn revoke(http: &reqwest::Client, cfg: &ProviderConfig, access_token: &str) -> Result<(), OAuthError> {
    send_json(
        http.post(format!("{}/2/oauth2/revoke", cfg.api_url))
            .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
            .form(&[("token", access_token), ("token_type_hint", "access_token")]),
    )
    .await
    .map(|_| ())
}
