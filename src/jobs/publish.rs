//! The publish job: one per (post, profile). It publishes the post and then its thread parts in
//! order, each part replying to the one before, recording every platform id the moment it
//! lands, so a retry skips what is already live.
//!
//! Exactly once: a part is "armed" in the database (`sending_since_ms`) just before the request
//! that creates it leaves. A part found armed without a platform id had an unknown outcome (a
//! crash, a timeout, a 5xx): it is looked up on the platform first. Found, it is recorded as
//! published; certainly absent (still absent once no request of that attempt can be in
//! flight), it is disarmed and sent again; where the platform offers no way to look, it fails
//! with a note rather than risk a second copy.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use super::job::{Job, enqueue_alone};
use super::{JobError, refresh};
use crate::clock::now_ms;
use crate::credentials::{self, Column, ProfileKey};
use crate::db::jobs::JobRow;
use crate::db::posts::{self as store, ChainItem, Failed};
use crate::db::{Db, profiles};
use crate::domain::connection::ProfileStatus;
use crate::domain::platform::Platform;
use crate::domain::post::{PlatformParams, PostStatus, platform_label};
use crate::platforms::publish::{
    Account, Failure, FailureKind, Item, Lookup, MediaFile, Placement, Published, SendGuard,
};
use crate::platforms::{self};
use crate::state::AppState;

/// A token expiring sooner than this is renewed before publishing.
const REFRESH_AHEAD_MS: i64 = 5 * 60 * 1000;
/// How soon a post waiting for its media is looked at again.
const MEDIA_WAIT_MS: i64 = 2_000;
/// How long after arming a send may still be in flight (the platform client's 30 s timeout
/// and a margin): only after this does "not found on the platform" mean it never arrived.
const IN_FLIGHT_MS: i64 = 35_000;
/// A lookup searches from this long before the arming, for clock skew with the platform.
const LOOKUP_SLACK_MS: i64 = 60_000;

/// Attempts of a publish (and of a deletion on a platform).
pub const PUBLISH_MAX_ATTEMPTS: i64 = 8;

/// Publishes a post (and its thread) on one profile. One per (post, profile) at a time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishPost {
    pub post_id: i64,
    pub profile_id: i64,
    /// The profile's platform: each platform has a queue of its own (absent from jobs queued
    /// before JSON payloads, which are already in their queue).
    #[serde(default)]
    pub platform: Option<Platform>,
}

impl PublishPost {
    pub fn new(post_id: i64, profile_id: i64, platform: Platform) -> PublishPost {
        PublishPost {
            post_id,
            profile_id,
            platform: Some(platform),
        }
    }

    /// The dedupe key of (post, profile); with `%` for one side, the pattern that cancels all of
    /// a post's or a profile's.
    fn key(post: impl std::fmt::Display, profile: impl std::fmt::Display) -> String {
        format!("publish:{post}:{profile}")
    }

    /// Cancels a post's pending publishes (edited, deleted, its media failed), in `tx`.
    pub async fn cancel_all(tx: &mut crate::db::Tx, post_id: i64, now_ms: i64) -> sqlx::Result<u64> {
        crate::db::jobs::cancel(tx, &Self::key(post_id, "%"), now_ms).await
    }

    /// Cancels a profile's pending publishes (the profile is deleted), in `tx`.
    pub async fn cancel_profile(tx: &mut crate::db::Tx, profile_id: i64, now_ms: i64) -> sqlx::Result<u64> {
        crate::db::jobs::cancel(tx, &Self::key("%", profile_id), now_ms).await
    }
}

#[async_trait::async_trait]
impl Job for PublishPost {
    const KIND: &'static str = "publish_post";
    const MAX_ATTEMPTS: i64 = PUBLISH_MAX_ATTEMPTS;
    fn queue(&self) -> &str {
        self.platform.map_or("default", Platform::as_str)
    }
    fn dedupe_key(&self) -> Option<String> {
        Some(Self::key(self.post_id, self.profile_id))
    }
    /// Before JSON payloads: `"{post_id}:{profile_id}"`.
    fn legacy(payload: &str) -> Option<Self> {
        let (post, profile) = payload.split_once(':')?;
        Some(PublishPost {
            post_id: post.parse().ok()?,
            profile_id: profile.parse().ok()?,
            platform: None,
        })
    }
    async fn run(self, state: &AppState, row: &JobRow) -> Result<(), JobError> {
        run(state, row, self.post_id, self.profile_id).await
    }
}

/// Downloads a post's URL media into storage (and its thread's).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FetchMedia {
    pub post_id: i64,
}

impl FetchMedia {
    /// The dedupe key of a post's download.
    fn key(post_id: i64) -> String {
        format!("media:{post_id}")
    }

    /// Cancels a post's pending download, in `tx`.
    pub async fn cancel(tx: &mut crate::db::Tx, post_id: i64, now_ms: i64) -> sqlx::Result<u64> {
        crate::db::jobs::cancel(tx, &Self::key(post_id), now_ms).await
    }
}

#[async_trait::async_trait]
impl Job for FetchMedia {
    const KIND: &'static str = "fetch_media";
    const MAX_ATTEMPTS: i64 = 5;
    fn queue(&self) -> &str {
        "media"
    }
    fn dedupe_key(&self) -> Option<String> {
        Some(Self::key(self.post_id))
    }
    /// Before, payloads were the post id alone.
    fn legacy(payload: &str) -> Option<Self> {
        Some(FetchMedia {
            post_id: payload.parse().ok()?,
        })
    }
    async fn run(self, state: &AppState, row: &JobRow) -> Result<(), JobError> {
        fetch_media(state, row, self.post_id).await
    }
}

/// Deletes a published (post, profile) chain on its platform.
#[async_trait::async_trait]
impl Job for store::Unpublish {
    const KIND: &'static str = "unpublish";
    const MAX_ATTEMPTS: i64 = PUBLISH_MAX_ATTEMPTS;
    fn queue(&self) -> &str {
        self.platform.as_str()
    }
    fn dedupe_key(&self) -> Option<String> {
        Some(format!(
            "unpublish:{}",
            self.items.first().map(|i| i.0).unwrap_or_default()
        ))
    }
    async fn run(self, state: &AppState, row: &JobRow) -> Result<(), JobError> {
        unpublish(state, row, self).await
    }
}

/// Waits for a published post's final platform id (TikTok).
#[async_trait::async_trait]
impl Job for ResolveId {
    const KIND: &'static str = "resolve_post_id";
    const MAX_ATTEMPTS: i64 = 10;
    fn queue(&self) -> &str {
        self.platform.as_str()
    }
    fn dedupe_key(&self) -> Option<String> {
        None
    }
    async fn run(self, state: &AppState, row: &JobRow) -> Result<(), JobError> {
        resolve_id(state, row, self).await
    }
}

async fn run(state: &AppState, job: &JobRow, root: i64, profile_id: i64) -> Result<(), JobError> {
    // Few statements per publish: this path runs for every post on every profile.
    let store::PublishChain {
        items: chain,
        any_media,
        credentials,
    } = store::chain(&state.db, root, profile_id).await?;
    let (Some(first), Some(credentials)) = (chain.first(), credentials) else {
        return Ok(()); // deleted meanwhile, or the profile is no longer a target
    };
    let Some((status, params_json)) = store::start_publishing(&state.db, root, now_ms()).await? else {
        return Ok(()); // deleted meanwhile
    };
    match status {
        PostStatus::Pending => return Err(JobError::Defer(now_ms() + MEDIA_WAIT_MS)),
        PostStatus::Draft | PostStatus::MediaProcessingFailed => return Ok(()),
        PostStatus::Scheduled | PostStatus::Processing | PostStatus::Processed => {}
    }
    let platform = first.platform;
    let params = decode_params(&params_json, platform);
    let placement = first.placement_id.clone();
    let last_attempt = job.attempts >= job.max_attempts;

    let outcome = publish_chain(
        state,
        credentials,
        platform,
        placement.as_deref(),
        &params,
        &chain,
        any_media,
    )
    .await;
    let now = now_ms();
    let result = match outcome {
        Ok(()) => Ok(()),
        Err((item, mut failure)) => {
            // An unknown outcome is retried (as a lookup) only where the platform can be asked.
            let retriable = match failure.kind {
                FailureKind::Transient => true,
                FailureKind::Unknown => platforms::can_look_up(platform),
                _ => false,
            };
            let retry = retriable && !last_attempt;
            let mut error = failure.message.clone();
            if failure.kind == FailureKind::Unknown && !retry {
                failure.note = Some(unresolved_note(platform));
            }
            if retriable && last_attempt {
                error = format!("{error} (gave up after {} attempts)", job.attempts);
            }
            let keep_armed = retry && failure.kind == FailureKind::Unknown;
            // An unknown outcome is looked up once nothing of this attempt can be in flight.
            let at = match failure.retry_after {
                Some(d) => now + d.as_millis() as i64,
                None if keep_armed => now + IN_FLIGHT_MS,
                None => 0,
            };
            // As `jobs::execute` will schedule it.
            let at = at.max(now + super::backoff_ms(job.attempts));
            if retry && failure.retry_after.is_some() {
                // A profile waiting out a platform's limit says until when.
                let until = format!("Next attempt at {}.", crate::clock::iso8601(at));
                failure.note = Some(match failure.note.take() {
                    Some(n) => format!("{n} {until}"),
                    None => until,
                });
            }
            record(&state.db, item.result_id, &failure, &error, !retry, keep_armed, now).await?;
            if retry {
                Err(JobError::RetryAt(failure.message, at))
            } else {
                fail_rest(&state.db, &chain, item.position, platform, now).await?;
                tracing::warn!(post_id = root, profile_id, %platform, kind = ?failure.kind, error = %failure.message, "publish failed");
                Ok(())
            }
        }
    };
    store::finish_if_settled(&state.db, root, now_ms()).await?;
    result
}

/// The stored `platforms` of a post, decoded once for the publisher (they were validated when
/// the post was stored; a key an older release accepted and this one does not is logged, and
/// only that platform's parameters are dropped).
fn decode_params(json: &str, platform: Platform) -> PlatformParams {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    if value.is_null() {
        return PlatformParams::default();
    }
    let mut problems = Vec::new();
    let params = PlatformParams::parse(value, &mut problems);
    if !problems.is_empty() {
        tracing::warn!(%platform, problems = ?problems, "stored platform parameters no longer all valid");
    }
    params
}

/// Publishes the chain's unpublished parts in order. Stops at the first failure, naming the
/// part it failed on.
async fn publish_chain<'c>(
    state: &AppState,
    credentials: profiles::CredentialRow,
    platform: Platform,
    placement: Option<&str>,
    params: &PlatformParams,
    chain: &'c [ChainItem],
    any_media: bool,
) -> Result<(), (&'c ChainItem, Failure)> {
    let Some(first) = chain.first() else { return Ok(()) };
    let profile_id = credentials.id;
    let mut account = open_account(state, profile_id, platform, placement, true, Some(credentials))
        .await
        .map_err(|f| (first, f))?;
    let media = if any_media {
        load_media(state, chain).await.map_err(|e| (first, db_failure(e)))?
    } else {
        HashMap::new()
    };
    let no_media = Vec::new();
    let mut previous: Option<String> = None;
    for item in chain {
        if let Some(id) = &item.platform_post_id {
            previous = Some(id.clone());
            continue;
        }
        if item.status.is_over() {
            break;
        }
        if let Some(armed_at) = item.sending_since_ms {
            let it = Item {
                text: &item.body,
                reply_to: previous.as_deref(),
                params,
                media: media.get(&item.post_id).unwrap_or(&no_media),
            };
            match reconcile(state, &account, &it, item, armed_at).await {
                Ok(Some(found)) => {
                    store::record_published(
                        &state.db,
                        item.result_id,
                        &found.id,
                        found.permalink.as_deref(),
                        None,
                        now_ms(),
                    )
                    .await
                    .map_err(|e| (item, db_failure(e)))?;
                    tracing::info!(post_id = item.post_id, profile_id, %platform, platform_post_id = %found.id,
                        "an earlier attempt had published it: found on the platform");
                    await_final_id(state, item.result_id, profile_id, platform, placement, &found.id).await;
                    previous = Some(found.id);
                    continue;
                }
                Ok(None) => {} // certainly not there, and disarmed: send it
                Err(f) => return Err((item, f)),
            }
        }
        if item.has_media {
            // Uploads come before the send is armed (which marks the rest): show them as started.
            store::start_result(&state.db, item.result_id, now_ms())
                .await
                .map_err(|e| (item, db_failure(e)))?;
        }
        let guard = DbGuard {
            db: &state.db,
            result_id: item.result_id,
        };
        let mut refreshed = false;
        let published = loop {
            let it = Item {
                text: &item.body,
                reply_to: previous.as_deref(),
                params,
                media: media.get(&item.post_id).unwrap_or(&no_media),
            };
            match platforms::publish(&account, &it, &guard).await {
                Err(f) if f.kind == FailureKind::TokenRejected && !refreshed => {
                    // The request was refused, so nothing went out: safe to send again.
                    store::disarm(&state.db, item.result_id)
                        .await
                        .map_err(|e| (item, db_failure(e)))?;
                    refreshed = true;
                    account = renew(state, profile_id, platform, placement, &f)
                        .await
                        .map_err(|f| (item, f))?;
                }
                Err(f) if f.kind == FailureKind::TokenRejected => {
                    mark_profile(state, profile_id, ProfileStatus::Expired, "publish_rejected").await;
                    return Err((item, reconnect(platform, f)));
                }
                Err(f) if f.kind == FailureKind::Revoked => {
                    mark_profile(state, profile_id, ProfileStatus::Inactive, "access_revoked").await;
                    return Err((item, reconnect(platform, f)));
                }
                other => break other.map_err(|f| (item, f))?,
            }
        };
        store::record_published(
            &state.db,
            item.result_id,
            &published.id,
            published.permalink.as_deref(),
            published.note.as_deref(),
            now_ms(),
        )
        .await
        .map_err(|e| (item, db_failure(e)))?;
        tracing::info!(post_id = item.post_id, profile_id, %platform, platform_post_id = %published.id, "published");
        await_final_id(state, item.result_id, profile_id, platform, placement, &published.id).await;
        previous = Some(published.id);
    }
    Ok(())
}

/// What a `resolve_post_id` job needs: the result, its profile, and the provisional id.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ResolveId {
    result_id: i64,
    profile_id: i64,
    platform: Platform,
    placement_id: Option<String>,
    provisional_id: String,
}

/// A post published under a provisional id (TikTok's publish_id): a job asks for the final one
/// later. Best effort: the post is live either way.
async fn await_final_id(
    state: &AppState,
    result_id: i64,
    profile_id: i64,
    platform: Platform,
    placement: Option<&str>,
    id: &str,
) {
    if !platforms::awaits_final_id(platform, id) {
        return;
    }
    let payload = ResolveId {
        result_id,
        profile_id,
        platform,
        placement_id: placement.map(str::to_string),
        provisional_id: id.to_string(),
    };
    let now = now_ms();
    match enqueue_alone(&state.db, &payload, now + RESOLVE_ID_EVERY_MS, now).await {
        Ok(_) => state.jobs_enqueued().await,
        Err(e) => tracing::warn!(result_id, error = %e, "could not schedule the wait for the post's final id"),
    }
}

/// First pause before a provisional id is asked about; the job's backoff grows it from there
/// (10 attempts, at most an hour apart: bounded).
const RESOLVE_ID_EVERY_MS: i64 = 30_000;

/// Asks the platform for a published post's final id; records it with its permalink, or tries
/// again later (a bounded number of times: the post stays published under its provisional id).
async fn resolve_id(state: &AppState, job: &JobRow, plan: ResolveId) -> Result<(), JobError> {
    let platform = plan.platform;
    let account = open_account(
        state,
        plan.profile_id,
        platform,
        plan.placement_id.as_deref(),
        true,
        None,
    )
    .await
    .map_err(|f| JobError::Retry(f.message))?;
    let again = || JobError::RetryAt("no final id yet".into(), now_ms() + RESOLVE_ID_EVERY_MS * job.attempts);
    match platforms::final_id(&account, &plan.provisional_id).await {
        Ok(Some(found)) => {
            store::settle_post_id(
                &state.db,
                plan.result_id,
                &plan.provisional_id,
                &found.id,
                found.permalink.as_deref(),
                now_ms(),
            )
            .await?;
            tracing::info!(result_id = plan.result_id, %platform, platform_post_id = %found.id, "final post id recorded");
            Ok(())
        }
        Ok(None) if job.attempts < job.max_attempts => Err(again()),
        Ok(None) => {
            tracing::info!(result_id = plan.result_id, %platform, "no final post id came; the provisional one stays");
            Ok(())
        }
        Err(f) if f.kind == FailureKind::Transient && job.attempts < job.max_attempts => Err(again()),
        Err(f) => Err(JobError::Permanent(f.message)),
    }
}

/// The chain's stored media by post, with signed URLs for platforms that pull them.
async fn load_media(state: &AppState, chain: &[ChainItem]) -> sqlx::Result<HashMap<i64, Vec<MediaFile>>> {
    let ids: Vec<i64> = chain.iter().map(|c| c.post_id).collect();
    let now_s = now_ms() / 1000;
    let mut out: HashMap<i64, Vec<MediaFile>> = HashMap::new();
    for m in store::ready_media(&state.db, &ids).await? {
        let Some(key) = m.storage_key else { continue };
        out.entry(m.post_id).or_default().push(MediaFile {
            kind: m.kind.unwrap_or_default(),
            content_type: m.content_type.unwrap_or_default(),
            size: m.size_bytes.unwrap_or(0) as u64,
            url: format!("{}{}", state.public_url, state.media.signed_path(&key, now_s)),
            key,
        });
    }
    Ok(out)
}

/// An armed item: looks for it on the platform. `Some` when an earlier attempt published it;
/// `None` when it is certainly absent (and now disarmed, so it may be sent); an `Unknown`
/// failure to look again later; a final one where the platform cannot be asked.
async fn reconcile(
    state: &AppState,
    account: &Account,
    item: &Item<'_>,
    armed: &ChainItem,
    armed_at: i64,
) -> Result<Option<Published>, Failure> {
    let result_id = armed.result_id;
    let platform = account.platform;
    let label = platform_label(platform);
    if !platforms::can_look_up(platform) {
        return Err(lost_answer(
            platform,
            &format!("{label} offers no way to look the post up"),
        ));
    }
    let still_unknown = |f: Failure| Failure {
        kind: FailureKind::Unknown,
        note: Some(format!(
            "An earlier attempt may have published this post; postproxy could not check {label} yet and will look again before sending anything."
        )),
        ..f
    };
    match platforms::look_up(account, item, armed_at - LOOKUP_SLACK_MS, armed.sending_ref.as_deref())
        .await
        .map_err(still_unknown)?
    {
        Lookup::Found(p) => Ok(Some(p)),
        Lookup::Absent if now_ms() < armed_at + IN_FLIGHT_MS => {
            let wait = (armed_at + IN_FLIGHT_MS - now_ms()).max(1_000) as u64;
            Err(Failure::new(
                FailureKind::Unknown,
                format!("Not on {label} yet after an attempt with no clear outcome; looking again shortly"),
            )
            .retry_after(Some(std::time::Duration::from_millis(wait)))
            .note(format!(
                "postproxy sends the post again only once it is sure the earlier attempt did not reach {label}."
            )))
        }
        Lookup::Absent => {
            store::disarm(&state.db, result_id).await.map_err(db_failure)?;
            tracing::info!(result_id, %platform, "not on the platform after an unknown outcome: sending again");
            Ok(None)
        }
        Lookup::Unavailable(why) => Err(lost_answer(platform, &why)),
    }
}

/// Writes a failed attempt; `final_` ends the result, otherwise it waits for the retry.
/// `keep_armed` keeps the send marker of an unknown outcome, so the retry looks it up first.
#[allow(clippy::too_many_arguments)]
async fn record(
    db: &Db,
    result_id: i64,
    f: &Failure,
    error: &str,
    final_: bool,
    keep_armed: bool,
    now: i64,
) -> Result<(), JobError> {
    store::record_failure(
        db,
        result_id,
        &Failed {
            error,
            code: f.code.as_deref(),
            subcode: f.subcode.as_deref(),
            message: &f.message,
            note: f.note.as_deref(),
            final_,
            keep_armed,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Thread parts after a failed one are not published (a chain with a hole makes no sense).
async fn fail_rest(db: &Db, chain: &[ChainItem], failed_at: i64, platform: Platform, now: i64) -> Result<(), JobError> {
    let part = failed_at + 1;
    for item in chain
        .iter()
        .filter(|i| i.position > failed_at && i.platform_post_id.is_none())
    {
        let f = Failure::new(
            FailureKind::Refused,
            format!(
                "Not published: part {part} of this thread failed on {}",
                platform_label(platform)
            ),
        )
        .note("The thread stops where a part fails, so that it never has a gap; nothing after it was sent.");
        record(db, item.result_id, &f, &f.message, true, false, now).await?;
    }
    Ok(())
}

/// The final word on an unknown outcome that cannot be resolved: `why` says what was tried.
/// Refused, so it is not retried.
fn lost_answer(platform: Platform, why: &str) -> Failure {
    let label = platform_label(platform);
    Failure::new(
        FailureKind::Refused,
        format!("An earlier attempt to publish on {label} was interrupted after the request was sent ({why})"),
    )
    .note(unresolved_note(platform))
}

fn unresolved_note(platform: Platform) -> String {
    let label = platform_label(platform);
    format!(
        "The post may or may not be on {label}: the server stopped or lost the answer while sending it, and \
         it could not be looked up there. postproxy does not send it again, so that it cannot appear twice. \
         Check the account on {label}, and create the post again if it is not there."
    )
}

fn reconnect(platform: Platform, f: Failure) -> Failure {
    let label = platform_label(platform);
    let note = format!(
        "{label} no longer accepts this profile's connection. Nothing was published. Reconnect the profile \
         (POST /api/profile_groups/:id/initialize_connection with refresh_connection) and create the post again."
    );
    Failure { note: Some(note), ..f }
}

fn db_failure(e: sqlx::Error) -> Failure {
    Failure::new(FailureKind::Transient, format!("database: {e}"))
}

async fn mark_profile(state: &AppState, profile_id: i64, status: ProfileStatus, reason: &str) {
    if let Err(e) = profiles::set_status(&state.db, profile_id, status, reason, now_ms()).await {
        tracing::warn!(profile_id, error = %e, "could not mark the profile {}", status.as_str());
    }
}

/// Refreshes after the platform refused the token, then reopens the account.
async fn renew(
    state: &AppState,
    profile_id: i64,
    platform: Platform,
    placement: Option<&str>,
    refused: &Failure,
) -> Result<Account, Failure> {
    match refresh::refresh_profile(state, profile_id).await {
        Ok(()) => {}
        Err(e) => {
            return Err(Failure::new(
                FailureKind::Transient,
                format!("The token was refused and could not be renewed yet: {e}"),
            ));
        }
    }
    open_account(state, profile_id, platform, placement, false, None)
        .await
        .map_err(|f| match f.kind {
            // The refresh did not bring back an active profile: the connection is dead.
            FailureKind::Refused => reconnect(platform, refused.clone()),
            _ => f,
        })
}

/// Loads and opens the profile's credentials; renews a token about to expire first.
async fn open_account(
    state: &AppState,
    profile_id: i64,
    platform: Platform,
    placement: Option<&str>,
    refresh_if_due: bool,
    known: Option<profiles::CredentialRow>,
) -> Result<Account, Failure> {
    let label = platform_label(platform);
    let cfg = state.providers.get(platform).cloned().ok_or_else(|| {
        Failure::new(
            FailureKind::Transient,
            format!("{label} is not configured on this server"),
        )
        .note(format!(
            "Set POSTPROXY_{}_CLIENT_ID and _CLIENT_SECRET; postproxy retries meanwhile.",
            platform.as_str().to_ascii_uppercase()
        ))
    })?;
    let known = match known {
        Some(row) => Some(row),
        None => profiles::credentials(&state.db, profile_id).await.map_err(db_failure)?,
    };
    let mut row = known.ok_or_else(|| {
        Failure::new(
            FailureKind::Refused,
            "The profile was deleted before this post was published",
        )
    })?;
    if refresh_if_due
        && row.status == ProfileStatus::Active
        && row
            .access_expires_at_ms
            .is_some_and(|at| at < now_ms() + REFRESH_AHEAD_MS)
    {
        refresh::refresh_profile(state, profile_id).await.map_err(|e| {
            Failure::new(
                FailureKind::Transient,
                format!("The token could not be renewed yet: {e}"),
            )
        })?;
        row = profiles::credentials(&state.db, profile_id)
            .await
            .map_err(db_failure)?
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::Refused,
                    "The profile was deleted before this post was published",
                )
            })?;
    }
    if row.status != ProfileStatus::Active {
        return Err(Failure::new(
            FailureKind::Refused,
            format!(
                "The {label} profile is {}: its connection no longer works",
                row.status.as_str()
            ),
        )
        .note("Nothing was published. Reconnect the profile and create the post again."));
    }
    let undecryptable = || {
        Failure::new(FailureKind::Refused, "The stored credentials cannot be decrypted")
            .note("POSTPROXY_SECRET_KEY differs from the key the profile was connected with; restore it or reconnect.")
    };
    let token = credentials::open_column(&state.sealer, &row, Column::AccessToken)
        .map_err(|_| undecryptable())?
        .ok_or_else(|| Failure::new(FailureKind::TokenRejected, "No access token is stored for this profile"))?;
    let placement = match (platform, placement) {
        (Platform::Facebook, Some(page)) => {
            // The chain query brings the Page's token along; otherwise ask (and learn whether
            // the Page is still there).
            let known = row.placement_token_enc.take().map(Some);
            let enc = match known {
                Some(enc) => Some(enc),
                None => profiles::placement_token(&state.db, profile_id, page)
                    .await
                    .map_err(db_failure)?,
            }
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::Refused,
                    format!("Facebook Page {page} is no longer one of the profile's Pages"),
                )
                .note("Reconnect the profile, or choose another page_id.")
            })?;
            let token = enc
                .map(|e| ProfileKey::of(&row).open_placement(&state.sealer, page, &e))
                .transpose()
                .map_err(|_| undecryptable())?;
            Some(Placement {
                id: page.to_string(),
                token,
                username: None,
            })
        }
        (Platform::Telegram, Some(chat)) => {
            let username = profiles::placement_username(&state.db, profile_id, chat)
                .await
                .map_err(db_failure)?
                .ok_or_else(|| {
                    Failure::new(
                        FailureKind::Refused,
                        format!("The bot no longer posts to chat {chat}: it was removed or is no longer an administrator there"),
                    )
                    .note("Nothing was sent. Add the bot to the chat as an administrator again, then create the post again.")
                })?;
            Some(Placement {
                id: chat.to_string(),
                token: None,
                username,
            })
        }
        (_, Some(id)) => Some(Placement {
            id: id.to_string(),
            token: None,
            username: None,
        }),
        (_, None) => None,
    };
    Ok(Account {
        platform,
        http: state.http.clone(),
        cfg,
        token,
        user_id: row.external_id,
        username: row.username,
        placement,
        poll: state.publish_poll,
        storage: state.media.storage.clone(),
        quotas: state.quotas.clone(),
        outbound: state.media.fetcher.outbound(),
        endpoint: row.endpoint,
    })
}

/// Arms a result in the database (see the module docs).
struct DbGuard<'a> {
    db: &'a Db,
    result_id: i64,
}

impl SendGuard for DbGuard<'_> {
    fn remember<'a>(&'a self, reference: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Err(e) = store::remember_send(self.db, self.result_id, reference).await {
                tracing::warn!(result_id = self.result_id, error = %e, "could not record the platform's name for a send");
            }
        })
    }

    fn arm<'a>(&'a self, reference: Option<&'a str>) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>> {
        Box::pin(async move {
            match store::arm(self.db, self.result_id, now_ms(), reference).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(
                    Failure::new(FailureKind::Unknown, "Another attempt is already sending this post")
                        .note("postproxy sends each post once; the other attempt's outcome is recorded when it ends."),
                ),
                // Not armed means not sent: safe to try again later.
                Err(e) => Err(db_failure(e)),
            }
        })
    }
}

/// Deletes a published chain on its platform, replies first.
async fn unpublish(state: &AppState, job: &JobRow, plan: store::Unpublish) -> Result<(), JobError> {
    let platform = plan.platform;
    let last_attempt = job.attempts >= job.max_attempts;
    let account = match open_account(
        state,
        plan.profile_id,
        platform,
        plan.placement_id.as_deref(),
        true,
        None,
    )
    .await
    {
        Ok(a) => a,
        Err(f) if f.kind == FailureKind::Transient && !last_attempt => return Err(JobError::Retry(f.message)),
        Err(f) => {
            for (result_id, _) in &plan.items {
                deletion_failed(&state.db, *result_id, &f).await?;
            }
            return Ok(());
        }
    };
    for (result_id, platform_post_id) in &plan.items {
        match platforms::delete_post(&account, platform_post_id).await {
            Ok(()) => {
                store::mark_deleted(&state.db, *result_id, now_ms()).await?;
                tracing::info!(profile_id = plan.profile_id, %platform, %platform_post_id, "deleted on the platform");
            }
            Err(f) if f.kind == FailureKind::Transient && !last_attempt => {
                // What is deleted is marked; the retry repeats the rest (deletes are idempotent).
                return Err(JobError::Retry(f.message));
            }
            Err(f) => {
                deletion_failed(&state.db, *result_id, &f).await?;
                tracing::warn!(profile_id = plan.profile_id, %platform, error = %f.message, "deletion on the platform failed");
            }
        }
    }
    Ok(())
}

async fn deletion_failed(db: &Db, result_id: i64, f: &Failure) -> Result<(), JobError> {
    let note = f
        .note
        .clone()
        .unwrap_or_else(|| "The post is still live on the platform; delete it there, or try again.".to_string());
    store::deletion_failed(
        db,
        result_id,
        &format!("Could not delete on the platform: {}", f.message),
        f.code.as_deref(),
        &note,
        now_ms(),
    )
    .await?;
    Ok(())
}

/// A post's media failed (`media`, or all still pending): the post, its media and results say
/// so, and its publishes are cancelled, in one transaction.
async fn media_failed(state: &AppState, post_id: i64, media: Option<i64>, message: &str) -> sqlx::Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    store::fail_media(&mut tx, post_id, media, message, now).await?;
    PublishPost::cancel_all(&mut tx, post_id, now).await?;
    tx.commit().await
}

/// Downloads the post's and its thread's URL media into storage, one after another, then checks
/// each file against every target platform's limits. A retry resumes with what is still pending.
async fn fetch_media(state: &AppState, job: &JobRow, post_id: i64) -> Result<(), JobError> {
    let media = &state.media;
    for m in store::pending_media(&state.db, post_id).await? {
        let Some(url) = m.source_url.as_deref() else { continue };
        let key = crate::media::new_key();
        match media.fetcher.download(url, &media.limits, &media.storage, &key).await {
            Ok(d) => {
                let stored = store::media_processed(
                    &state.db,
                    m.id,
                    &d.content_type,
                    d.kind.as_str(),
                    d.size_bytes as i64,
                    &d.sha256_hex,
                    &key,
                )
                .await?;
                if !stored {
                    // The post was edited or deleted meanwhile: this copy belongs to no one.
                    let _ = media.storage.delete(&key).await;
                }
            }
            Err(e) if e.is_transient() && job.attempts < job.max_attempts => {
                tracing::warn!(post_id, code = e.code(), "media download failed; will retry");
                // Visible on the medium while it waits: what went wrong and when it is tried again.
                let next = now_ms() + super::backoff_ms(job.attempts);
                let why = format!(
                    "{e} (attempt {} of {}; next try at {})",
                    job.attempts,
                    job.max_attempts,
                    crate::clock::iso8601(next)
                );
                store::media_retrying(&state.db, m.id, &why).await?;
                return Err(JobError::RetryAt(e.to_string(), next));
            }
            Err(e) => {
                tracing::warn!(post_id, code = e.code(), "media download failed");
                let why = if e.is_transient() {
                    format!("{e} (gave up after {} attempts)", job.attempts)
                } else {
                    e.to_string()
                };
                media_failed(state, post_id, None, &why).await?;
                return Ok(());
            }
        }
    }
    // Every file is in: does each suit every platform it goes to?
    let platforms = store::targets_of(&state.db, post_id).await?;
    let mut ids = vec![post_id];
    ids.extend(store::children(&state.db, &[post_id]).await?.into_iter().map(|c| c.id));
    for m in store::ready_media(&state.db, &ids).await? {
        for &p in &platforms {
            let (kind, ct) = (m.kind.as_deref().unwrap_or(""), m.content_type.as_deref().unwrap_or(""));
            let rules = platforms::rules(p);
            if let Some(reason) =
                crate::domain::post::media_refusal(p, rules, kind, ct, m.size_bytes.unwrap_or(0) as u64)
            {
                let what = m.source_url.as_deref().unwrap_or("an uploaded file");
                media_failed(state, post_id, Some(m.id), &format!("{what}: {reason}")).await?;
                return Ok(());
            }
        }
    }
    store::media_ready(&state.db, post_id, now_ms()).await?;
    state.jobs_enqueued().await;
    Ok(())
}
