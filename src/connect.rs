//! The hosted connection flow: invitation page → platform consent → callback → profile.
//!
//! It orchestrates storage and the platform clients; the HTTP handlers in
//! `http/routes/connect.rs` only translate to and from HTML and redirects.

use crate::clock::now_ms;
use crate::credentials;
use crate::crypto;
use crate::db::invitations::{self, InvitationRow};
use crate::db::oauth_states;
use crate::db::profiles::{self, ConnectError};
use crate::domain::connection::{OAUTH_STATE_TTL_MS, with_query};
use crate::domain::platform::Platform;
use crate::domain::post::platform_label;
use crate::ids::Kind;
use crate::platforms::{self, publish};
use crate::state::AppState;

/// A problem shown to the person in the browser as an HTML page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    pub status: u16,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    fn not_found() -> Self {
        PageError {
            status: 404,
            title: "Link not found",
            message: "This connection link is not valid. Ask for a new one.".into(),
        }
    }
    fn gone(message: &str) -> Self {
        PageError {
            status: 410,
            title: "Link no longer valid",
            message: message.into(),
        }
    }
    fn internal() -> Self {
        PageError {
            status: 500,
            title: "Something went wrong",
            message: "The connection could not be started. Please try again in a moment.".into(),
        }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database error in the connection flow");
        PageError::internal()
    }
}

/// What the connection page shows.
pub struct Invitation {
    pub row: InvitationRow,
    pub platform: Platform,
    pub group_name: String,
}

/// The URL the platform sends the user back to.
pub fn callback_url(state: &AppState, platform: Platform) -> String {
    format!("{}/oauth/callback/{}", state.public_url, platform.as_str())
}

/// Looks up a usable invitation by its URL token.
pub async fn invitation(state: &AppState, token: &str) -> Result<Invitation, PageError> {
    if token.is_empty() || token.len() > 128 {
        return Err(PageError::not_found());
    }
    let row = invitations::find_by_token_hash(&state.db, &crypto::hash_secret(token))
        .await?
        .ok_or_else(PageError::not_found)?;
    if row.used_at_ms.is_some() {
        return Err(PageError::gone(
            "This connection link has already been used. Ask for a new one.",
        ));
    }
    if row.expires_at_ms <= now_ms() {
        return Err(PageError::gone("This connection link has expired. Ask for a new one."));
    }
    let platform = row.platform;
    let group_name = invitations::group_name(&state.db, &row)
        .await?
        .ok_or_else(PageError::not_found)?;
    Ok(Invitation {
        row,
        platform,
        group_name,
    })
}

/// Starts a trip to the platform: records a single-use state (and PKCE verifier) and returns the
/// authorization URL to redirect to.
pub async fn begin(state: &AppState, token: &str) -> Result<String, PageError> {
    let inv = invitation(state, token).await?;
    let Some(cfg) = state.providers.get(inv.platform) else {
        return Err(PageError {
            status: 503,
            title: "Platform not available",
            message: format!(
                "{} connections are not configured on this server.",
                platform_label(inv.platform)
            ),
        });
    };
    let oauth_state = crypto::random_token();
    let req = platforms::authorize(cfg, &callback_url(state, inv.platform), &oauth_state);
    let now = now_ms();
    let verifier = req
        .pkce_verifier
        .as_deref()
        .map(|v| credentials::seal_verifier(&state.sealer, inv.row.id, v));
    oauth_states::insert(
        &state.db,
        inv.row.id,
        inv.platform.as_str(),
        &crypto::hash_secret(&oauth_state),
        verifier.as_deref(),
        now,
        now + OAUTH_STATE_TTL_MS,
    )
    .await?;
    tracing::info!(invitation_id = inv.row.id, platform = %inv.platform, "redirecting to the platform's consent screen");
    Ok(req.url)
}

/// The query of `GET /oauth/callback/:platform`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Where the callback sends the browser: back to the customer's `redirect_url`, or (when we cannot
/// tell where that is) an error page.
pub enum Finish {
    Redirect(String),
    Page(PageError),
    /// Connected, and the caller gave no `redirect_url` (`force_no_redirect`): a page of ours
    /// says so and that the window can be closed.
    Connected(Platform),
}

/// Handles the platform's redirect back: validates the state, exchanges the code, fetches the
/// identity, and creates or updates the profile. Any failure leaves nothing written.
pub async fn finish(state: &AppState, platform: &str, params: CallbackParams) -> Finish {
    match finish_inner(state, platform, params).await {
        Ok((url, platform)) if url.is_empty() => Finish::Connected(platform),
        Ok((url, _)) => Finish::Redirect(url),
        Err(Failure::Page(p)) => Finish::Page(p),
        Err(Failure::Redirect {
            redirect_url,
            platform,
            code,
            description,
        }) if redirect_url.is_empty() => {
            tracing::warn!(%platform, error = code, "connection failed");
            Finish::Page(PageError {
                status: 400,
                title: "The account was not connected",
                message: format!("{description} You can close this window and ask for a new link."),
            })
        }
        Err(Failure::Redirect {
            redirect_url,
            platform,
            code,
            description,
        }) => {
            tracing::warn!(%platform, error = code, "connection failed");
            Finish::Redirect(with_query(
                &redirect_url,
                &[
                    ("status", "error"),
                    ("error", code),
                    ("error_description", &description),
                    ("platform", platform.as_str()),
                ],
            ))
        }
    }
}

enum Failure {
    Page(PageError),
    Redirect {
        redirect_url: String,
        platform: Platform,
        code: &'static str,
        description: String,
    },
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Page(e.into())
    }
}

/// The address to send the browser back to (empty: no `redirect_url`), and the platform.
async fn finish_inner(state: &AppState, platform: &str, params: CallbackParams) -> Result<(String, Platform), Failure> {
    let bad_state = || {
        Failure::Page(PageError {
            status: 400,
            title: "Sign-in could not be completed",
            message: "This sign-in response is not valid (unknown or tampered state). Start again from the app that sent you."
                .into(),
        })
    };
    let platform = Platform::parse(platform).ok_or_else(|| Failure::Page(PageError::not_found()))?;
    let raw_state = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(bad_state)?;
    let st = oauth_states::find(&state.db, &crypto::hash_secret(raw_state))
        .await?
        .ok_or_else(bad_state)?;
    if st.platform != platform {
        return Err(bad_state());
    }
    let inv = invitations::find(&state.db, st.invitation_id)
        .await?
        .ok_or_else(bad_state)?;
    let fail = |code: &'static str, description: String| Failure::Redirect {
        redirect_url: inv.redirect_url.clone(),
        platform,
        code,
        description,
    };
    let now = now_ms();
    // Single use: whoever consumes the state first proceeds; a replay stops here.
    if !oauth_states::consume(&state.db, st.id, now).await? {
        return Err(fail("invalid_state", "This sign-in response was already used.".into()));
    }
    if st.expires_at_ms <= now {
        return Err(fail(
            "expired_state",
            "The sign-in took too long. Please start again.".into(),
        ));
    }
    if inv.used_at_ms.is_some() {
        return Err(fail(
            "invitation_used",
            "This connection link has already been used.".into(),
        ));
    }
    if inv.expires_at_ms <= now {
        return Err(fail("invitation_expired", "This connection link has expired.".into()));
    }
    if let Some(err) = params.error.as_deref().filter(|e| !e.is_empty()) {
        // `access_denied` (most), `user_denied` (Meta), `user_cancelled_authorize`/`_login` (LinkedIn).
        let denied = err.contains("denied") || err.contains("cancel");
        let code = if denied {
            "access_denied"
        } else {
            "authorization_failed"
        };
        let description = params
            .error_description
            .clone()
            .unwrap_or_else(|| "The user did not grant access.".into());
        return Err(fail(code, description.chars().take(300).collect()));
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| fail("invalid_request", "The platform returned no authorization code.".into()))?;
    let cfg = state.providers.get(platform).ok_or_else(|| {
        fail(
            "platform_not_configured",
            format!("{} is not configured on this server.", platform_label(platform)),
        )
    })?;
    let verifier = match &st.pkce_verifier_enc {
        Some(enc) => Some(
            credentials::open_verifier(&state.sealer, inv.id, enc)
                .map_err(|_| fail("invalid_state", "The sign-in state could not be read.".into()))?,
        ),
        None => None,
    };
    let redirect_uri = callback_url(state, platform);
    let tokens = platforms::exchange_code(&state.http, cfg, code, &redirect_uri, verifier.as_deref())
        .await
        .map_err(|e| {
            fail(
                "token_exchange_failed",
                describe(platform, "exchange the authorization code", &e),
            )
        })?;
    let identity = platforms::fetch_identity(&state.http, cfg, &tokens)
        .await
        .map_err(|e| {
            fail(
                "identity_fetch_failed",
                describe(platform, "read the connected account", &e),
            )
        })?;

    let target = credentials::Target {
        invitation_id: Some(inv.id),
        account_id: inv.account_id,
        profile_group_id: inv.profile_group_id,
        refresh_connection: inv.refresh_connection,
    };
    let connected = credentials::seal_connection(&state.sealer, target, platform, &tokens, None, identity, now);
    match profiles::complete_connection(&state.db, &connected, now).await? {
        Ok(profile_id) => {
            tracing::info!(profile_id, %platform, reconnect = inv.refresh_connection, "profile connected");
            let profile = state.encode(Kind::Profile, profile_id);
            if inv.redirect_url.is_empty() {
                return Ok((String::new(), platform));
            }
            let url = with_query(
                &inv.redirect_url,
                &[
                    ("status", "success"),
                    ("profile_id", &profile),
                    ("platform", platform.as_str()),
                ],
            );
            Ok((url, platform))
        }
        Err(ConnectError::AlreadyConnected) => Err(fail(
            "already_connected",
            format!(
                "This {} account is already connected in this profile group.",
                platform_label(platform)
            ),
        )),
        Err(ConnectError::InvitationUsed) => Err(fail(
            "invitation_used",
            "This connection link has already been used.".into(),
        )),
    }
}

fn describe(platform: Platform, what: &str, e: &publish::Failure) -> String {
    // The error text is secret-free by construction (see platforms::oauth::describe); keep it short.
    tracing::warn!(%platform, kind = ?e.kind, error = %e.message, "platform call failed during connection");
    format!("Could not {what} with {}.", platform_label(platform))
}

/// A profile connected with credentials within the API call (`initialize_connection` for
/// Bluesky and Telegram).
pub struct SignedInProfile {
    pub profile_id: i64,
    pub name: String,
    pub username: Option<String>,
    pub next_step: Option<String>,
}

/// Where a credentials connection lands.
pub struct SignInTarget {
    pub account_id: i64,
    pub profile_group_id: i64,
    pub platform: Platform,
    pub refresh_connection: bool,
}

/// Signs in on the platform with the credentials given and stores the profile, its secrets
/// sealed. Credentials the platform refuses are a 422 in its words and nothing is stored.
pub async fn sign_in(
    state: &AppState,
    to: SignInTarget,
    given: &platforms::Given<'_>,
) -> Result<SignedInProfile, crate::error::ApiError> {
    use crate::error::ApiError;
    use publish::FailureKind;
    let platform = to.platform;
    let label = platform_label(platform);
    let cfg = state
        .providers
        .get(platform)
        .ok_or_else(|| ApiError::Unprocessable("Platform not configured".into()))?;
    let signed = platforms::sign_in(&state.http, cfg, given).await.map_err(|f| {
        tracing::warn!(%platform, kind = ?f.kind, error = %f.message, "sign-in with credentials failed");
        match f.kind {
            FailureKind::Transient | FailureKind::Unknown => ApiError::Upstream(format!(
                "{label} could not be reached to check the credentials: {}",
                f.message
            )),
            // A refusal of something else than the credentials says what to do about it.
            _ => ApiError::Unprocessable(match &f.note {
                Some(note) if f.kind == FailureKind::Refused => {
                    format!("{label} refused the credentials: {} ({note})", f.message)
                }
                _ => format!("{label} refused the credentials: {}", f.message),
            }),
        }
    })?;
    let now = now_ms();
    let target = credentials::Target {
        invitation_id: None,
        account_id: to.account_id,
        profile_group_id: to.profile_group_id,
        refresh_connection: to.refresh_connection,
    };
    let (name, username) = (signed.identity.name.clone(), signed.identity.username.clone());
    let mut connected = credentials::seal_connection(
        &state.sealer,
        target,
        platform,
        &signed.tokens,
        signed.credential.as_deref(),
        signed.identity,
        now,
    );
    connected.endpoint = signed.endpoint;
    match profiles::complete_connection(&state.db, &connected, now).await? {
        Ok(profile_id) => {
            tracing::info!(profile_id, %platform, reconnect = to.refresh_connection, "profile connected with credentials");
            Ok(SignedInProfile {
                profile_id,
                name,
                username,
                next_step: signed.next_step,
            })
        }
        Err(ConnectError::AlreadyConnected) => Err(ApiError::Unprocessable("Platform already connected".into())),
        // The group was deleted meanwhile.
        Err(ConnectError::InvitationUsed) => Err(ApiError::NotFound),
    }
}
