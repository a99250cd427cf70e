//! Meta: Facebook (Pages), Instagram (Instagram Login) and Threads. Short-lived tokens from the
//! code exchange are swapped at once for long-lived (≈60-day) ones, which renew themselves.

use serde_json::Value;

use super::{Identity, OAuthError, PlacementInfo, ProviderConfig, TokenSet, send_json, str_field, token_set};
use crate::domain::platform::Platform;

pub async fn exchange_code(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    code: &str,
    redirect_uri: &str,
) -> Result<TokenSet, OAuthError> {
    let short = match cfg.platform {
        // Facebook's token endpoint takes a GET with query parameters.
        Platform::Facebook => {
            send_json(http.get(&cfg.token_url).query(&[
                ("client_id", cfg.client_id.as_str()),
                ("client_secret", cfg.client_secret.as_str()),
                ("redirect_uri", redirect_uri),
                ("code", code),
            ]))
            .await?
        }
        _ => {
            send_json(http.post(&cfg.token_url).form(&[
                ("client_id", cfg.client_id.as_str()),
                ("client_secret", cfg.client_secret.as_str()),
                ("grant_type", "authorization_code"),
                ("redirect_uri", redirect_uri),
                ("code", code),
            ]))
            .await?
        }
    };
    // Instagram's newer answers wrap the token in `data: [...]`.
    let short = match &short["data"] {
        Value::Array(items) if !items.is_empty() => items[0].clone(),
        _ => short,
    };
    let short = token_set(&short)?;
    let mut long = long_lived(http, cfg, &short.access_token).await?;
    long.user_id = long.user_id.or(short.user_id);
    Ok(long)
}

async fn long_lived(http: &reqwest::Client, cfg: &ProviderConfig, short: &str) -> Result<TokenSet, OAuthError> {
    let body = match cfg.platform {
        Platform::Facebook => {
            send_json(http.get(&cfg.token_url).query(&[
                ("grant_type", "fb_exchange_token"),
                ("client_id", cfg.client_id.as_str()),
                ("client_secret", cfg.client_secret.as_str()),
                ("fb_exchange_token", short),
            ]))
            .await?
        }
        Platform::Instagram => {
            send_json(http.get(format!("{}/access_token", cfg.api_url)).query(&[
                ("grant_type", "ig_exchange_token"),
                ("client_secret", cfg.client_secret.as_str()),
                ("access_token", short),
            ]))
            .await?
        }
        _ => {
            send_json(http.get(format!("{}/access_token", cfg.api_url)).query(&[
                ("grant_type", "th_exchange_token"),
                ("client_secret", cfg.client_secret.as_str()),
                ("access_token", short),
            ]))
            .await?
        }
    };
    token_set(&body)
}

pub async fn refresh(http: &reqwest::Client, cfg: &ProviderConfig, access_token: &str) -> Result<TokenSet, OAuthError> {
    match cfg.platform {
        // A long-lived Facebook user token is renewed by exchanging it again.
        Platform::Facebook => long_lived(http, cfg, access_token).await,
        Platform::Instagram => token_set(
            &send_json(
                http.get(format!("{}/refresh_access_token", cfg.api_url))
                    .query(&[("grant_type", "ig_refresh_token"), ("access_token", access_token)]),
            )
            .await?,
        ),
        _ => token_set(
            &send_json(
                http.get(format!("{}/refresh_access_token", cfg.api_url))
                    .query(&[("grant_type", "th_refresh_token"), ("access_token", access_token)]),
            )
            .await?,
        ),
    }
}

pub async fn fetch_identity(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    tokens: &TokenSet,
) -> Result<Identity, OAuthError> {
    let token = tokens.access_token.as_str();
    match cfg.platform {
        Platform::Facebook => {
            let me = send_json(
                http.get(format!("{}/me", cfg.api_url))
                    .query(&[("fields", "id,name,picture"), ("access_token", token)]),
            )
            .await?;
            let pages = send_json(
                http.get(format!("{}/me/accounts", cfg.api_url))
                    .query(&[("fields", "id,name,access_token,picture"), ("access_token", token)]),
            )
            .await?;
            let placements = pages["data"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|p| {
                            Some(PlacementInfo {
                                external_id: str_field(&p["id"])?,
                                name: str_field(&p["name"]).unwrap_or_default(),
                                avatar_url: str_field(&p["picture"]["data"]["url"]),
                                access_token: str_field(&p["access_token"]),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Identity {
                external_id: super::required(&me["id"], "id")?,
                name: str_field(&me["name"]).unwrap_or_default(),
                username: None,
                avatar_url: str_field(&me["picture"]["data"]["url"]),
                placements,
            })
        }
        Platform::Instagram => {
            let me = send_json(http.get(format!("{}/me", cfg.api_url)).query(&[
                ("fields", "user_id,username,name,profile_picture_url"),
                ("access_token", token),
            ]))
            .await?;
            let username = str_field(&me["username"]);
            Ok(Identity {
                external_id: str_field(&me["user_id"])
                    .or_else(|| str_field(&me["id"]))
                    .ok_or_else(|| OAuthError::Protocol("missing user_id".into()))?,
                name: str_field(&me["name"]).or_else(|| username.clone()).unwrap_or_default(),
                username,
                avatar_url: str_field(&me["profile_picture_url"]),
                placements: vec![],
            })
        }
        _ => {
            let me = send_json(http.get(format!("{}/v1.0/me", cfg.api_url)).query(&[
                ("fields", "id,username,name,threads_profile_picture_url"),
                ("access_token", token),
            ]))
            .await?;
            let username = str_field(&me["username"]);
            Ok(Identity {
                external_id: super::required(&me["id"], "id")?,
                name: str_field(&me["name"]).or_else(|| username.clone()).unwrap_or_default(),
                username,
                avatar_url: str_field(&me["threads_profile_picture_url"]),
                placements: vec![],
            })
        }
    }
}

/// Facebook: removes the app's permissions for the user.
pub async fn revoke(http: &reqwest::Client, cfg: &ProviderConfig, access_token: &str) -> Result<(), OAuthError> {
    send_json(
        http.delete(format!("{}/me/permissions", cfg.api_url))
            .query(&[("access_token", access_token)]),
    )
    .await
    .map(|_| ())
}
