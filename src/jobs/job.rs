//! One door to the queue, in the shape of crates.io's background jobs: a job is a type whose
//! fields are its payload (stored as JSON), with a kind, a queue, a dedupe key and a number of
//! attempts. `enqueue` is the only way a job is made and takes the caller's transaction, so a job
//! is written with the state change that calls for it or not at all; the worker finds a job's
//! type by its kind (`jobs::execute`) and runs it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::JobError;
use crate::db::jobs::{self as queue, JobRow, NewJob};
use crate::db::{Db, Tx};
use crate::state::AppState;

/// A kind of background work.
#[async_trait::async_trait]
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Sized + 'static {
    /// Stored in `jobs.kind`; never renamed (queued jobs carry it across upgrades).
    const KIND: &'static str;
    /// Attempts before the job is given up (`JobError::Retry` counts one).
    const MAX_ATTEMPTS: i64 = 8;

    /// The queue it runs in: each has its own share of a worker's slots (see `queue_limit`).
    fn queue(&self) -> &str {
        "default"
    }

    /// At most one pending job per key (a second `enqueue` of the same key adds nothing).
    fn dedupe_key(&self) -> Option<String>;

    /// Reads a payload written by a release from before payloads were JSON, so jobs queued before
    /// an upgrade still run after it.
    fn legacy(_payload: &str) -> Option<Self> {
        None
    }

    /// Does the work. `row` tells the attempt (`attempts` of `max_attempts`).
    async fn run(self, state: &AppState, row: &JobRow) -> Result<(), JobError>;
}

/// Enqueues `job` to run at `run_at_ms`, in the caller's transaction. Returns whether it was added
/// (false when a job with its dedupe key is still pending).
pub async fn enqueue<J: Job>(tx: &mut Tx, job: &J, run_at_ms: i64, now_ms: i64) -> sqlx::Result<bool> {
    let payload = serde_json::to_string(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let new = NewJob {
        kind: J::KIND,
        payload,
        queue: job.queue(),
        run_at_ms,
        max_attempts: J::MAX_ATTEMPTS,
        dedupe_key: job.dedupe_key(),
    };
    queue::insert(tx, &new, now_ms).await
}

/// `enqueue` in a transaction of its own, for a job that goes with no other write.
pub async fn enqueue_alone<J: Job>(db: &Db, job: &J, run_at_ms: i64, now_ms: i64) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let added = enqueue(&mut tx, job, run_at_ms, now_ms).await?;
    tx.commit().await?;
    Ok(added)
}

/// Decodes a claimed job of kind `J::KIND` and runs it.
pub async fn dispatch<J: Job>(state: &AppState, row: &JobRow) -> Result<(), JobError> {
    let job = serde_json::from_str::<J>(&row.payload)
        .ok()
        .or_else(|| J::legacy(&row.payload))
        .ok_or_else(|| JobError::Permanent(format!("bad {} payload {:?}", J::KIND, row.payload)))?;
    job.run(state, row).await
}
