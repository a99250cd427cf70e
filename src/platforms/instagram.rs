//! Instagram (Instagram Login): containers from pulled image URLs, then `media_publish`.

use super::meta_graph;
use super::publish::{Account, Failure, Item, Lookup, Published, SendGuard};
use super::{Identity, Network, OAuthError, OAuthSpec, ProviderConfig, Spec, TokenSet};
use crate::domain::platform::Platform;

/// Instagram: Business and Creator accounts, through Instagram Login.
pub struct Instagram;

pub const SPEC: Spec = Spec {
    platform: Platform::Instagram,
    authorize_url: "https://www.instagram.com/oauth/authorize",
    token_url: "https://api.instagram.com/oauth/access_token",
    api_url: "https://graph.instagram.com",
    // manage_comments: the post's first_comment.
    scopes: &[
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",
    ],
    oauth: OAuthSpec {
        client_id_param: "client_id",
        scope_separator: ",",
        pkce: false,
        extra_authorize_params: &[],
    },
    // Long-lived tokens (≈60 days) that renew themselves.
    refresh_lead: std::time::Duration::from_secs(7 * 24 * 3600),
    self_renewing: true,
    can_look_up: true,
    can_delete: false,
};

#[async_trait::async_trait]
impl Network for Instagram {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    async fn exchange_code(
        &self,
        http: &reqwest::Client,
        cfg: &ProviderConfig,
        code: &str,
        redirect_uri: &str,
        _pkce_verifier: Option<&str>,
    ) -> Result<TokenSet, OAuthError> {
        meta_graph::exchange_code(http, cfg, code, redirect_uri).await
    }
    async fn fetch_identity(
        &self,
        http: &reqwest::Client,
        cfg: &ProviderConfig,
        tokens: &TokenSet,
    ) -> Result<Identity, OAuthError> {
        meta_graph::fetch_identity(http, cfg, tokens).await
    }
    async fn refresh(
        &self,
        http: &reqwest::Client,
        cfg: &ProviderConfig,
        access_token: &str,
        _refresh_token: Option<&str>,
    ) -> Result<TokenSet, OAuthError> {
        meta_graph::refresh(http, cfg, access_token).await
    }
    async fn publish(
        &self,
        http: &reqwest::Client,
        account: &Account,
        item: &Item<'_>,
        guard: &dyn SendGuard,
    ) -> Result<Published, Failure> {
        meta_graph::publish_instagram(http, account, item, guard).await
    }
    async fn look_up(
        &self,
        http: &reqwest::Client,
        account: &Account,
        item: &Item<'_>,
        since_ms: i64,
        reference: Option<&str>,
    ) -> Result<Lookup, Failure> {
        meta_graph::lookup_container(http, account, item, since_ms, reference).await
    }
}
