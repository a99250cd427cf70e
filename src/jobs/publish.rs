//! Publish jobs: one per (post, profile), and the download of a post's URL media.
//!
//! This server version stores, schedules and validates posts, but its platform publishers are
//! not in yet. So that no post waits forever, a due job fails its result at once with a note
//! that says so, and moves the post on to `processed`.

use super::JobError;
use crate::clock::now_ms;
use crate::db::posts as store;
use crate::domain::platform::Platform;
use crate::domain::post::platform_label;
use crate::state::AppState;

/// Payload `"{post_id}:{profile_id}"`.
fn parse_payload(payload: &str) -> Result<(i64, i64), JobError> {
    payload
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| JobError::Permanent(format!("bad payload {payload:?}")))
}

pub async fn run(state: &AppState, payload: &str) -> Result<(), JobError> {
    let (post_id, profile_id) = parse_payload(payload)?;
    let now = now_ms();
    let Some(platform) = store::results(&state.db, &[post_id])
        .await?
        .into_iter()
        .find(|r| r.profile_id == Some(profile_id))
        .map(|r| r.platform)
    else {
        return Ok(()); // the post or profile is gone: nothing to publish
    };
    let label = Platform::parse(&platform)
        .map(platform_label)
        .unwrap_or("this platform");
    store::set_status(&state.db, post_id, &["scheduled", "processing"], "processed", now).await?;
    store::fail_result(
        &state.db,
        post_id,
        profile_id,
        &format!("Publishing to {label} is not available in this server version yet"),
        "The post was stored and validated, but this server cannot publish it yet. Nothing was sent to the platform; \
         post it there directly, or upgrade the server and create the post again.",
        now,
    )
    .await?;
    tracing::warn!(post_id, profile_id, %platform, "publishing is not implemented; result failed with a note");
    Ok(())
}

/// Payload `"{post_id}"`: downloads its URL media.
pub async fn fetch_media(state: &AppState, payload: &str) -> Result<(), JobError> {
    let post_id: i64 = payload
        .parse()
        .map_err(|_| JobError::Permanent(format!("bad payload {payload:?}")))?;
    let now = now_ms();
    store::fail_pending_media(
        &state.db,
        post_id,
        "Downloading media from URLs is not available in this server version yet",
        now,
    )
    .await?;
    Ok(())
}
