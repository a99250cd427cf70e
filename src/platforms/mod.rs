//! The seven platforms, one room each. A platform's file opens with what the platform *is*, as
//! data (`Spec`: endpoints, scopes, OAuth quirks, capabilities), then implements `Network` (its
//! OAuth calls, publisher, lookup and deletion). `network` is the registry: one line per
//! platform. What the platforms share lives beside them: `oauth` (the OAuth 2 protocol and the
//! configured apps), `publish` (the publishing vocabulary and HTTP plumbing), `meta_graph`
//! (Meta's Graph API, under Facebook, Instagram and Threads), `quota`, `pkce`.
//! Hand-written on reqwest (see docs/platforms.md for each platform's contract): the platforms
//! differ in exactly the places a generic client would hide.
//!
//! Adding a plain OAuth platform: a `Platform` variant (`domain/platform.rs`), its parameters
//! (`domain/post.rs`), a file here with its `SPEC` and `Network` impl, and its line in `network`.

mod bluesky;
mod facebook;
mod instagram;
mod linkedin;
mod meta_graph;
pub mod oauth;
pub mod pkce;
pub mod publish;
pub mod quota;
pub mod signin;
mod telegram;
mod threads;
mod tiktok;
mod x;
mod youtube;

use std::time::Duration;

pub use oauth::{
    App, AuthorizeRequest, ClientAuth, Code, Held, Identity, OAuthSpec, PlacementInfo, ProviderConfig, Providers,
    TokenSet, authorize, env_prefix,
};
pub(crate) use oauth::{redact_reqwest, required, send_json, str_field, token_set};
use publish::{Account, Failure, FailureKind, Item, Lookup, Published, SendGuard};
pub use signin::{Given, PlacementChanges, SignedIn};

use crate::domain::platform::Platform;
use crate::domain::post::platform_label;
pub use crate::domain::rules::{Counting, Rules};

/// What a platform is, as data.
pub struct Spec {
    pub platform: Platform,
    /// Production endpoints, each overridable by `POSTPROXY_<PLATFORM>_AUTHORIZE_URL` and so on.
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    /// Base of the platform's API, e.g. `https://api.x.com`.
    pub api_url: &'static str,
    /// The scopes publishing needs (`POSTPROXY_<PLATFORM>_SCOPES` overrides).
    pub scopes: &'static [&'static str],
    /// How the platform connects.
    pub connect: Connect,
    /// How long before the access token's expiry a refresh is due.
    pub refresh_lead: Duration,
    /// The access token renews itself (Meta's long-lived tokens): refreshable without a refresh token.
    pub self_renewing: bool,
    /// The platform can be asked whether a post whose create call had an unknown outcome exists.
    pub can_look_up: bool,
    /// The platform's API lets an app delete a post it published.
    pub can_delete: bool,
    /// What a post to this platform may hold (text count and limit, images, threads).
    pub rules: Rules,
}

/// How a platform connects a customer's account.
pub enum Connect {
    /// The hosted OAuth 2 flow, through an app registered on the platform (`POSTPROXY_<P>_CLIENT_ID`).
    OAuth2(OAuthSpec),
    /// Credentials the customer gives directly (Bluesky's handle and app password, Telegram's
    /// bot token). No app to register.
    Credentials(CredentialSpec),
}

/// How a credentials platform signs in, as data.
pub struct CredentialSpec {
    /// The fields `initialize_connection` asks for.
    pub fields: &'static [CredentialField],
    /// The variable (after `POSTPROXY_<PLATFORM>_`) overriding `Spec::api_url`: `API_URL`, or
    /// Bluesky's `SERVICE_URL`.
    pub api_url_var: &'static str,
    /// Further endpoints, `(variable, default)` (Bluesky's `PLC_URL`), in `ProviderConfig::url`.
    pub urls: &'static [(&'static str, &'static str)],
    /// Placements appear after the connection (`Network::placement_changes`, read every tick).
    pub placements_appear: bool,
}

/// One credential a platform asks for.
pub struct CredentialField {
    /// The field's name in `initialize_connection` (e.g. `app_password`).
    pub name: &'static str,
    /// What it is, for the message when it is missing.
    pub what: &'static str,
}

impl Spec {
    /// The OAuth 2 quirks of a platform that connects through OAuth.
    pub fn oauth(&self) -> Option<&OAuthSpec> {
        match &self.connect {
            Connect::OAuth2(q) => Some(q),
            Connect::Credentials(_) => None,
        }
    }

    /// What a platform connected with credentials asks for.
    pub fn credentials(&self) -> Option<&CredentialSpec> {
        match &self.connect {
            Connect::OAuth2(_) => None,
            Connect::Credentials(c) => Some(c),
        }
    }
}

/// Everything postproxy does with one platform. Defaults are the plain OAuth 2 protocol and
/// "the platform cannot": a platform overrides only where it differs.
#[async_trait::async_trait]
pub trait Network: Send + Sync {
    fn spec(&self) -> &'static Spec;

    /// Exchanges an authorization code for tokens.
    async fn exchange_code(&self, app: App<'_>, code: Code<'_>) -> Result<TokenSet, Failure> {
        oauth::standard_exchange(app, code).await
    }

    /// The connected account (and its placements), from the platform's "me" endpoint.
    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure>;

    /// Signs in with the credentials a customer gave (`Connect::Credentials`). A refusal of the
    /// credentials is `Refused` or `Revoked`, in the platform's words.
    async fn sign_in(&self, _app: App<'_>, _given: &Given<'_>) -> Result<SignedIn, Failure> {
        Err(Failure::new(
            FailureKind::Refused,
            format!("{} connects through OAuth", platform_label(self.spec().platform)),
        ))
    }

    /// Placements that appeared or went since `offset` (Telegram's chats, which appear when the
    /// bot is made an administrator). Most platforms list them at connection time instead.
    async fn placement_changes(
        &self,
        _app: App<'_>,
        _token: &str,
        _offset: Option<i64>,
    ) -> Result<PlacementChanges, Failure> {
        Ok(PlacementChanges::default())
    }

    /// Renews the tokens: `access_token` is the current one, `refresh_token` the stored one.
    async fn refresh(&self, app: App<'_>, held: Held<'_>) -> Result<TokenSet, Failure> {
        let refresh_token = held
            .refresh_token
            .ok_or_else(|| Failure::new(FailureKind::Refused, "no refresh token"))?;
        oauth::standard_refresh(app, refresh_token).await
    }

    /// Revokes the app's access where the platform offers it (best effort).
    async fn revoke(&self, _app: App<'_>, _access_token: &str) -> Result<(), Failure> {
        Ok(())
    }

    /// Publishes one item (the post or a thread part).
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure>;

    /// Looks for an item among the account's posts created since `since_ms` (`Spec::can_look_up`);
    /// `reference` is what the send was armed with (a container, a publish id).
    async fn look_up(
        &self,
        _account: &Account,
        _item: &Item<'_>,
        _since_ms: i64,
        _reference: Option<&str>,
    ) -> Result<Lookup, Failure> {
        Ok(Lookup::Unavailable(format!(
            "{} offers no way to look the post up",
            platform_label(self.spec().platform)
        )))
    }

    /// Whether a published id is provisional and the platform names the final one later.
    fn awaits_final_id(&self, _id: &str) -> bool {
        false
    }

    /// Asks the platform once for the final id of a post published under a provisional one.
    async fn final_id(&self, _account: &Account, _provisional: &str) -> Result<Option<Published>, Failure> {
        Ok(None)
    }

    /// Deletes a published item (`Spec::can_delete`).
    async fn delete(&self, _account: &Account, _platform_post_id: &str) -> Result<(), Failure> {
        Err(Failure::new(
            FailureKind::Refused,
            format!(
                "{} does not let apps delete posts",
                platform_label(self.spec().platform)
            ),
        ))
    }
}

/// The registry: each platform's room.
pub fn network(p: Platform) -> &'static dyn Network {
    match p {
        Platform::Facebook => &facebook::Facebook,
        Platform::Instagram => &instagram::Instagram,
        Platform::Tiktok => &tiktok::Tiktok,
        Platform::Linkedin => &linkedin::Linkedin,
        Platform::Youtube => &youtube::Youtube,
        Platform::Twitter => &x::X,
        Platform::Threads => &threads::Threads,
        Platform::Telegram => &telegram::Telegram,
        Platform::Bluesky => &bluesky::Bluesky,
    }
}

/// Exchanges an authorization code for tokens (including Meta's long-lived swap).
pub async fn exchange_code(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: Option<&str>,
) -> Result<TokenSet, Failure> {
    let code = Code {
        code,
        redirect_uri,
        pkce_verifier,
    };
    network(cfg.platform).exchange_code(App { http, cfg }, code).await
}

/// Fetches the connected account (and its placements) from the platform's "me" endpoint.
pub async fn fetch_identity(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    tokens: &TokenSet,
) -> Result<Identity, Failure> {
    network(cfg.platform).fetch_identity(App { http, cfg }, tokens).await
}

/// What a post to the platform may hold.
pub fn rules(p: Platform) -> &'static Rules {
    &network(p).spec().rules
}

/// Whether the platform can renew this connection without the user.
pub fn can_refresh(p: Platform, has_refresh_token: bool) -> bool {
    network(p).spec().self_renewing || has_refresh_token
}

/// How long before the access token's expiry a refresh is due.
pub fn refresh_lead(p: Platform) -> Duration {
    network(p).spec().refresh_lead
}

/// Renews the tokens a connection holds.
pub async fn refresh(http: &reqwest::Client, cfg: &ProviderConfig, held: Held<'_>) -> Result<TokenSet, Failure> {
    network(cfg.platform).refresh(App { http, cfg }, held).await
}

/// Signs in with credentials a customer gave (a platform with `Connect::Credentials`).
pub async fn sign_in(http: &reqwest::Client, cfg: &ProviderConfig, given: &Given<'_>) -> Result<SignedIn, Failure> {
    network(cfg.platform).sign_in(App { http, cfg }, given).await
}

/// Placements that appeared or went since `offset` (see `Network::placement_changes`).
pub async fn placement_changes(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    token: &str,
    offset: Option<i64>,
) -> Result<PlacementChanges, Failure> {
    network(cfg.platform)
        .placement_changes(App { http, cfg }, token, offset)
        .await
}

/// Revokes the app's access where the platform offers it (best effort; errors are the caller's to log).
pub async fn revoke(http: &reqwest::Client, cfg: &ProviderConfig, access_token: &str) -> Result<(), Failure> {
    network(cfg.platform).revoke(App { http, cfg }, access_token).await
}

/// Publishes one item (the post or a thread part) on the account's platform.
pub async fn publish(account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
    if item.media.iter().any(publish::MediaFile::is_video) && rules(account.platform).max_video_bytes == 0 {
        return Err(not_yet(account.platform, "videos"));
    }
    network(account.platform).publish(account, item, guard).await
}

/// A refusal for what this server version cannot publish yet (nothing was sent).
fn not_yet(p: Platform, what: &str) -> Failure {
    Failure::new(
        FailureKind::Refused,
        format!(
            "Publishing {what} to {} is not available in this server version yet",
            platform_label(p)
        ),
    )
    .note("Nothing was sent to the platform. The post was stored; post it there directly for now.")
}

/// Whether the platform's placements appear after the connection (Telegram's chats), to be
/// read with `placement_changes`.
pub fn placements_appear(p: Platform) -> bool {
    network(p).spec().credentials().is_some_and(|c| c.placements_appear)
}

/// Whether the platform lets postproxy look for a post whose create call had an unknown outcome.
pub fn can_look_up(p: Platform) -> bool {
    network(p).spec().can_look_up
}

/// Looks for an item among the account's posts created since `since_ms` (see `can_look_up`);
/// `reference` is what the send was armed with (a Threads or Instagram container).
pub async fn look_up(
    account: &Account,
    item: &Item<'_>,
    since_ms: i64,
    reference: Option<&str>,
) -> Result<Lookup, Failure> {
    network(account.platform)
        .look_up(account, item, since_ms, reference)
        .await
}

/// Whether a published id is provisional and the platform names the final one later.
pub fn awaits_final_id(p: Platform, id: &str) -> bool {
    network(p).awaits_final_id(id)
}

/// Asks the platform once for the final id of a post published under a provisional one.
pub async fn final_id(account: &Account, provisional: &str) -> Result<Option<Published>, Failure> {
    network(account.platform).final_id(account, provisional).await
}

/// Whether the platform's API lets an app delete a post it published.
pub fn can_delete(p: Platform) -> bool {
    network(p).spec().can_delete
}

/// Deletes a published item where the platform allows it.
pub async fn delete_post(account: &Account, platform_post_id: &str) -> Result<(), Failure> {
    network(account.platform).delete(account, platform_post_id).await
}
