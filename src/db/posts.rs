//! Posts, their per-profile results and media. Every read and write is scoped to the account;
//! creating, editing and deleting a post moves its publish jobs in the same transaction.

use super::{Db, Tx};
use crate::domain::platform::Platform;
use crate::domain::post::{MediaStatus, PostStatus, ResultState};
use crate::{with_pool, with_tx};

/// What an unpublish job needs, self-contained so that it still runs after the post's rows
/// are deleted (`DELETE /api/posts/:id?delete_on_platform=true`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Unpublish {
    pub profile_id: i64,
    pub platform: Platform,
    pub placement_id: Option<String>,
    /// (result id, platform post id), the thread's last part first (replies before what they reply to).
    pub items: Vec<(i64, String)>,
}

/// The published chains of a post, one per profile (root result first in `items` order reversed).
pub async fn unpublish_plan(db: &Db, account_id: i64, root: i64) -> sqlx::Result<Vec<(i64, Unpublish)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        post_id: i64,
        profile_id: Option<i64>,
        platform: Platform,
        placement_id: Option<String>,
        platform_post_id: String,
    }
    let rows: Vec<Row> = with_pool!(db, p => sqlx::query_as(
        "SELECT r.id, r.post_id, r.profile_id, r.platform, r.placement_id, r.platform_post_id \
         FROM post_profiles r JOIN posts p ON p.id = r.post_id \
         WHERE r.root_post_id = $1 AND r.account_id = $2 AND r.status = 'published' AND r.platform_post_id IS NOT NULL \
           AND r.profile_id IS NOT NULL ORDER BY r.profile_id, p.position DESC")
        .bind(root).bind(account_id).fetch_all(p).await)?;
    let mut plans: Vec<(i64, Unpublish)> = Vec::new();
    for Row {
        id,
        post_id,
        profile_id,
        platform,
        placement_id,
        platform_post_id,
    } in rows
    {
        let profile_id = profile_id.unwrap_or_default();
        match plans.iter_mut().find(|(_, u)| u.profile_id == profile_id) {
            Some((root_result, u)) => {
                if post_id == root {
                    *root_result = id;
                }
                u.items.push((id, platform_post_id));
            }
            None => plans.push((
                if post_id == root { id } else { 0 },
                Unpublish {
                    profile_id,
                    platform,
                    placement_id,
                    items: vec![(id, platform_post_id)],
                },
            )),
        }
    }
    Ok(plans)
}

/// A part was deleted on its platform.
pub async fn mark_deleted(db: &Db, result_id: i64, now_ms: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE post_profiles SET status = 'deleted', error = NULL, error_code = NULL, error_subcode = NULL, error_message = NULL, \
                error_note = NULL, updated_at_ms = $2 WHERE id = $1 AND status = 'published'")
        .bind(result_id).bind(now_ms).execute(p).await.map(|_| ())
    )
}

/// A deletion failed for good: the part stays published, with the platform's reason.
pub async fn deletion_failed(
    db: &Db,
    result_id: i64,
    error: &str,
    code: Option<&str>,
    note: &str,
    now_ms: i64,
) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE post_profiles SET error = $2, error_message = $2, error_code = $3, error_note = $4, updated_at_ms = $5 \
         WHERE id = $1 AND status = 'published'")
        .bind(result_id).bind(error).bind(code).bind(note).bind(now_ms).execute(p).await.map(|_| ())
    )
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PostRow {
    pub id: i64,
    pub profile_group_id: i64,
    pub parent_id: Option<i64>,
    pub position: i64,
    pub body: String,
    pub status: PostStatus,
    pub scheduled_at_ms: Option<i64>,
    pub platforms_json: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResultRow {
    pub id: i64,
    pub post_id: i64,
    pub root_post_id: i64,
    pub profile_id: Option<i64>,
    pub platform: Platform,
    pub profile_name: Option<String>,
    pub status: ResultState,
    pub placement_id: Option<String>,
    pub platform_post_id: Option<String>,
    pub permalink: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub error_subcode: Option<String>,
    pub error_message: Option<String>,
    pub error_note: Option<String>,
    pub attempted_at_ms: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRow {
    pub id: i64,
    pub post_id: i64,
    pub position: i64,
    pub status: MediaStatus,
    pub error_message: Option<String>,
    pub source_url: Option<String>,
    pub content_type: Option<String>,
    pub kind: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub storage_key: Option<String>,
}

/// One media item of a new post: a URL to fetch, or a file already stored.
#[derive(Debug, Clone)]
pub enum NewMedia {
    Url(String),
    Stored {
        content_type: String,
        kind: String,
        size: i64,
        sha256: String,
        storage_key: String,
        source_url: Option<String>,
    },
}

/// A profile a post goes to.
#[derive(Debug, Clone)]
pub struct NewTarget {
    pub profile_id: i64,
    pub platform: Platform,
    pub profile_name: String,
    pub placement_id: Option<String>,
}

/// Everything a create or a full rewrite writes.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub account_id: i64,
    pub profile_group_id: i64,
    pub body: String,
    pub status: PostStatus,
    pub scheduled_at_ms: Option<i64>,
    pub platforms_json: String,
    pub fingerprint: Option<Vec<u8>>,
    pub media: Vec<NewMedia>,
    pub thread: Vec<(String, Vec<NewMedia>)>,
    pub targets: Vec<NewTarget>,
    /// Enqueue publish jobs (not for drafts).
    pub enqueue: bool,
}

/// The rows of a post's content below its root: media, results, thread parts. `keep_results`:
/// an edit keeps each remaining profile's root result (its id stays the same), reset. Returns
/// whether any media is still to be fetched.
async fn write_body(tx: &mut Tx, np: &NewPost, root: i64, now: i64, keep_results: bool) -> sqlx::Result<bool> {
    let mut pending_media = insert_media(tx, np.account_id, root, &np.media, now).await?;
    for t in &np.targets {
        if keep_results {
            let reset = with_tx!(&mut *tx, c => sqlx::query(
                "UPDATE post_profiles SET platform = $3, profile_name = $4, placement_id = $5, status = 'pending', \
                        error = NULL, error_code = NULL, error_subcode = NULL, error_message = NULL, error_note = NULL, \
                        sending_since_ms = NULL, sending_ref = NULL, updated_at_ms = $6 \
                 WHERE post_id = $1 AND profile_id = $2")
                .bind(root).bind(t.profile_id).bind(t.platform.as_str()).bind(&t.profile_name).bind(&t.placement_id)
                .bind(now).execute(&mut *c).await.map(|r| r.rows_affected()))?;
            if reset > 0 {
                continue;
            }
        }
        insert_result(tx, np, root, root, t, now).await?;
    }
    for (i, (body, media)) in np.thread.iter().enumerate() {
        let child: i64 = with_tx!(&mut *tx, c => sqlx::query_scalar(
            "INSERT INTO posts (account_id, profile_group_id, parent_id, position, body, status, scheduled_at_ms, \
                                platforms_json, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', $8, $8) RETURNING id")
            .bind(np.account_id).bind(np.profile_group_id).bind(root).bind(i as i64 + 1).bind(body)
            .bind(np.status.as_str()).bind(np.scheduled_at_ms).bind(now).fetch_one(&mut *c).await)?;
        pending_media |= insert_media(tx, np.account_id, child, media, now).await?;
        for t in &np.targets {
            insert_result(tx, np, child, root, t, now).await?;
        }
    }
    Ok(pending_media)
}

async fn insert_result(tx: &mut Tx, np: &NewPost, post: i64, root: i64, t: &NewTarget, now: i64) -> sqlx::Result<()> {
    with_tx!(tx, c => sqlx::query(
        "INSERT INTO post_profiles (account_id, post_id, root_post_id, profile_id, platform, profile_name, placement_id, \
                                    status, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)")
        .bind(np.account_id).bind(post).bind(root).bind(t.profile_id).bind(t.platform.as_str()).bind(&t.profile_name)
        .bind(&t.placement_id).bind(now).execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// A post's media rows; true when some are URLs still to fetch.
async fn insert_media(tx: &mut Tx, account: i64, post: i64, media: &[NewMedia], now: i64) -> sqlx::Result<bool> {
    let mut pending = false;
    for (i, m) in media.iter().enumerate() {
        match m {
            NewMedia::Url(url) => {
                pending = true;
                with_tx!(&mut *tx, c => sqlx::query(
                    "INSERT INTO media (account_id, post_id, position, status, source_url, created_at_ms) \
                     VALUES ($1, $2, $3, 'pending', $4, $5)")
                    .bind(account).bind(post).bind(i as i64).bind(url).bind(now).execute(&mut *c).await.map(|_| ()))?;
            }
            NewMedia::Stored {
                content_type,
                kind,
                size,
                sha256,
                storage_key,
                source_url,
            } => {
                with_tx!(&mut *tx, c => sqlx::query(
                    "INSERT INTO media (account_id, post_id, position, status, content_type, kind, size_bytes, sha256, \
                                        storage_key, source_url, created_at_ms) \
                     VALUES ($1, $2, $3, 'processed', $4, $5, $6, $7, $8, $9, $10)")
                    .bind(account).bind(post).bind(i as i64).bind(content_type).bind(kind).bind(*size).bind(sha256)
                    .bind(storage_key).bind(source_url).bind(now).execute(&mut *c).await.map(|_| ()))?;
            }
        }
    }
    Ok(pending)
}

/// What storing a post's content wrote.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub post_id: i64,
    /// Some media is a URL still to fetch (a media job is due).
    pub pending_media: bool,
}

/// Writes the post, its thread, media and results in the caller's transaction (which also
/// enqueues its jobs).
pub async fn create(tx: &mut Tx, np: &NewPost, now_ms: i64) -> sqlx::Result<Written> {
    let root: i64 = with_tx!(&mut *tx, c => sqlx::query_scalar(
        "INSERT INTO posts (account_id, profile_group_id, parent_id, position, body, status, scheduled_at_ms, platforms_json, \
                            fingerprint, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, NULL, 0, $3, $4, $5, $6, $7, $8, $8) RETURNING id")
        .bind(np.account_id).bind(np.profile_group_id).bind(&np.body).bind(np.status.as_str()).bind(np.scheduled_at_ms)
        .bind(&np.platforms_json).bind(&np.fingerprint).bind(now_ms).fetch_one(&mut *c).await)?;
    let pending_media = write_body(tx, np, root, now_ms, false).await?;
    Ok(Written {
        post_id: root,
        pending_media,
    })
}

/// Replaces a draft's or scheduled post's content, thread, media and targets in the caller's
/// transaction, as long as it is still in `expected_status` (None when it changed meanwhile).
/// Media no longer used is queued for removal. The caller cancels the old jobs and enqueues new.
pub async fn rewrite(
    tx: &mut Tx,
    post_id: i64,
    expected_status: PostStatus,
    np: &NewPost,
    now_ms: i64,
) -> sqlx::Result<Option<Written>> {
    let updated = with_tx!(&mut *tx, c => sqlx::query(
        "UPDATE posts SET body = $3, status = $4, scheduled_at_ms = $5, platforms_json = $6, fingerprint = $7, updated_at_ms = $8 \
         WHERE id = $1 AND account_id = $2 AND status = $9 AND parent_id IS NULL")
        .bind(post_id).bind(np.account_id).bind(&np.body).bind(np.status.as_str()).bind(np.scheduled_at_ms)
        .bind(&np.platforms_json).bind(&np.fingerprint).bind(now_ms).bind(expected_status.as_str())
        .execute(&mut *c).await.map(|r| r.rows_affected()))?
        == 1;
    if !updated {
        return Ok(None);
    }
    let old: Vec<String> = with_tx!(&mut *tx, c => sqlx::query_scalar(
        "SELECT storage_key FROM media WHERE storage_key IS NOT NULL \
           AND (post_id = $1 OR post_id IN (SELECT id FROM posts WHERE parent_id = $1))")
        .bind(post_id).fetch_all(&mut *c).await)?;
    let kept: Vec<&str> = np
        .media
        .iter()
        .chain(np.thread.iter().flat_map(|(_, m)| m.iter()))
        .filter_map(|m| match m {
            NewMedia::Stored { storage_key, .. } => Some(storage_key.as_str()),
            _ => None,
        })
        .collect();
    for key in old.iter().filter(|k| !kept.contains(&k.as_str())) {
        with_tx!(&mut *tx, c => sqlx::query("INSERT INTO media_garbage (storage_key, created_at_ms) VALUES ($1, $2)")
            .bind(key).bind(now_ms).execute(&mut *c).await.map(|_| ()))?;
    }
    with_tx!(&mut *tx, c => sqlx::query("DELETE FROM media WHERE post_id = $1 OR post_id IN (SELECT id FROM posts WHERE parent_id = $1)")
        .bind(post_id).execute(&mut *c).await.map(|_| ()))?;
    // The root's results of profiles still targeted stay (stable ids); the rest go, with
    // the thread, which is written anew.
    let kept = id_list(&np.targets.iter().map(|t| t.profile_id).collect::<Vec<_>>());
    let kept = if kept.is_empty() { "NULL".to_string() } else { kept };
    let sql = format!(
        "DELETE FROM post_profiles WHERE root_post_id = $1 \
         AND NOT (post_id = $1 AND profile_id IS NOT NULL AND profile_id IN ({kept}))"
    );
    with_tx!(&mut *tx, c => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(post_id).execute(&mut *c).await.map(|_| ()))?;
    with_tx!(&mut *tx, c => sqlx::query("DELETE FROM posts WHERE parent_id = $1").bind(post_id).execute(&mut *c).await.map(|_| ()))?;
    let pending_media = write_body(tx, np, post_id, now_ms, true).await?;
    Ok(Some(Written { post_id, pending_media }))
}

/// Deletes a post with its thread, results and media rows in the caller's transaction; the
/// media's storage keys are queued for removal. False when there was none. The caller cancels
/// its jobs.
pub async fn delete(tx: &mut Tx, account_id: i64, post_id: i64, now_ms: i64) -> sqlx::Result<bool> {
    let exists: Option<i64> = with_tx!(&mut *tx, c => sqlx::query_scalar(
        "SELECT id FROM posts WHERE id = $1 AND account_id = $2 AND parent_id IS NULL")
        .bind(post_id).bind(account_id).fetch_optional(&mut *c).await)?;
    if exists.is_none() {
        return Ok(false);
    }
    with_tx!(&mut *tx, c => sqlx::query(
        "INSERT INTO media_garbage (storage_key, created_at_ms) SELECT storage_key, $2 FROM media \
         WHERE storage_key IS NOT NULL AND (post_id = $1 OR post_id IN (SELECT id FROM posts WHERE parent_id = $1))")
        .bind(post_id).bind(now_ms).execute(&mut *c).await.map(|_| ()))?;
    with_tx!(&mut *tx, c => sqlx::query("DELETE FROM posts WHERE id = $1 AND account_id = $2")
        .bind(post_id).bind(account_id).execute(&mut *c).await.map(|_| ()))?;
    Ok(true)
}

/// A draft turned into a post to publish: its schedule, and the profiles to publish to.
pub struct Released {
    pub scheduled_at_ms: Option<i64>,
    /// (profile id, platform).
    pub targets: Vec<(i64, Platform)>,
}

/// Turns a draft into a post to publish now (or at its schedule) in the caller's transaction,
/// which enqueues its jobs. None when it is no longer a draft.
pub async fn publish_draft(
    tx: &mut Tx,
    account_id: i64,
    post_id: i64,
    status: PostStatus,
    now_ms: i64,
) -> sqlx::Result<Option<Released>> {
    let row: Option<(Option<i64>,)> = with_tx!(&mut *tx, c => sqlx::query_as(
        "UPDATE posts SET status = $3, updated_at_ms = $4 WHERE id = $1 AND account_id = $2 AND status = 'draft' \
         AND parent_id IS NULL RETURNING scheduled_at_ms")
        .bind(post_id).bind(account_id).bind(status.as_str()).bind(now_ms).fetch_optional(&mut *c).await)?;
    let Some((scheduled,)) = row else { return Ok(None) };
    with_tx!(&mut *tx, c => sqlx::query("UPDATE posts SET status = $2, updated_at_ms = $3 WHERE parent_id = $1")
        .bind(post_id).bind(status.as_str()).bind(now_ms).execute(&mut *c).await.map(|_| ()))?;
    let targets: Vec<(i64, Platform)> = with_tx!(&mut *tx, c => sqlx::query_as(
        "SELECT profile_id, platform FROM post_profiles WHERE post_id = $1 AND profile_id IS NOT NULL ORDER BY id")
        .bind(post_id).fetch_all(&mut *c).await)?;
    Ok(Some(Released {
        scheduled_at_ms: scheduled,
        targets,
    }))
}

const SELECT_POST: &str = "SELECT id, profile_group_id, parent_id, position, body, status, scheduled_at_ms, platforms_json, created_at_ms FROM posts";

/// A root post of the account, within `group` when given.
pub async fn get(db: &Db, account_id: i64, group: Option<i64>, id: i64) -> sqlx::Result<Option<PostRow>> {
    with_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_POST} WHERE id = $1 AND account_id = $2 AND ($3 IS NULL OR profile_group_id = $3) AND parent_id IS NULL")))
        .bind(id).bind(account_id).bind(group).fetch_optional(p).await)
}

/// Filters of the posts list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub group: Option<i64>,
    /// A post status, or `published` / `failed` (posts with a result in that state).
    pub status: Option<String>,
    /// Comma-separated platform names.
    pub platforms: Option<String>,
    pub scheduled_after_ms: Option<i64>,
}

const LIST_WHERE: &str = "WHERE account_id = $1 AND parent_id IS NULL AND ($2 IS NULL OR profile_group_id = $2) \
    AND ($3 IS NULL OR status = $3 \
         OR ($3 IN ('published', 'failed') AND EXISTS (SELECT 1 FROM post_profiles r WHERE r.post_id = posts.id AND r.status = $3))) \
    AND ($4 IS NULL OR EXISTS (SELECT 1 FROM post_profiles r WHERE r.post_id = posts.id \
                               AND (',' || $4 || ',') LIKE ('%,' || r.platform || ',%'))) \
    AND ($5 IS NULL OR scheduled_at_ms > $5)";

/// One page of root posts, newest first, and the total.
pub async fn list(
    db: &Db,
    account_id: i64,
    f: &ListFilter,
    offset: i64,
    limit: i64,
) -> sqlx::Result<(i64, Vec<PostRow>)> {
    with_pool!(db, p => {
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM posts {LIST_WHERE}")))
            .bind(account_id).bind(f.group).bind(&f.status).bind(&f.platforms).bind(f.scheduled_after_ms)
            .fetch_one(p).await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_POST} {LIST_WHERE} ORDER BY id DESC LIMIT $6 OFFSET $7")))
            .bind(account_id).bind(f.group).bind(&f.status).bind(&f.platforms).bind(f.scheduled_after_ms)
            .bind(limit).bind(offset).fetch_all(p).await?;
        Ok((total, rows))
    })
}

/// The thread children of root posts, in order.
pub async fn children(db: &Db, roots: &[i64]) -> sqlx::Result<Vec<PostRow>> {
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let ids = id_list(roots);
    with_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_POST} WHERE parent_id IN ({ids}) ORDER BY parent_id, position"))).fetch_all(p).await)
}

/// The results of posts (roots and children), in creation order.
pub async fn results(db: &Db, posts: &[i64]) -> sqlx::Result<Vec<ResultRow>> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let ids = id_list(posts);
    with_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, post_id, root_post_id, profile_id, platform, profile_name, status, placement_id, platform_post_id, permalink, \
                error, error_code, error_subcode, error_message, error_note, attempted_at_ms \
         FROM post_profiles WHERE post_id IN ({ids}) ORDER BY id"))).fetch_all(p).await)
}

/// The media of posts, in order.
pub async fn media(db: &Db, posts: &[i64]) -> sqlx::Result<Vec<MediaRow>> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let ids = id_list(posts);
    with_pool!(db, p => sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, post_id, position, status, error_message, source_url, content_type, kind, size_bytes, sha256, storage_key \
         FROM media WHERE post_id IN ({ids}) ORDER BY post_id, position"))).fetch_all(p).await)
}

/// Integers only, so building the IN list cannot inject anything.
fn id_list(ids: &[i64]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// The newest post of the account with this fingerprint created at or after `since_ms`.
pub async fn find_duplicate(db: &Db, account_id: i64, fingerprint: &[u8], since_ms: i64) -> sqlx::Result<Option<i64>> {
    with_pool!(db, p => sqlx::query_scalar(
        "SELECT id FROM posts WHERE account_id = $1 AND fingerprint = $2 AND created_at_ms >= $3 AND parent_id IS NULL \
         ORDER BY id DESC LIMIT 1")
        .bind(account_id).bind(fingerprint).bind(since_ms).fetch_optional(p).await)
}

/// Storage keys waiting for removal, oldest first.
pub async fn media_garbage(db: &Db, limit: i64) -> sqlx::Result<Vec<(i64, String)>> {
    with_pool!(db, p => sqlx::query_as("SELECT id, storage_key FROM media_garbage ORDER BY id LIMIT $1")
        .bind(limit).fetch_all(p).await)
}

pub async fn forget_garbage(db: &Db, id: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query("DELETE FROM media_garbage WHERE id = $1").bind(id).execute(p).await.map(|_| ()))
}

/// Fails a post's pending media (and `media`, a stored file no target platform can take) and
/// the post with it (`media_processing_failed`), and its results, so nothing waits for media
/// that will not come; in the caller's transaction, which cancels its publishes.
pub async fn fail_media(tx: &mut Tx, post_id: i64, media: Option<i64>, message: &str, now_ms: i64) -> sqlx::Result<()> {
    with_tx!(tx, c => {
        sqlx::query(
            "UPDATE media SET status = 'failed', error_message = $2 WHERE (status = 'pending' OR id = $3) \
               AND (post_id = $1 OR post_id IN (SELECT id FROM posts WHERE parent_id = $1))")
            .bind(post_id).bind(message).bind(media).execute(&mut *c).await?;
        sqlx::query("UPDATE posts SET status = 'media_processing_failed', updated_at_ms = $2 WHERE (id = $1 OR parent_id = $1) AND status <> 'draft'")
            .bind(post_id).bind(now_ms).execute(&mut *c).await?;
        sqlx::query(
            "UPDATE post_profiles SET status = 'failed', error = $2, error_message = $3, error_note = $4, updated_at_ms = $5 \
             WHERE root_post_id = $1 AND status IN ('pending', 'processing')")
            .bind(post_id).bind(format!("Media could not be processed: {message}")).bind(message)
            .bind("Nothing was sent to the platform. Fix or replace the file, then create the post again.")
            .bind(now_ms).execute(&mut *c).await?;
        Ok(())
    })
}

// ---- the publishing pipeline ------------------------------------------------------------------

/// One item of a (post, profile) publish: the root (position 0) or a thread part.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChainItem {
    pub result_id: i64,
    pub post_id: i64,
    pub position: i64,
    pub body: String,
    pub status: ResultState,
    pub platform: Platform,
    pub placement_id: Option<String>,
    pub platform_post_id: Option<String>,
    pub sending_since_ms: Option<i64>,
    /// What the armed send can be looked up by (a container id).
    pub sending_ref: Option<String>,
    pub has_media: bool,
}

/// The head of a publish: the root post's status (a due `scheduled` post becomes `processing`,
/// with its thread, in the same statement) and its platform parameters.
pub async fn start_publishing(db: &Db, root: i64, now_ms: i64) -> sqlx::Result<Option<(PostStatus, String)>> {
    let rows: Vec<(i64, PostStatus, String)> = with_pool!(db, p => sqlx::query_as(
        "UPDATE posts SET status = CASE WHEN status = 'scheduled' THEN 'processing' ELSE status END, \
                updated_at_ms = CASE WHEN status = 'scheduled' THEN $2 ELSE updated_at_ms END \
         WHERE id = $1 OR parent_id = $1 RETURNING id, status, platforms_json")
        .bind(root).bind(now_ms).fetch_all(p).await)?;
    Ok(rows.into_iter().find(|(id, _, _)| *id == root).map(|(_, s, j)| (s, j)))
}

/// What a publish of one (post, profile) starts from: the chain in publishing order, whether any
/// part has media, and the profile's credentials (one statement: this runs for every publish).
pub struct PublishChain {
    pub items: Vec<ChainItem>,
    pub any_media: bool,
    pub credentials: Option<super::profiles::CredentialRow>,
}

pub async fn chain(db: &Db, root: i64, profile_id: i64) -> sqlx::Result<PublishChain> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        item: ChainItem,
        profile_account_id: i64,
        external_id: String,
        profile_status: crate::domain::connection::ProfileStatus,
        access_token_enc: Option<Vec<u8>>,
        refresh_token_enc: Option<Vec<u8>>,
        access_expires_at_ms: Option<i64>,
        username: Option<String>,
        endpoint: Option<String>,
        placement_token_enc: Option<Vec<u8>>,
    }
    let rows: Vec<Row> = with_pool!(db, p => sqlx::query_as(
        "SELECT r.id AS result_id, r.post_id, p.position, p.body, r.status, r.platform, r.placement_id, \
                r.platform_post_id, r.sending_since_ms, r.sending_ref, \
                EXISTS (SELECT 1 FROM media m WHERE m.post_id = r.post_id) AS has_media, \
                pr.account_id AS profile_account_id, pr.external_id, pr.status AS profile_status, \
                pr.access_token_enc, pr.refresh_token_enc, pr.access_expires_at_ms, pr.username, pr.endpoint, \
                pl.access_token_enc AS placement_token_enc \
         FROM post_profiles r JOIN posts p ON p.id = r.post_id JOIN profiles pr ON pr.id = r.profile_id \
         LEFT JOIN placements pl ON pl.profile_id = r.profile_id AND pl.external_id = r.placement_id \
         WHERE r.root_post_id = $1 AND r.profile_id = $2 ORDER BY p.position")
        .bind(root).bind(profile_id).fetch_all(p).await)?;
    let credentials = rows.first().map(|r| super::profiles::CredentialRow {
        id: profile_id,
        account_id: r.profile_account_id,
        platform: r.item.platform,
        external_id: r.external_id.clone(),
        status: r.profile_status,
        access_token_enc: r.access_token_enc.clone(),
        refresh_token_enc: r.refresh_token_enc.clone(),
        access_expires_at_ms: r.access_expires_at_ms,
        username: r.username.clone(),
        credential_enc: None,
        endpoint: r.endpoint.clone(),
        placement_token_enc: r.placement_token_enc.clone(),
    });
    let items: Vec<ChainItem> = rows.into_iter().map(|r| r.item).collect();
    let any_media = items.iter().any(|i| i.has_media);
    Ok(PublishChain {
        items,
        any_media,
        credentials,
    })
}

/// The job started on this result: `processing`, first attempt time kept.
pub async fn start_result(db: &Db, result_id: i64, now_ms: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE post_profiles SET status = 'processing', attempted_at_ms = COALESCE(attempted_at_ms, $2), updated_at_ms = $2 \
         WHERE id = $1 AND status IN ('pending', 'retrying')")
        .bind(result_id).bind(now_ms).execute(p).await.map(|_| ()))
}

/// Marks that the content-creating request is about to leave. Only one holder ever succeeds,
/// and never for a result that already has a platform id or an armed attempt.
pub async fn arm(db: &Db, result_id: i64, now_ms: i64, reference: Option<&str>) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query(
        "UPDATE post_profiles SET sending_since_ms = $2, sending_ref = $3, status = 'processing', updated_at_ms = $2, \
                attempted_at_ms = COALESCE(attempted_at_ms, $2) \
         WHERE id = $1 AND sending_since_ms IS NULL AND platform_post_id IS NULL \
           AND status IN ('pending', 'processing', 'retrying')")
        .bind(result_id).bind(now_ms).bind(reference).execute(p).await.map(|r| r.rows_affected() == 1))
}

/// What the platform named an armed send (e.g. TikTok's publish_id), for a later lookup.
pub async fn remember_send(db: &Db, result_id: i64, reference: &str) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE post_profiles SET sending_ref = $2 WHERE id = $1 AND sending_since_ms IS NOT NULL AND platform_post_id IS NULL")
        .bind(result_id).bind(reference).execute(p).await.map(|_| ()))
}

/// A published result's id and permalink, once the platform gives the final ones (TikTok's
/// public id arrives after the post is live). Only while it still carries `provisional_id`.
pub async fn settle_post_id(
    db: &Db,
    result_id: i64,
    provisional_id: &str,
    id: &str,
    permalink: Option<&str>,
    now_ms: i64,
) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query(
        "UPDATE post_profiles SET platform_post_id = $3, permalink = COALESCE($4, permalink), updated_at_ms = $5 \
         WHERE id = $1 AND platform_post_id = $2 AND status = 'published'")
        .bind(result_id).bind(provisional_id).bind(id).bind(permalink).bind(now_ms)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

/// The armed request was refused (so it created nothing): it may be sent again.
pub async fn disarm(db: &Db, result_id: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query("UPDATE post_profiles SET sending_since_ms = NULL, sending_ref = NULL WHERE id = $1 AND platform_post_id IS NULL")
        .bind(result_id).execute(p).await.map(|_| ()))
}

/// The platform took it: its id and permalink, recorded before the job is acknowledged.
pub async fn record_published(
    db: &Db,
    result_id: i64,
    platform_post_id: &str,
    permalink: Option<&str>,
    note: Option<&str>,
    now_ms: i64,
) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE post_profiles SET status = 'published', platform_post_id = $2, permalink = $3, sending_since_ms = NULL, sending_ref = NULL, \
                error = NULL, error_code = NULL, error_subcode = NULL, error_message = NULL, error_note = $5, \
                published_at_ms = $4, updated_at_ms = $4 \
         WHERE id = $1 AND status <> 'deleted'")
        .bind(result_id).bind(platform_post_id).bind(permalink).bind(now_ms).bind(note).execute(p).await.map(|_| ()))
}

/// What a failed attempt leaves behind. `final_` fails the result; otherwise it is retried
/// (and shown as `processing`).
pub struct Failed<'a> {
    pub error: &'a str,
    pub code: Option<&'a str>,
    pub subcode: Option<&'a str>,
    pub message: &'a str,
    pub note: Option<&'a str>,
    pub final_: bool,
    /// Keep the send marker (an unknown outcome: the retry looks it up before sending).
    pub keep_armed: bool,
}

pub async fn record_failure(db: &Db, result_id: i64, f: &Failed<'_>, now_ms: i64) -> sqlx::Result<()> {
    let status = if f.final_ {
        ResultState::Failed
    } else {
        ResultState::Retrying
    }
    .as_str();
    with_pool!(db, p => sqlx::query(
        "UPDATE post_profiles SET status = $2, error = $3, error_code = $4, error_subcode = $5, error_message = $6, \
                error_note = $7, sending_since_ms = CASE WHEN $9 THEN sending_since_ms ELSE NULL END, \
                sending_ref = CASE WHEN $9 THEN sending_ref ELSE NULL END, \
                attempted_at_ms = COALESCE(attempted_at_ms, $8), updated_at_ms = $8 \
         WHERE id = $1 AND status IN ('pending', 'processing', 'retrying')")
        .bind(result_id).bind(status).bind(f.error).bind(f.code).bind(f.subcode).bind(f.message).bind(f.note).bind(now_ms)
        .bind(f.keep_armed)
        .execute(p).await.map(|_| ()))
}

/// A root post whose every result has settled becomes `processed`.
pub async fn finish_if_settled(db: &Db, root: i64, now_ms: i64) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query(
        "UPDATE posts SET status = 'processed', updated_at_ms = $2 \
         WHERE (id = $1 OR parent_id = $1) AND status IN ('scheduled', 'processing') \
           AND NOT EXISTS (SELECT 1 FROM post_profiles WHERE root_post_id = $1 AND status IN ('pending', 'processing', 'retrying'))")
        .bind(root).bind(now_ms).execute(p).await.map(|r| r.rows_affected() > 0))
}

// ---- media ------------------------------------------------------------------------------------

/// A post's (and its thread's) media still to download, in order.
pub async fn pending_media(db: &Db, root: i64) -> sqlx::Result<Vec<MediaRow>> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT id, post_id, position, status, error_message, source_url, content_type, kind, size_bytes, sha256, storage_key \
         FROM media WHERE status = 'pending' AND (post_id = $1 OR post_id IN (SELECT id FROM posts WHERE parent_id = $1)) \
         ORDER BY post_id, position")
        .bind(root).fetch_all(p).await)
}

/// A download failed for now and will be tried again: why, and when.
pub async fn media_retrying(db: &Db, id: i64, message: &str) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query("UPDATE media SET error_message = $2 WHERE id = $1 AND status = 'pending'")
        .bind(id).bind(message).execute(p).await.map(|_| ()))
}

/// A download landed: what it is and where it is stored.
pub async fn media_processed(
    db: &Db,
    id: i64,
    content_type: &str,
    kind: &str,
    size: i64,
    sha256: &str,
    key: &str,
) -> sqlx::Result<bool> {
    with_pool!(db, p => sqlx::query(
        "UPDATE media SET status = 'processed', content_type = $2, kind = $3, size_bytes = $4, sha256 = $5, storage_key = $6, \
                error_message = NULL WHERE id = $1 AND status = 'pending'")
        .bind(id).bind(content_type).bind(kind).bind(size).bind(sha256).bind(key).execute(p).await.map(|r| r.rows_affected() == 1))
}

/// Every medium is in: the post moves on to `scheduled` (or `processing` when due).
pub async fn media_ready(db: &Db, root: i64, now_ms: i64) -> sqlx::Result<()> {
    with_pool!(db, p => sqlx::query(
        "UPDATE posts SET status = CASE WHEN scheduled_at_ms IS NOT NULL AND scheduled_at_ms > $2 THEN 'scheduled' ELSE 'processing' END, \
                updated_at_ms = $2 WHERE (id = $1 OR parent_id = $1) AND status = 'pending'")
        .bind(root).bind(now_ms).execute(p).await.map(|_| ()))
}

/// The content type of a stored object (to serve it).
pub async fn media_by_key(db: &Db, key: &str) -> sqlx::Result<Option<String>> {
    with_pool!(db, p => sqlx::query_scalar::<_, Option<String>>("SELECT content_type FROM media WHERE storage_key = $1 AND status = 'processed'")
        .bind(key).fetch_optional(p).await.map(Option::flatten))
}

/// Processed media of the given posts, for publishing.
pub async fn ready_media(db: &Db, posts: &[i64]) -> sqlx::Result<Vec<MediaRow>> {
    Ok(media(db, posts)
        .await?
        .into_iter()
        .filter(|m| m.status == MediaStatus::Processed)
        .collect())
}

/// The platforms a post goes to.
pub async fn targets_of(db: &Db, root: i64) -> sqlx::Result<Vec<Platform>> {
    with_pool!(db, p => sqlx::query_scalar("SELECT DISTINCT platform FROM post_profiles WHERE root_post_id = $1")
        .bind(root).fetch_all(p).await)
}
