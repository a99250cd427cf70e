//! The `sync_placements` job: placements that appear after the connection (a Telegram bot made
//! an administrator of a channel) are read from the platform every scheduler tick, and at once
//! when a client lists a profile's placements.

use super::JobError;
use super::job::Job;
use crate::clock::now_ms;
use crate::credentials::{self, Column};
use crate::db::jobs::JobRow;
use crate::db::profiles::{self, NewPlacement};
use crate::domain::connection::ProfileStatus;
use crate::platforms::{self, publish::FailureKind};
use crate::state::AppState;

/// Reads one profile's new placements.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncPlacements {
    pub profile_id: i64,
}

#[async_trait::async_trait]
impl Job for SyncPlacements {
    const KIND: &'static str = "sync_placements";
    // The next tick enqueues it again.
    const MAX_ATTEMPTS: i64 = 1;
    fn dedupe_key(&self) -> Option<String> {
        Some(format!("placements:{}", self.profile_id))
    }
    async fn run(self, state: &AppState, _row: &JobRow) -> Result<(), JobError> {
        sync(state, self.profile_id).await
    }
}

/// Applies what the platform reports since the last look. A refused token makes the profile
/// inactive (a bot token revoked in @BotFather); a passing failure waits for the next look.
pub async fn sync(state: &AppState, profile_id: i64) -> Result<(), JobError> {
    let Some(row) = profiles::credentials(&state.db, profile_id).await? else {
        return Ok(());
    };
    let platform = row.platform;
    if row.status != ProfileStatus::Active || !platforms::placements_appear(platform) {
        return Ok(());
    }
    let Some(cfg) = state.providers.get(platform) else {
        return Ok(());
    };
    let token = credentials::open_column(&state.sealer, &row, Column::AccessToken)
        .map_err(|_| {
            JobError::Permanent("stored credentials cannot be decrypted (wrong POSTPROXY_SECRET_KEY?)".into())
        })?
        .ok_or_else(|| JobError::Permanent("no token stored".into()))?;
    let offset = profiles::updates_offset(&state.db, profile_id).await?;
    let now = now_ms();
    match platforms::placement_changes(&state.http, cfg, &token, offset).await {
        Ok(changes) => {
            let added: Vec<NewPlacement> = changes
                .added
                .into_iter()
                .map(|p| NewPlacement {
                    external_id: p.external_id,
                    name: p.name,
                    avatar_url: p.avatar_url,
                    access_token_enc: None,
                    username: p.username,
                })
                .collect();
            if !added.is_empty() || !changes.removed.is_empty() {
                tracing::info!(
                    profile_id,
                    %platform,
                    added = added.len(),
                    removed = changes.removed.len(),
                    "placements changed"
                );
            }
            profiles::apply_placement_changes(
                &state.db,
                profile_id,
                &added,
                &changes.removed,
                changes.next_offset,
                now,
            )
            .await?;
            Ok(())
        }
        Err(f) if f.kind == FailureKind::Revoked => {
            tracing::warn!(profile_id, %platform, error = %f.message, "credentials refused; profile inactive");
            profiles::set_status(&state.db, profile_id, ProfileStatus::Inactive, "access_revoked", now).await?;
            Ok(())
        }
        Err(f) => Err(JobError::Retry(format!("could not read placements: {}", f.message))),
    }
}
