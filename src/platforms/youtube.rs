//! YouTube through Google OAuth: offline access for a refresh token, PKCE, and the channel as the
//! identity.

use super::{App, ClientAuth, Identity, TokenSet, send_json, str_field};

use super::publish::{Account, Failure, FailureKind, Item, Published, SendGuard};
use super::{Connect, Counting, Network, OAuthSpec, Rules, Spec};
use crate::domain::platform::Platform;

/// YouTube through Google OAuth (offline access, PKCE); video uploads are not here yet.
pub struct Youtube;

pub const SPEC: Spec = Spec {
    platform: Platform::Youtube,
    authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
    token_url: "https://oauth2.googleapis.com/token",
    api_url: "https://www.googleapis.com",
    scopes: &[
        "https://www.googleapis.com/auth/youtube.upload",
        "https://www.googleapis.com/auth/youtube.readonly",
    ],
    connect: Connect::OAuth2(OAuthSpec {
        client_id_param: "client_id",
        scope_separator: " ",
        pkce: true,
        extra_authorize_params: &[
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("include_granted_scopes", "true"),
        ],
        client_auth: ClientAuth::Body,
    }),
    refresh_lead: std::time::Duration::from_secs(10 * 60),
    self_renewing: false,
    can_look_up: false,
    can_delete: false,
    rules: Rules {
        text_limit: 5_000,
        counting: Counting::Chars,
        caption_limit: None,
        max_images: 1,
        image_types: &[],
        max_image_bytes: 0,
        video_types: &[],
        max_video_bytes: 0,
        mixed_media: false,
        video_only: true,
        needs_media: false,
        needs_text_or_media: false,
        threads: false,
    },
};

#[async_trait::async_trait]
impl Network for Youtube {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        let App { http, cfg } = app;
        let body = send_json(
            http.get(format!("{}/youtube/v3/channels", cfg.api_url))
                .query(&[("part", "snippet"), ("mine", "true")])
                .bearer_auth(&tokens.access_token),
        )
        .await?;
        let channel = body["items"]
            .as_array()
            .and_then(|items| items.first())
            .ok_or_else(|| Failure::new(FailureKind::Refused, "this Google account has no YouTube channel"))?;
        let snippet = &channel["snippet"];
        Ok(Identity {
            external_id: super::required(&channel["id"], "channel id")?,
            name: str_field(&snippet["title"]).unwrap_or_default(),
            username: str_field(&snippet["customUrl"]),
            avatar_url: str_field(&snippet["thumbnails"]["default"]["url"]),
            placements: vec![],
        })
    }
    async fn revoke(&self, app: App<'_>, access_token: &str) -> Result<(), Failure> {
        let App { http, cfg } = app;
        let url = cfg.token_url.trim_end_matches("/token").to_string() + "/revoke";
        let resp = http
            .post(url)
            .form(&[("token", access_token)])
            .send()
            .await
            .map_err(|_| Failure::new(FailureKind::Transient, "revoke request failed"))?;
        // Google answers an empty 200 on success.
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Failure::new(
                FailureKind::Refused,
                format!("revoke answered {}", resp.status()),
            ))
        }
    }
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let http = &account.http;
        let _ = (http, item, guard);
        Err(super::not_yet(account.platform, "videos"))
    }
}
