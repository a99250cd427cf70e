//! The durable job queue: enqueue, claim with a lease, finish, retry, give up.
//!
//! A claim sets a lease (`locked_until_ms`) rather than holding a transaction, so a long job does
//! not block other writers and a crashed worker's job becomes claimable again when its lease runs
//! out. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets replicas claim side by side; SQLite's single
//! writer makes the claim statement atomic by itself.

use super::{Db, Tx};
use crate::{with_pool, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub queue: String,
}

/// A job to insert (see `crate::jobs::enqueue`, the one way jobs are made).
pub struct NewJob<'a> {
    pub kind: &'a str,
    /// The job's own fields, as JSON.
    pub payload: String,
    pub queue: &'a str,
    pub run_at_ms: i64,
    pub max_attempts: i64,
    /// At most one pending job per key.
    pub dedupe_key: Option<String>,
}

/// Inserts a job in the caller's transaction unless one with the same dedupe key is still
/// pending. Returns whether it was added. The only `INSERT INTO jobs`.
pub async fn insert(tx: &mut Tx, job: &NewJob<'_>, now_ms: i64) -> sqlx::Result<bool> {
    with_tx!(tx, c => sqlx::query(
        "INSERT INTO jobs (kind, payload, state, run_at_ms, max_attempts, dedupe_key, created_at_ms, queue) \
         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING")
        .bind(job.kind).bind(&job.payload).bind(job.run_at_ms).bind(job.max_attempts).bind(&job.dedupe_key)
        .bind(now_ms).bind(job.queue)
        .execute(&mut *c).await.map(|r| r.rows_affected() == 1))
}

/// Cancels the pending jobs whose dedupe key matches `key_pattern` (SQL `LIKE`), in the
/// caller's transaction, freeing their keys. The only way jobs are cancelled.
pub async fn cancel(tx: &mut Tx, key_pattern: &str, now_ms: i64) -> sqlx::Result<u64> {
    with_tx!(tx, c => sqlx::query(
        "UPDATE jobs SET state = 'cancelled', dedupe_key = NULL, finished_at_ms = $2 \
         WHERE state = 'queued' AND dedupe_key LIKE $1")
        .bind(key_pattern).bind(now_ms)
        .execute(&mut *c).await.map(|r| r.rows_affected()))
}

/// Claims the next runnable job for `lease_ms`, counting the attempt, from any queue but the
/// `busy` ones (queues at their concurrency limit in this process).
pub async fn claim(db: &Db, worker: &str, now_ms: i64, lease_ms: i64, busy: &[&str]) -> sqlx::Result<Option<JobRow>> {
    Ok(claim_many(db, worker, now_ms, lease_ms, busy, 1).await?.pop())
}

/// Claims up to `limit` runnable jobs in one statement, oldest due first (see `claim`).
pub async fn claim_many(
    db: &Db,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
    busy: &[&str],
    limit: i64,
) -> sqlx::Result<Vec<JobRow>> {
    let skip = skip_queues(busy);
    let pick = format!(
        "SELECT id FROM jobs WHERE state = 'queued' AND run_at_ms <= $1 {skip}\
         AND (locked_until_ms IS NULL OR locked_until_ms < $1) ORDER BY run_at_ms, id LIMIT $4"
    );
    let lock = match db {
        Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Db::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE jobs SET locked_until_ms = $2, locked_by = $3, attempts = attempts + 1 \
         WHERE id IN ({pick}{lock}) \
         RETURNING id, kind, payload, attempts, max_attempts, queue"
    );
    let mut jobs: Vec<JobRow> = with_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now_ms).bind(now_ms + lease_ms).bind(worker).bind(limit).fetch_all(p).await)?;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// Gives claimed jobs back untouched (claimed beyond a queue's limit): no attempt counted.
pub async fn unclaim(db: &Db, ids: &[i64]) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    with_pool!(db, p => sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET locked_until_ms = NULL, locked_by = NULL, attempts = attempts - 1 WHERE id IN ({ids})")))
        .execute(p).await.map(|_| ()))
}

/// Extends the leases of every job `worker` holds (its heartbeat while they run).
pub async fn renew_leases(db: &Db, worker: &str, until_ms: i64) -> sqlx::Result<u64> {
    with_pool!(db, p => sqlx::query(
        "UPDATE jobs SET locked_until_ms = $2 WHERE locked_by = $1 AND state = 'queued' AND locked_until_ms IS NOT NULL")
        .bind(worker).bind(until_ms).execute(p).await.map(|r| r.rows_affected()))
}

/// Frees every lease at once: for a process that knows it is the only one serving (SQLite), so
/// the jobs a killed predecessor held run now instead of when their leases would run out.
pub async fn release_all_leases(db: &Db) -> sqlx::Result<u64> {
    with_pool!(db, p => sqlx::query(
        "UPDATE jobs SET locked_until_ms = NULL, locked_by = NULL WHERE state = 'queued' AND locked_until_ms IS NOT NULL")
        .execute(p).await.map(|r| r.rows_affected()))
}

/// The job is done: it leaves the queue and frees its dedupe key.
pub async fn complete(db: &Db, id: i64, now_ms: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE jobs SET state = 'done', dedupe_key = NULL, locked_until_ms = NULL, finished_at_ms = $2 WHERE id = $1")
        .bind(id).bind(now_ms).execute(p).await.map(|_| ()))
}

/// A failed attempt to try again at `run_at_ms`.
pub async fn retry(db: &Db, id: i64, run_at_ms: i64, error: &str) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE jobs SET run_at_ms = $2, locked_until_ms = NULL, locked_by = NULL, last_error = $3 WHERE id = $1")
        .bind(id).bind(run_at_ms).bind(error).execute(p).await.map(|_| ()))
}

/// Puts a job back until `run_at_ms` without counting the attempt it did not make.
pub async fn defer(db: &Db, id: i64, run_at_ms: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE jobs SET run_at_ms = $2, locked_until_ms = NULL, locked_by = NULL, attempts = attempts - 1 WHERE id = $1")
        .bind(id).bind(run_at_ms).execute(p).await.map(|_| ()))
}

/// Gives up on a job (out of attempts, or a permanent failure).
pub async fn bury(db: &Db, id: i64, error: &str, now_ms: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE jobs SET state = 'dead', dedupe_key = NULL, locked_until_ms = NULL, last_error = $2, finished_at_ms = $3 \
         WHERE id = $1")
        .bind(id).bind(error).bind(now_ms).execute(p).await.map(|_| ()))
}

/// Removes finished jobs older than `before_ms`.
pub async fn purge_finished(db: &Db, before_ms: i64) -> sqlx::Result<u64> {
    with_pool!(db, p => sqlx::query("DELETE FROM jobs WHERE state IN ('done', 'dead') AND finished_at_ms < $1")
        .bind(before_ms).execute(p).await.map(|r| r.rows_affected()))
}

/// When the next queued job outside the `busy` queues falls due (to sleep exactly until then).
pub async fn next_due(db: &Db, busy: &[&str]) -> sqlx::Result<Option<i64>> {
    // A claimed job (leased) counts from the end of its lease, when it could be taken over.
    let sql = format!(
        "SELECT MIN(CASE WHEN locked_until_ms > run_at_ms THEN locked_until_ms ELSE run_at_ms END) \
         FROM jobs WHERE state = 'queued' {}",
        skip_queues(busy)
    );
    with_pool!(db, p => sqlx::query_scalar::<_, Option<i64>>(sqlx::AssertSqlSafe(sql)).fetch_one(p).await)
}

/// `AND queue NOT IN (…)`, for queue names of ours only (anything else is dropped, never quoted in).
fn skip_queues(busy: &[&str]) -> String {
    let busy: Vec<String> = busy
        .iter()
        .filter(|q| !q.is_empty() && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(|q| format!("'{q}'"))
        .collect();
    if busy.is_empty() {
        String::new()
    } else {
        format!("AND queue NOT IN ({}) ", busy.join(", "))
    }
}
