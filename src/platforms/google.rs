//! YouTube through Google OAuth: offline access for a refresh token, PKCE, and the channel as the
//! identity.

use super::{Identity, OAuthError, ProviderConfig, TokenSet, send_json, str_field};

pub async fn fetch_identity(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    tokens: &TokenSet,
) -> Result<Identity, OAuthError> {
    let body = send_json(
        http.get(format!("{}/youtube/v3/channels", cfg.api_url))
            .query(&[("part", "snippet"), ("mine", "true")])
            .bearer_auth(&tokens.access_token),
    )
    .await?;
    let channel = body["items"]
        .as_array()
        .and_then(|items| items.first())
        .ok_or_else(|| OAuthError::Rejected("this Google account has no YouTube channel".into()))?;
    let snippet = &channel["snippet"];
    Ok(Identity {
        external_id: super::required(&channel["id"], "channel id")?,
        name: str_field(&snippet["title"]).unwrap_or_default(),
        username: str_field(&snippet["customUrl"]),
        avatar_url: str_field(&snippet["thumbnails"]["default"]["url"]),
        placements: vec![],
    })
}

pub async fn revoke(http: &reqwest::Client, cfg: &ProviderConfig, access_token: &str) -> Result<(), OAuthError> {
    let url = cfg.token_url.trim_end_matches("/token").to_string() + "/revoke";
    let resp = http
        .post(url)
        .form(&[("token", access_token)])
        .send()
        .await
        .map_err(|_| OAuthError::Transient("revoke request failed".into()))?;
    // Google answers an empty 200 on success.
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(OAuthError::Rejected(format!("revoke answered {}", resp.status())))
    }
}
