//! LinkedIn: OpenID Connect userinfo for the member; administered organisations (when the
//! Community Management scopes are granted) become placements.

use super::{Identity, OAuthError, PlacementInfo, ProviderConfig, TokenSet, send_json, str_field};

const LINKEDIN_VERSION: &str = "202411";

pub async fn fetch_identity(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    tokens: &TokenSet,
) -> Result<Identity, OAuthError> {
    let me = send_json(
        http.get(format!("{}/v2/userinfo", cfg.api_url))
            .bearer_auth(&tokens.access_token),
    )
    .await?;
    Ok(Identity {
        external_id: super::required(&me["sub"], "sub")?,
        name: str_field(&me["name"]).unwrap_or_default(),
        username: None,
        avatar_url: str_field(&me["picture"]),
        placements: organisations(http, cfg, &tokens.access_token).await?,
    })
}

/// Organisations the member administers. Without the organisation scopes LinkedIn answers 403,
/// which simply means there are none to offer.
async fn organisations(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    token: &str,
) -> Result<Vec<PlacementInfo>, OAuthError> {
    let rest = |path: String| {
        http.get(format!("{}{path}", cfg.api_url))
            .bearer_auth(token)
            .header("LinkedIn-Version", LINKEDIN_VERSION)
            .header("X-Restli-Protocol-Version", "2.0.0")
    };
    let acls = match send_json(rest(
        "/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED".into(),
    ))
    .await
    {
        Ok(v) => v,
        Err(OAuthError::Rejected(_)) | Err(OAuthError::Revoked(_)) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for el in acls["elements"].as_array().into_iter().flatten() {
        let Some(id) = el["organization"].as_str().and_then(|u| u.rsplit(':').next()) else {
            continue;
        };
        let org = send_json(rest(format!("/rest/organizations/{id}"))).await?;
        out.push(PlacementInfo {
            external_id: id.to_string(),
            name: str_field(&org["localizedName"]).unwrap_or_else(|| id.to_string()),
            avatar_url: None,
            access_token: None,
        });
    }
    Ok(out)
}

pub async fn revoke(http: &reqwest::Client, cfg: &ProviderConfig, access_token: &str) -> Result<(), OAuthError> {
    let url = cfg.token_url.replace("accessToken", "revoke");
    send_json(http.post(url).form(&[
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.as_str()),
        ("token", access_token),
    ]))
    .await
    .map(|_| ())
}
