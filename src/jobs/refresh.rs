//! The `refresh_token` job: renews one profile's OAuth tokens before they expire.

use super::JobError;
use super::job::Job;
use crate::clock::now_ms;
use crate::credentials::{self, Column, ProfileKey};
use crate::db::jobs::JobRow;
use crate::db::profiles;
use crate::domain::connection::{ProfileStatus, expiry};
use crate::platforms::{self, publish::FailureKind};
use crate::state::AppState;

/// How long one refresh may hold a profile's refresh lease.
const REFRESH_LEASE_MS: i64 = 60_000;

/// Renews one profile's tokens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefreshToken {
    pub profile_id: i64,
}

#[async_trait::async_trait]
impl Job for RefreshToken {
    const KIND: &'static str = "refresh_token";
    fn dedupe_key(&self) -> Option<String> {
        Some(format!("refresh:{}", self.profile_id))
    }
    /// Before, payloads were the profile id alone.
    fn legacy(payload: &str) -> Option<Self> {
        Some(RefreshToken {
            profile_id: payload.parse().ok()?,
        })
    }
    async fn run(self, state: &AppState, _row: &JobRow) -> Result<(), JobError> {
        refresh_profile(state, self.profile_id).await
    }
}

/// Renews a profile's tokens, one refresh per profile at a time across every replica: X and
/// TikTok rotate refresh tokens, so a second concurrent refresh would present a dead one and
/// wrongly expire the profile. A caller that finds a refresh running waits for it instead.
pub async fn refresh_profile(state: &AppState, profile_id: i64) -> Result<(), JobError> {
    let now = now_ms();
    if !profiles::lock_refresh(&state.db, profile_id, now, now + REFRESH_LEASE_MS).await? {
        for _ in 0..(REFRESH_LEASE_MS / 250) {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let now = now_ms();
            if profiles::lock_refresh(&state.db, profile_id, now, now + REFRESH_LEASE_MS).await? {
                // The other refresh finished: its tokens are stored; nothing left to do.
                profiles::unlock_refresh(&state.db, profile_id).await?;
                return Ok(());
            }
        }
        return Err(JobError::Retry(
            "another refresh of this profile is still running".into(),
        ));
    }
    let result = refresh_locked(state, profile_id).await;
    profiles::unlock_refresh(&state.db, profile_id).await?;
    result
}

async fn refresh_locked(state: &AppState, profile_id: i64) -> Result<(), JobError> {
    let Some(row) = profiles::credentials(&state.db, profile_id).await? else {
        return Ok(()); // deleted meanwhile
    };
    if row.status != ProfileStatus::Active {
        return Ok(());
    }
    let platform = row.platform;
    let cfg = state
        .providers
        .get(platform)
        .ok_or_else(|| JobError::Retry(format!("{platform} is not configured; cannot refresh")))?;
    let key = ProfileKey::of(&row);
    let open = |column: Column| -> Result<Option<String>, JobError> {
        credentials::open_column(&state.sealer, &row, column).map_err(|_| {
            JobError::Permanent("stored credentials cannot be decrypted (wrong POSTPROXY_SECRET_KEY?)".into())
        })
    };
    let access = open(Column::AccessToken)?.ok_or_else(|| JobError::Permanent("no access token".into()))?;
    let refresh = open(Column::RefreshToken)?;
    let credential = open(Column::Credential)?;
    let now = now_ms();
    if !platforms::can_refresh(platform, refresh.is_some()) {
        // Nothing to renew with: the scheduler marks it expired when its time comes.
        return Ok(());
    }
    let outbound = state.media.fetcher.outbound();
    let held = platforms::Held {
        outbound: &outbound,
        access_token: &access,
        refresh_token: refresh.as_deref(),
        credential: credential.as_deref(),
        endpoint: row.endpoint.as_deref(),
    };
    match platforms::refresh(&state.http, cfg, held).await {
        Ok(tokens) => {
            // Platforms that do not rotate refresh tokens answer without one: keep ours.
            let new_refresh = tokens.refresh_token.clone().or(refresh);
            let exp = expiry(
                platform,
                now,
                tokens.expires_in,
                tokens.refresh_expires_in,
                new_refresh.is_some(),
            );
            let access_enc = key.seal(&state.sealer, Column::AccessToken, &tokens.access_token);
            let refresh_enc = new_refresh
                .as_deref()
                .map(|t| key.seal(&state.sealer, Column::RefreshToken, t));
            profiles::store_refreshed(
                &state.db,
                profile_id,
                &access_enc,
                refresh_enc.as_deref(),
                exp.access_expires_at_ms,
                exp.expires_at_ms,
                now,
            )
            .await?;
            tracing::info!(profile_id, %platform, "tokens refreshed");
            Ok(())
        }
        Err(f) if f.kind == FailureKind::Revoked => {
            tracing::warn!(profile_id, %platform, error = %f.message, "access revoked; profile inactive");
            profiles::set_status(&state.db, profile_id, ProfileStatus::Inactive, "access_revoked", now).await?;
            Ok(())
        }
        Err(f) if f.kind == FailureKind::Transient => {
            Err(JobError::Retry(format!("temporary platform failure: {}", f.message)))
        }
        Err(f) => {
            tracing::warn!(profile_id, %platform, error = %f.message, "refresh rejected; profile expired");
            profiles::set_status(&state.db, profile_id, ProfileStatus::Expired, "refresh_rejected", now).await?;
            Ok(())
        }
    }
}
