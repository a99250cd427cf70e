//! Background work on the durable queue in `db::jobs`: a scheduler that enqueues what is due,
//! and workers that claim and run jobs. Every replica runs both; the queue's dedupe keys and
//! leases make sure each job runs once at a time across all of them.

pub mod job;
pub mod placements;
pub mod publish;
pub mod refresh;

pub use job::{Job, enqueue, enqueue_alone};

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::db::notify::Channel;
use crate::db::{jobs, profiles};
use crate::domain::platform::Platform;
use crate::platforms;
use crate::state::AppState;

/// How long a claimed job is ours before another worker may take it over (`job_lease`). Short,
/// because a worker renews the leases of the jobs it runs every third of it: a killed worker's
/// jobs come back within one lease, while a long job keeps its lease as long as its worker lives.
fn lease_ms(state: &AppState) -> i64 {
    state.job_lease.as_millis() as i64
}
const SCHEDULE_INTERVAL: Duration = Duration::from_secs(60);
/// Finished jobs are kept this long for inspection.
const KEEP_FINISHED_MS: i64 = 7 * 24 * 3600 * 1000;

/// How a job attempt ended, when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (network trouble, 5xx, 429).
    #[error("{0}")]
    Retry(String),
    /// Worth another attempt, not before this instant (a platform's rate-limit reset).
    #[error("{0}")]
    RetryAt(String, i64),
    /// Not ready to run yet (e.g. media still downloading): run again then, without counting
    /// an attempt.
    #[error("deferred")]
    Defer(i64),
    /// Will never succeed; give up now.
    #[error("{0}")]
    Permanent(String),
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Retry(format!("database: {e}"))
    }
}

/// Exponential backoff: 30 s, 1 min, 2 min … capped at one hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    (30_000i64.saturating_mul(1 << exp)).min(3_600_000)
}

/// Enqueues a refresh for every profile whose token is about to expire, and marks connections
/// that have run out as expired. Safe to run on every replica at once.
pub async fn schedule_tick(state: &AppState) -> sqlx::Result<usize> {
    let now = now_ms();
    let lapsed = profiles::expire_lapsed(&state.db, now).await?;
    if lapsed > 0 {
        tracing::info!(count = lapsed, "profiles expired");
    }
    let mut enqueued = 0;
    for platform in Platform::ALL {
        if platforms::placements_appear(platform) {
            for id in profiles::active_of(&state.db, platform).await? {
                enqueue_alone(&state.db, &placements::SyncPlacements { profile_id: id }, now, now).await?;
            }
        }
        let lead = platforms::refresh_lead(platform).as_millis() as i64;
        for id in profiles::due_for_refresh(&state.db, platform, now + lead).await? {
            if enqueue_alone(&state.db, &refresh::RefreshToken { profile_id: id }, now, now).await? {
                enqueued += 1;
            }
        }
    }
    jobs::purge_finished(&state.db, now - KEEP_FINISHED_MS).await?;
    collect_media_garbage(state).await?;
    crate::db::idempotency::purge_expired(&state.db, now).await?;
    if let Some(limiter) = &state.limiter {
        // Forget idle keys' buckets so the limiter's memory stays bounded.
        limiter.retain_recent();
    }
    Ok(enqueued)
}

/// Removes stored files of deleted posts and replaced media. A row is forgotten only once its
/// object is gone, so a crash in between just repeats the (idempotent) delete.
async fn collect_media_garbage(state: &AppState) -> sqlx::Result<()> {
    for (id, key) in crate::db::posts::media_garbage(&state.db, 200).await? {
        match state.media.storage.delete(&key).await {
            Ok(()) => crate::db::posts::forget_garbage(&state.db, id).await?,
            Err(e) => tracing::warn!(error = %e, "could not remove a stored media file; will retry"),
        }
    }
    Ok(())
}

/// Claims and runs one job. Returns false when nothing was runnable.
pub async fn run_next(state: &AppState, worker: &str) -> sqlx::Result<bool> {
    let Some(job) = jobs::claim(&state.db, worker, now_ms(), lease_ms(state), &[]).await? else {
        return Ok(false);
    };
    execute(state, job).await?;
    Ok(true)
}

/// Runs a claimed job and records how it ended.
async fn execute(state: &AppState, job: jobs::JobRow) -> sqlx::Result<()> {
    // The worker finds a job's type by its kind.
    let result = match job.kind.as_str() {
        publish::PublishPost::KIND => job::dispatch::<publish::PublishPost>(state, &job).await,
        publish::FetchMedia::KIND => job::dispatch::<publish::FetchMedia>(state, &job).await,
        crate::db::posts::Unpublish::KIND => job::dispatch::<crate::db::posts::Unpublish>(state, &job).await,
        publish::ResolveId::KIND => job::dispatch::<publish::ResolveId>(state, &job).await,
        refresh::RefreshToken::KIND => job::dispatch::<refresh::RefreshToken>(state, &job).await,
        placements::SyncPlacements::KIND => job::dispatch::<placements::SyncPlacements>(state, &job).await,
        other => Err(JobError::Permanent(format!("unknown job kind {other}"))),
    };
    let now = now_ms();
    match result {
        Ok(()) => jobs::complete(&state.db, job.id, now).await?,
        Err(JobError::Defer(at)) => jobs::defer(&state.db, job.id, at).await?,
        Err(JobError::Retry(e)) if job.attempts < job.max_attempts => {
            tracing::warn!(job_id = job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed; will retry");
            jobs::retry(&state.db, job.id, now + backoff_ms(job.attempts), &e).await?
        }
        Err(JobError::RetryAt(e, at)) if job.attempts < job.max_attempts => {
            let at = at.max(now + backoff_ms(job.attempts));
            tracing::warn!(job_id = job.id, kind = %job.kind, attempt = job.attempts, error = %e, retry_in_ms = at - now, "job failed; will retry");
            jobs::retry(&state.db, job.id, at, &e).await?
        }
        Err(e) => {
            tracing::error!(job_id = job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed for good");
            jobs::bury(&state.db, job.id, &e.to_string(), now).await?
        }
    }
    Ok(())
}

/// How many of a process's `slots` one queue may fill. A platform's queue (one per platform)
/// may take three quarters, so a slow or rate-limited platform never starves the others; how
/// fast one profile may go is the platform's to say (its rate-limit answers), not ours.
/// Downloads and maintenance get a few.
pub fn queue_limit(queue: &str, slots: usize) -> usize {
    match queue {
        "media" | "default" => slots.min(4),
        _ => (slots * 3 / 4).max(1),
    }
}

/// Runs jobs until none is runnable; for tests and one-off maintenance.
pub async fn drain(state: &AppState) -> sqlx::Result<usize> {
    let mut n = 0;
    while run_next(state, "drain").await? {
        n += 1;
    }
    Ok(n)
}

/// The background loop of one replica: schedule every minute; claim jobs whenever a slot is
/// free and work was enqueued (a notify), a job finished, or a second passed; stop claiming
/// when `shutdown` fires and let the jobs in hand finish.
pub fn spawn(state: AppState, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    // Unique per start: a restarted process with the same host name and pid (pid 1 in a
    // container) must not renew, and so keep, its dead predecessor's leases.
    let worker = format!(
        "{}-{}-{}",
        hostname(),
        std::process::id(),
        &crate::crypto::random_token()[..8]
    );
    spawn_wakeups(&state, shutdown.clone());
    let beats = CancellationToken::new();
    spawn_heartbeat(state.db.clone(), worker.clone(), state.job_lease, beats.clone());
    tokio::spawn(async move {
        if let crate::db::Db::Sqlite(_) = &state.db {
            // One process serves a SQLite file: whatever is leased belonged to a predecessor
            // that died. (Publishing is safe even if it did not: an armed send is reconciled.)
            match jobs::release_all_leases(&state.db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "took back the jobs of a stopped predecessor"),
                Err(e) => tracing::warn!(error = %e, "could not release old job leases"),
            }
        }
        let mut schedule = tokio::time::interval(SCHEDULE_INTERVAL);
        let mut poll = tokio::time::interval(state.job_poll);
        let mut running: tokio::task::JoinSet<String> = tokio::task::JoinSet::new();
        let mut per_queue: HashMap<String, usize> = HashMap::new();
        let slots = state.worker_slots;
        // Look at the queue only when something may have become runnable (a job fell due, new
        // work, a freed slot of a full queue), not after every job: fewer statements per job.
        let mut look = true;
        let mut wake_at = tokio::time::Instant::now();
        loop {
            if look && !shutdown.is_cancelled() {
                look = false;
                // Whether the last claim suggests more is due right now (then the next look
                // comes with a freed slot, and asking when the next job falls due is moot).
                let mut more_due = false;
                while running.len() < slots {
                    let busy = busy_queues(&per_queue, slots);
                    let want = (slots - running.len()).min(16);
                    let claimed = match jobs::claim_many(
                        &state.db,
                        &worker,
                        now_ms(),
                        lease_ms(&state),
                        &busy,
                        want as i64,
                    )
                    .await
                    {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!(error = %e, "job worker could not reach the database");
                            break;
                        }
                    };
                    let got = claimed.len();
                    let mut over = Vec::new();
                    for job in claimed {
                        let n = per_queue.entry(job.queue.clone()).or_default();
                        if *n >= queue_limit(&job.queue, slots) {
                            over.push(job.id); // this batch filled its queue
                            continue;
                        }
                        *n += 1;
                        let state = state.clone();
                        running.spawn(async move {
                            let queue = job.queue.clone();
                            if let Err(e) = execute(&state, job).await {
                                tracing::warn!(error = %e, "could not record a job's outcome; its lease will expire");
                            }
                            queue
                        });
                    }
                    if let Err(e) = jobs::unclaim(&state.db, &over).await {
                        tracing::warn!(error = %e, "could not give back jobs over a queue's limit; their leases will expire");
                    }
                    more_due = got == want && over.is_empty();
                    if !more_due {
                        break; // nothing more is due now (or what is, waits for a slot)
                    }
                }
                let wait = if more_due {
                    state.job_poll
                } else {
                    // Sleep exactly until the next job falls due (a scheduled post), not to the next poll.
                    let busy = busy_queues(&per_queue, slots);
                    match jobs::next_due(&state.db, &busy).await {
                        Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, 60_000) as u64),
                        _ => state.job_poll,
                    }
                };
                wake_at = tokio::time::Instant::now() + wait.max(Duration::from_millis(5));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(wake_at), if running.len() < slots => look = true,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let was_full = running.len() + 1 >= slots;
                    // Jobs that finished meanwhile are taken together, so one claim fills all
                    // their slots: a claim per freed slot would cap a busy worker at one claim
                    // round trip per job (on PostgreSQL a few milliseconds each).
                    let mut finished = vec![done];
                    while let Some(more) = running.try_join_next() {
                        finished.push(more);
                    }
                    let mut freed = false;
                    for done in finished {
                        if let Ok(queue) = done
                            && let Some(n) = per_queue.get_mut(&queue)
                        {
                            // A freed slot of a full queue may let a waiting job run now.
                            freed |= was_full || *n >= queue_limit(&queue, slots);
                            *n = n.saturating_sub(1);
                        }
                    }
                    if freed && !look {
                        // Gather the slots freed within a few milliseconds into one claim.
                        wake_at = wake_at.min(tokio::time::Instant::now() + CLAIM_GATHER);
                    }
                    // A panicked job's slot is lost until restart only in the count; log it.
                    if running.is_empty() {
                        per_queue.clear();
                    }
                }
                _ = schedule.tick() => {
                    if let Err(e) = schedule_tick(&state).await {
                        tracing::warn!(error = %e, "scheduler tick failed");
                    }
                    look = true;
                }
                _ = state.job_wakeup.notified() => look = true,
                _ = poll.tick() => look = true,
            }
        }
        while running.join_next().await.is_some() {}
        beats.cancel();
        tracing::info!("job worker stopped");
    })
}

/// How long a full worker gathers freed slots before claiming for them together.
const CLAIM_GATHER: Duration = Duration::from_millis(3);

/// Queues at their limit in this process, which a claim skips.
fn busy_queues(per_queue: &HashMap<String, usize>, slots: usize) -> Vec<&str> {
    per_queue
        .iter()
        .filter(|(q, n)| **n >= queue_limit(q, slots))
        .map(|(q, _)| q.as_str())
        .collect()
}

/// Renews the leases of the jobs this worker runs until `stop` fires (after its last job).
fn spawn_heartbeat(db: crate::db::Db, worker: String, lease: Duration, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut beat = tokio::time::interval(lease / 3);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = beat.tick() => {
                    if let Err(e) = jobs::renew_leases(&db, &worker, now_ms() + lease.as_millis() as i64).await {
                        tracing::warn!(error = %e, "could not renew job leases");
                    }
                }
            }
        }
    });
}

/// Turns other replicas' notifications of new jobs into local wake-ups (the hub's one listening
/// connection); should it be down, the poll tick still finds the work.
fn spawn_wakeups(state: &AppState, shutdown: CancellationToken) {
    state.hub.start(&state.db, shutdown.clone());
    let mut heard = state.hub.subscribe();
    let wakeup = state.job_wakeup.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                n = heard.recv() => match n {
                    Ok(n) if n.channel == Channel::Jobs => wakeup.notify_one(),
                    Ok(_) => {}
                    // Fell behind: some were new jobs, surely.
                    Err(broadcast::error::RecvError::Lagged(_)) => wakeup.notify_one(),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "postproxy".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(super::backoff_ms(1), 30_000);
        assert_eq!(super::backoff_ms(2), 60_000);
        assert_eq!(super::backoff_ms(3), 120_000);
        assert_eq!(super::backoff_ms(30), 3_600_000);
    }
}
