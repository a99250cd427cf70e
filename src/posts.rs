//! The Posts application service: turns a typed request into a stored post (resolving profiles,
//! validating everything, writing post + results + jobs at once), and stored rows into the wire
//! objects the SDKs parse. HTTP handlers stay thin; SQL stays in `db::posts`.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::clock::{iso8601, now_ms};
use crate::db::Tx;
use crate::db::posts::{self as store, MediaRow, NewMedia, NewPost, NewTarget, PostRow, ResultRow, Unpublish, Written};
use crate::db::{profile_groups, profiles};
use crate::domain::access::Caller;
use crate::domain::connection::ProfileStatus;
use crate::domain::field::Field;
use crate::domain::platform::Platform;
use crate::domain::post::{
    self, MediaFacts, MediaStatus, PlatformParams, PostRequest, PostStatus, ResultStatus, TargetFacts,
};
use crate::error::{ApiError, ApiResult};
use crate::ids::Kind;
use crate::jobs::{
    self,
    publish::{FetchMedia, PublishPost},
};
use crate::state::AppState;

/// Files a request stored (multipart uploads), by the marker that stands for each in the input.
#[derive(Debug, Default)]
pub struct Uploads {
    pub files: HashMap<String, (String, crate::media::Downloaded)>,
}

/// Identical posts within this window are refused (unless the client skips the check).
pub const DUPLICATE_WINDOW_MS: i64 = 5 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// Wire objects
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct Post {
    #[schema(example = "abc123xyz")]
    pub id: String,
    pub body: String,
    pub status: PostStatus,
    pub draft: bool,
    pub scheduled_at: Option<String>,
    pub created_at: String,
    /// Always `postproxy` (posts made through this API).
    #[schema(example = "postproxy")]
    pub source: String,
    pub queue_id: Option<String>,
    pub queue_priority: Option<String>,
    pub profile_group_id: String,
    pub media: Vec<Media>,
    pub platforms: Vec<PlatformResult>,
    pub thread: Vec<ThreadPost>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadPost {
    pub id: String,
    pub body: String,
    pub media: Vec<Media>,
    pub platforms: Vec<PlatformResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Media {
    pub id: String,
    /// `pending` | `processed` | `failed`
    #[schema(example = "processed")]
    pub status: String,
    pub error_message: Option<String>,
    /// Empty until the file is fetched and typed.
    pub content_type: String,
    pub source_url: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformResult {
    /// The `post_profile_id` that `delete_on_platform` takes.
    pub id: String,
    pub platform: Platform,
    pub profile_id: Option<String>,
    pub profile_name: Option<String>,
    pub status: ResultStatus,
    pub permalink: Option<String>,
    /// The platform's id of the published post.
    pub platform_post_id: Option<String>,
    pub params: Option<Value>,
    pub error: Option<String>,
    pub error_details: Option<ErrorDetails>,
    pub attempted_at: Option<String>,
    pub insights: Option<Value>,
    pub attachments: Vec<Value>,
}

/// What the platform said, and what to do about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetails {
    pub platform_error_code: Option<String>,
    pub platform_error_subcode: Option<String>,
    pub platform_error_message: Option<String>,
    pub postproxy_note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostList {
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    pub data: Vec<Post>,
}

/// Builds wire posts from root rows, loading their threads, results and media in three queries.
pub async fn render(state: &AppState, roots: Vec<PostRow>) -> ApiResult<Vec<Post>> {
    let root_ids: Vec<i64> = roots.iter().map(|r| r.id).collect();
    let children = store::children(&state.db, &root_ids).await?;
    let all_ids: Vec<i64> = root_ids.iter().copied().chain(children.iter().map(|c| c.id)).collect();
    let mut results: HashMap<i64, Vec<ResultRow>> = HashMap::new();
    for r in store::results(&state.db, &all_ids).await? {
        results.entry(r.post_id).or_default().push(r);
    }
    let mut media: HashMap<i64, Vec<MediaRow>> = HashMap::new();
    for m in store::media(&state.db, &all_ids).await? {
        media.entry(m.post_id).or_default().push(m);
    }
    let mut kids: HashMap<i64, Vec<PostRow>> = HashMap::new();
    for c in children {
        kids.entry(c.parent_id.unwrap_or_default()).or_default().push(c);
    }
    Ok(roots
        .into_iter()
        .map(|r| {
            let params: PlatformParams = serde_json::from_str(&r.platforms_json).unwrap_or_default();
            let thread = kids
                .remove(&r.id)
                .unwrap_or_default()
                .into_iter()
                .map(|c| ThreadPost {
                    id: state.encode(Kind::Post, c.id),
                    body: c.body,
                    media: render_media(state, media.remove(&c.id).unwrap_or_default()),
                    platforms: render_results(state, results.remove(&c.id).unwrap_or_default(), &params),
                })
                .collect();
            let status = r.status;
            Post {
                id: state.encode(Kind::Post, r.id),
                body: r.body,
                status,
                draft: status == PostStatus::Draft,
                scheduled_at: r.scheduled_at_ms.map(iso8601),
                created_at: iso8601(r.created_at_ms),
                source: "postproxy".into(),
                queue_id: None,
                queue_priority: None,
                profile_group_id: state.encode(Kind::ProfileGroup, r.profile_group_id),
                media: render_media(state, media.remove(&r.id).unwrap_or_default()),
                platforms: render_results(state, results.remove(&r.id).unwrap_or_default(), &params),
                thread,
            }
        })
        .collect())
}

fn render_media(state: &AppState, rows: Vec<MediaRow>) -> Vec<Media> {
    let now_s = now_ms() / 1000;
    rows.into_iter()
        .map(|m| Media {
            id: state.encode(Kind::Media, m.id),
            // A stored file (fetched or uploaded) is served back through a signed, expiring URL.
            url: m
                .storage_key
                .as_deref()
                .filter(|_| m.status == MediaStatus::Processed)
                .map(|key| format!("{}{}", state.public_url, state.media.signed_path(key, now_s))),
            status: m.status.as_str().to_string(),
            error_message: m.error_message,
            content_type: m.content_type.unwrap_or_default(),
            source_url: m.source_url,
        })
        .collect()
}

fn render_results(state: &AppState, rows: Vec<ResultRow>, params: &PlatformParams) -> Vec<PlatformResult> {
    rows.into_iter()
        .map(|r| {
            let platform = r.platform;
            let has_error = r.error.is_some() || r.error_note.is_some();
            PlatformResult {
                id: state.encode(Kind::PostProfile, r.id),
                platform,
                profile_id: r.profile_id.map(|id| state.encode(Kind::Profile, id)),
                profile_name: r.profile_name,
                status: r.status.shown(),
                permalink: r.permalink,
                platform_post_id: r.platform_post_id,
                params: params.for_platform(platform),
                error: r.error,
                error_details: has_error.then_some(ErrorDetails {
                    platform_error_code: r.error_code,
                    platform_error_subcode: r.error_subcode,
                    platform_error_message: r.error_message,
                    postproxy_note: r.error_note,
                }),
                attempted_at: r.attempted_at_ms.map(iso8601),
                insights: None,
                attachments: Vec::new(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Create and update
// ---------------------------------------------------------------------------------------------

/// The group a request works in: `profile_group_id` (query or body, visible to the key), else a
/// scoped key's group, else none.
pub async fn group_scope(state: &AppState, caller: &Caller, param: Option<&str>) -> ApiResult<Option<i64>> {
    match param.filter(|p| !p.is_empty()) {
        None => Ok(caller.group_filter()),
        Some(public) => {
            let id = state.decode(Kind::ProfileGroup, public)?;
            if caller.group_filter().is_some_and(|g| g != id)
                || !profile_groups::exists(&state.db, caller.account_id, id).await?
            {
                return Err(ApiError::NotFound);
            }
            Ok(Some(id))
        }
    }
}

/// A request decoded and checked, ready to store.
pub struct Checked {
    pub new_post: NewPost,
}

/// The existing post a PATCH starts from.
pub struct Existing {
    pub row: PostRow,
    pub targets: Vec<i64>,
    pub media: Vec<MediaRow>,
    pub thread: Vec<(String, Vec<MediaRow>)>,
}

/// Decodes and validates a create (`existing` = None) or an update, reporting every problem.
pub async fn check(
    state: &AppState,
    caller: &Caller,
    query_group: Option<&str>,
    req: PostRequest,
    existing: Option<&Existing>,
    uploads: &Uploads,
) -> ApiResult<Checked> {
    let mut errors = Vec::new();
    let creating = existing.is_none();
    if creating && req.post.is_missing() && req.profiles.is_missing() {
        return Err(ApiError::BadRequest(
            "param is missing or the value is empty: post".into(),
        ));
    }
    let body_group = req.profile_group_id.take("profile_group_id", &mut errors).map(|t| t.0);
    if !matches!(req.queue_id, Field::Missing | Field::Null)
        || !matches!(req.queue_priority, Field::Missing | Field::Null)
    {
        errors.push("Queues are not supported by this server; set post.scheduled_at instead".into());
    }
    // A `post` that is itself wrong (an unknown key) is reported once, not also as a blank body.
    let post_invalid = matches!(req.post, Field::Invalid(_));
    let fields = req.post.take("post", &mut errors).unwrap_or_default();
    let body_field = fields.body;
    let body = match (body_field, existing) {
        (Field::Missing, Some(e)) => Some(e.row.body.clone()),
        (f, _) => f.take("post.body", &mut errors).map(|t| t.0),
    };
    let body_missing = body.is_none() && creating && !post_invalid;
    if body_missing {
        errors.push("Body can't be blank".into());
    }
    let body = body.unwrap_or_default();
    if body.contains('\u{0}') {
        errors.push("Body must not contain NUL characters".into());
    }
    let draft = match (fields.draft.take("post.draft", &mut errors), existing) {
        (Some(f), _) => f.0,
        (None, Some(e)) => e.row.status == PostStatus::Draft,
        (None, None) => false,
    };
    let now = now_ms();
    let scheduled_at_ms = match (fields.scheduled_at, existing) {
        (Field::Missing, Some(e)) => e.row.scheduled_at_ms,
        (f, _) => match f.take("post.scheduled_at", &mut errors) {
            None => None,
            Some(text) => match post::parse_instant(&text.0) {
                None => {
                    errors.push(format!(
                        "post.scheduled_at {:?} is not an ISO 8601 date and time",
                        text.0
                    ));
                    None
                }
                Some(ms) if ms <= now => {
                    errors.push("post.scheduled_at must be in the future".into());
                    None
                }
                Some(ms) => Some(ms),
            },
        },
    };
    let given = req
        .platforms
        .take("platforms", &mut errors)
        .map(|v| PlatformParams::parse(v, &mut errors));
    let params = match (given, existing) {
        (Some(p), Some(e)) => serde_json::from_str::<PlatformParams>(&e.row.platforms_json)
            .unwrap_or_default()
            .merged(&p),
        (Some(p), None) => p,
        (None, Some(e)) => serde_json::from_str(&e.row.platforms_json).unwrap_or_default(),
        (None, None) => PlatformParams::default(),
    };

    // Group: query, then body, else the key's scope; an existing post keeps its group.
    let group = match existing {
        Some(e) => e.row.profile_group_id,
        None => {
            let scope = group_scope(state, caller, query_group.or(body_group.as_deref())).await?;
            match scope {
                Some(g) => g,
                None => match profile_groups::list(&state.db, caller.account_id, None)
                    .await?
                    .as_slice()
                {
                    [only] => only.id,
                    _ => {
                        // Profiles by id name their group; resolve below from the first id.
                        0
                    }
                },
            }
        }
    };

    // Targets.
    let profile_entries: Option<Vec<String>> = req
        .profiles
        .take("profiles", &mut errors)
        .map(|l| l.0.into_iter().map(|t| t.0).collect());
    let all_profiles = profiles::list(&state.db, caller.account_id, caller.group_filter()).await?;
    let mut targets: Vec<profiles::ProfileRow> = Vec::new();
    match (&profile_entries, existing) {
        (None, Some(e)) => {
            targets = all_profiles
                .iter()
                .filter(|p| e.targets.contains(&p.id))
                .cloned()
                .collect();
        }
        (Some(entries), _) if !entries.is_empty() => {
            let mut group = group;
            for entry in entries {
                let found = if let Some(platform) = Platform::parse(entry) {
                    // The group's first connected profile of that platform: lowest id, a
                    // deterministic, documented choice.
                    all_profiles
                        .iter()
                        .filter(|p| p.platform == platform && (group == 0 || p.profile_group_id == group))
                        .min_by_key(|p| p.id)
                } else {
                    state
                        .ids
                        .decode(Kind::Profile, entry)
                        .and_then(|id| all_profiles.iter().find(|p| p.id == id))
                };
                match found {
                    None if Platform::parse(entry).is_some() => {
                        errors.push(format!("No {entry} profile is connected in this profile group"))
                    }
                    None => errors.push(format!("Profile {entry} not found")),
                    Some(p) if group != 0 && p.profile_group_id != group => {
                        errors.push(format!("Profile {entry} belongs to another profile group"))
                    }
                    Some(p) => {
                        group = p.profile_group_id;
                        if p.status != ProfileStatus::Active {
                            errors.push(format!(
                                "Profile {entry} ({}) is {}: reconnect it before posting",
                                p.name,
                                p.status.as_str()
                            ));
                        }
                        if !targets.iter().any(|t| t.id == p.id) {
                            targets.push(p.clone());
                        }
                    }
                }
            }
        }
        _ => errors.push("Profiles can't be blank".into()),
    }
    let group = targets.first().map(|t| t.profile_group_id).unwrap_or(group);

    // Media and thread.
    let media: Vec<NewMedia> = match (req.media.take("media", &mut errors), existing) {
        (Some(list), _) => list.0.iter().map(|m| new_media(m.url(), uploads)).collect(),
        (None, Some(e)) => e.media.iter().map(carry_media).collect(),
        (None, None) => Vec::new(),
    };
    let thread: Vec<(String, Vec<NewMedia>)> = match (req.thread.take("thread", &mut errors), existing) {
        (Some(list), _) => list
            .0
            .into_iter()
            .map(|c| {
                let media = c.media.map(|m| m.0).unwrap_or_default();
                (c.body.0, media.iter().map(|m| new_media(m.url(), uploads)).collect())
            })
            .collect(),
        (None, Some(e)) => e
            .thread
            .iter()
            .map(|(b, m)| (b.clone(), m.iter().map(carry_media).collect()))
            .collect(),
        (None, None) => Vec::new(),
    };
    for (i, m) in media
        .iter()
        .chain(thread.iter().flat_map(|(_, m)| m.iter()))
        .enumerate()
    {
        if let NewMedia::Url(u) = m
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            errors.push(format!("media item {i} must be an http(s) URL, not {u:?}"));
        }
    }

    // Uploaded files are known now: each must suit every platform it goes to.
    for m in media.iter().chain(thread.iter().flat_map(|(_, m)| m.iter())) {
        if let NewMedia::Stored {
            content_type,
            kind,
            size,
            source_url: None,
            ..
        } = m
        {
            for t in &targets {
                let p = t.platform;
                if let Some(reason) =
                    post::media_refusal(p, crate::platforms::rules(p), kind, content_type, *size as u64)
                {
                    errors.push(format!("media: {reason}"));
                }
            }
        }
    }

    // Platform rules, on facts known now.
    let mut facts_of_targets = Vec::new();
    for t in &targets {
        let platform = t.platform;
        let mut placements: Vec<String> = profiles::placements(&state.db, t.id)
            .await?
            .into_iter()
            .map(|p| p.external_id)
            .collect();
        // A chat the bot was added to a moment ago: look for it before refusing the post.
        if let Some(chat) = params.chat_id().filter(|_| platform == Platform::Telegram)
            && !placements.iter().any(|p| p == chat)
        {
            if let Err(e) = crate::jobs::placements::sync(state, t.id).await {
                tracing::warn!(profile_id = t.id, error = %e, "could not read new placements");
            }
            placements = profiles::placements(&state.db, t.id)
                .await?
                .into_iter()
                .map(|p| p.external_id)
                .collect();
        }
        facts_of_targets.push(TargetFacts {
            platform,
            rules: crate::platforms::rules(platform),
            name: t.name.clone(),
            placements,
        });
    }
    let media_facts: Vec<MediaFacts> = media.iter().map(facts).collect();
    let thread_facts: Vec<(&str, Vec<MediaFacts>)> = thread
        .iter()
        .map(|(b, m)| (b.as_str(), m.iter().map(facts).collect()))
        .collect();
    errors.extend(post::check(
        &post::Draft {
            body: &body,
            media: &media_facts,
            thread: &thread_facts,
            params: &params,
        },
        &facts_of_targets,
    ));
    if body_missing || post_invalid {
        // Said once already, without the per-platform detail.
        errors.retain(|e| !e.starts_with("Body can't be blank:"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    let fetching_media = media
        .iter()
        .chain(thread.iter().flat_map(|(_, m)| m.iter()))
        .any(|m| matches!(m, NewMedia::Url(_)));
    let status = post::status_after_create(draft, fetching_media, scheduled_at_ms.is_some());
    let new_targets: Vec<NewTarget> = targets
        .iter()
        .zip(&facts_of_targets)
        .map(|(t, f)| NewTarget {
            profile_id: t.id,
            platform: t.platform,
            profile_name: t
                .username
                .clone()
                .map(|u| format!("@{u}"))
                .unwrap_or_else(|| t.name.clone()),
            placement_id: match f.platform {
                Platform::Facebook => params
                    .page_id()
                    .map(str::to_string)
                    .or_else(|| f.placements.first().cloned()),
                Platform::Linkedin => params.organization_id().map(str::to_string),
                Platform::Telegram => params.chat_id().map(str::to_string),
                _ => None,
            },
        })
        .collect();
    let platforms_json = serde_json::to_string(&params).unwrap_or_else(|_| "{}".into());
    let fingerprint = fingerprint(&body, &new_targets, &media, &thread, scheduled_at_ms, &platforms_json);
    Ok(Checked {
        new_post: NewPost {
            account_id: caller.account_id,
            profile_group_id: group,
            body,
            status,
            scheduled_at_ms,
            platforms_json,
            fingerprint: Some(fingerprint),
            media,
            thread,
            targets: new_targets,
            enqueue: !draft,
        },
    })
}

/// A media entry of the request: a URL to fetch, or a file this request uploaded.
fn new_media(url: &str, uploads: &Uploads) -> NewMedia {
    match uploads.files.get(url) {
        Some((key, d)) => NewMedia::Stored {
            content_type: d.content_type.clone(),
            kind: d.kind.as_str().to_string(),
            size: d.size_bytes as i64,
            sha256: d.sha256_hex.clone(),
            storage_key: key.clone(),
            source_url: None,
        },
        // Anything else is a URL (an `upload:` marker of another request fails the URL check).
        None => NewMedia::Url(url.to_string()),
    }
}

fn carry_media(m: &MediaRow) -> NewMedia {
    match (&m.storage_key, m.status) {
        (Some(key), MediaStatus::Processed) => NewMedia::Stored {
            content_type: m.content_type.clone().unwrap_or_default(),
            kind: m.kind.clone().unwrap_or_default(),
            size: m.size_bytes.unwrap_or_default(),
            sha256: m.sha256.clone().unwrap_or_default(),
            storage_key: key.clone(),
            source_url: m.source_url.clone(),
        },
        _ => NewMedia::Url(m.source_url.clone().unwrap_or_default()),
    }
}

fn facts(m: &NewMedia) -> MediaFacts {
    match m {
        NewMedia::Url(_) => MediaFacts::Url,
        NewMedia::Stored { kind, .. } if kind == "video" => MediaFacts::Video,
        NewMedia::Stored { .. } => MediaFacts::Image,
    }
}

/// What makes two posts identical: body, targets, media, thread, schedule and parameters.
fn fingerprint(
    body: &str,
    targets: &[NewTarget],
    media: &[NewMedia],
    thread: &[(String, Vec<NewMedia>)],
    scheduled: Option<i64>,
    params: &str,
) -> Vec<u8> {
    let mut h = Sha256::new();
    let mut part = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    part(body);
    let mut ids: Vec<i64> = targets.iter().map(|t| t.profile_id).collect();
    ids.sort_unstable();
    part(&format!("{ids:?}"));
    let media_id = |m: &NewMedia| match m {
        NewMedia::Url(u) => u.clone(),
        NewMedia::Stored { sha256, .. } => sha256.clone(),
    };
    for m in media {
        part(&media_id(m));
    }
    for (b, m) in thread {
        part(b);
        for x in m {
            part(&media_id(x));
        }
    }
    part(&format!("{scheduled:?}"));
    part(params);
    h.finalize().to_vec()
}

/// Loads what a PATCH starts from.
pub async fn existing(state: &AppState, row: PostRow) -> ApiResult<Existing> {
    let children = store::children(&state.db, &[row.id]).await?;
    let ids: Vec<i64> = std::iter::once(row.id).chain(children.iter().map(|c| c.id)).collect();
    let mut media: HashMap<i64, Vec<MediaRow>> = HashMap::new();
    for m in store::media(&state.db, &ids).await? {
        media.entry(m.post_id).or_default().push(m);
    }
    let targets = store::results(&state.db, &[row.id])
        .await?
        .into_iter()
        .filter_map(|r| r.profile_id)
        .collect();
    Ok(Existing {
        media: media.remove(&row.id).unwrap_or_default(),
        thread: children
            .into_iter()
            .map(|c| (c.body, media.remove(&c.id).unwrap_or_default()))
            .collect(),
        targets,
        row,
    })
}

// ---- storing: each change with the jobs it calls for, in one transaction ----------------------

/// Enqueues what stored content needs: its media download, and a publish per target unless it
/// is a draft (at its schedule, or now).
async fn enqueue_work(tx: &mut Tx, np: &NewPost, written: Written, now: i64) -> sqlx::Result<()> {
    let post_id = written.post_id;
    if written.pending_media {
        jobs::enqueue(tx, &FetchMedia { post_id }, now, now).await?;
    }
    if np.enqueue {
        let targets: Vec<(i64, Platform)> = np.targets.iter().map(|t| (t.profile_id, t.platform)).collect();
        enqueue_publishes(tx, post_id, &targets, np.scheduled_at_ms, now).await?;
    }
    Ok(())
}

/// A publish per target, due at the post's schedule (or now, when it has none or it has passed).
async fn enqueue_publishes(
    tx: &mut Tx,
    post_id: i64,
    targets: &[(i64, Platform)],
    scheduled_at_ms: Option<i64>,
    now: i64,
) -> sqlx::Result<()> {
    let run_at = scheduled_at_ms.unwrap_or(now).max(now);
    for &(profile_id, platform) in targets {
        jobs::enqueue(tx, &PublishPost::new(post_id, profile_id, platform), run_at, now).await?;
    }
    Ok(())
}

/// Cancels a post's pending publishes and download (it is edited or deleted), in `tx`.
async fn cancel_work(tx: &mut Tx, post_id: i64, now: i64) -> sqlx::Result<()> {
    PublishPost::cancel_all(tx, post_id, now).await?;
    FetchMedia::cancel(tx, post_id, now).await?;
    Ok(())
}

/// Stores a checked new post with its jobs. Returns its id.
async fn save_new(state: &AppState, np: &NewPost, now: i64) -> ApiResult<i64> {
    let mut tx = state.db.begin().await?;
    let written = store::create(&mut tx, np, now).await?;
    enqueue_work(&mut tx, np, written, now).await?;
    tx.commit().await?;
    state.jobs_enqueued().await;
    Ok(written.post_id)
}

/// Replaces a post's content while it is still `expected_status`, its old jobs cancelled and new
/// ones enqueued. False when it changed meanwhile (nothing is written then).
async fn save_edit(
    state: &AppState,
    post_id: i64,
    expected_status: PostStatus,
    np: &NewPost,
    now: i64,
) -> ApiResult<bool> {
    let mut tx = state.db.begin().await?;
    let Some(written) = store::rewrite(&mut tx, post_id, expected_status, np, now).await? else {
        return Ok(false);
    };
    // Before the new jobs: a cancelled job frees its dedupe key for its successor.
    cancel_work(&mut tx, post_id, now).await?;
    enqueue_work(&mut tx, np, written, now).await?;
    tx.commit().await?;
    state.jobs_enqueued().await;
    Ok(true)
}

/// Releases a draft to be published (now, or at its schedule) with `status`. False when it is no
/// longer a draft.
async fn release_draft(
    state: &AppState,
    account_id: i64,
    post_id: i64,
    status: PostStatus,
    now: i64,
) -> ApiResult<bool> {
    let mut tx = state.db.begin().await?;
    let Some(released) = store::publish_draft(&mut tx, account_id, post_id, status, now).await? else {
        return Ok(false);
    };
    enqueue_publishes(&mut tx, post_id, &released.targets, released.scheduled_at_ms, now).await?;
    tx.commit().await?;
    state.jobs_enqueued().await;
    Ok(true)
}

/// Deletes a post, its pending jobs cancelled, and deletes it on the platforms of `unpublish`.
/// False when there was none.
async fn remove(state: &AppState, account_id: i64, post_id: i64, unpublish: &[Unpublish], now: i64) -> ApiResult<bool> {
    let mut tx = state.db.begin().await?;
    if !store::delete(&mut tx, account_id, post_id, now).await? {
        return Ok(false);
    }
    cancel_work(&mut tx, post_id, now).await?;
    for plan in unpublish {
        jobs::enqueue(&mut tx, plan, now, now).await?;
    }
    tx.commit().await?;
    if !unpublish.is_empty() {
        state.jobs_enqueued().await;
    }
    Ok(true)
}

/// Deletes published chains on their platforms, keeping the post's record.
async fn unpublish(state: &AppState, plans: &[Unpublish], now: i64) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    for plan in plans {
        jobs::enqueue(&mut tx, plan, now, now).await?;
    }
    tx.commit().await?;
    state.jobs_enqueued().await;
    Ok(())
}

// ---- the use cases, one per route: each handler is one call here --------------------------------

/// A post of the caller's account (within its key's group), by public id.
pub async fn find(state: &AppState, caller: &Caller, public_id: &str) -> ApiResult<PostRow> {
    let id = state.decode(Kind::Post, public_id)?;
    store::get(&state.db, caller.account_id, caller.group_filter(), id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// One post as the API shows it.
pub async fn render_one(state: &AppState, row: PostRow) -> ApiResult<Post> {
    render(state, vec![row]).await?.pop().ok_or(ApiError::NotFound)
}

/// Files a refused request stored are removed again.
async fn forget_uploads(state: &AppState, uploads: &Uploads) {
    for (key, _) in uploads.files.values() {
        let _ = state.media.storage.delete(key).await;
    }
}

/// `POST /api/posts`: checks every problem at once, refuses a copy of a post of the last five
/// minutes (unless `skip_duplicate_check`), stores it with its jobs. A refused request's uploaded
/// files are removed.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    query_group: Option<&str>,
    req: PostRequest,
    uploads: &Uploads,
    skip_duplicate_check: bool,
) -> ApiResult<Post> {
    let result = async {
        let checked = check(state, caller, query_group, req, None, uploads).await?;
        let now = now_ms();
        if !skip_duplicate_check
            && let Some(fp) = &checked.new_post.fingerprint
            && let Some(dup) =
                store::find_duplicate(&state.db, caller.account_id, fp, now - DUPLICATE_WINDOW_MS).await?
        {
            return Err(ApiError::Duplicate(state.encode(Kind::Post, dup)));
        }
        let id = save_new(state, &checked.new_post, now).await?;
        tracing::info!(
            post_id = id,
            targets = checked.new_post.targets.len(),
            status = checked.new_post.status.as_str(),
            "post created"
        );
        let row = store::get(&state.db, caller.account_id, None, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        render_one(state, row).await
    }
    .await;
    if result.is_err() {
        forget_uploads(state, uploads).await;
    }
    result
}

/// `PATCH /api/posts/:id`: a draft, or a post not yet publishing, edited (see `post::editable`).
pub async fn update(
    state: &AppState,
    caller: &Caller,
    public_id: &str,
    req: PostRequest,
    uploads: &Uploads,
) -> ApiResult<Post> {
    let result = async {
        let row = find(state, caller, public_id).await?;
        if !post::editable(row.status, row.scheduled_at_ms, now_ms()) {
            return Err(ApiError::Unprocessable(format!(
                "This post is {} and can no longer be edited; delete it or create a new one",
                row.status.as_str()
            )));
        }
        let (post_id, stored_status) = (row.id, row.status);
        let existing = existing(state, row).await?;
        let checked = check(state, caller, None, req, Some(&existing), uploads).await?;
        if !save_edit(state, post_id, stored_status, &checked.new_post, now_ms()).await? {
            return Err(ApiError::Unprocessable(
                "This post changed while it was being edited (it may be publishing now); fetch it and try again".into(),
            ));
        }
        tracing::info!(post_id, "post updated");
        let row = find(state, caller, public_id).await?;
        render_one(state, row).await
    }
    .await;
    if result.is_err() {
        forget_uploads(state, uploads).await;
    }
    result
}

/// `POST /api/posts/:id/publish`: a draft released, to publish now or at its schedule.
pub async fn release(state: &AppState, caller: &Caller, public_id: &str) -> ApiResult<Post> {
    let row = find(state, caller, public_id).await?;
    let now = now_ms();
    let fetching_media = store::media(&state.db, &[row.id])
        .await?
        .iter()
        .any(|m| m.status == MediaStatus::Pending);
    let status = post::status_after_release(row.scheduled_at_ms, fetching_media, now);
    if !release_draft(state, caller.account_id, row.id, status, now).await? {
        return Err(ApiError::Unprocessable(format!(
            "Only drafts can be published; this post is {}",
            row.status.as_str()
        )));
    }
    tracing::info!(post_id = row.id, "draft published");
    let row = find(state, caller, public_id).await?;
    render_one(state, row).await
}

/// Refuses deleting on platforms that do not let apps delete posts, naming them.
fn refuse_undeletable(platforms: impl Iterator<Item = Platform>) -> ApiResult<()> {
    let mut refused: Vec<&str> = platforms
        .filter(|p| !crate::platforms::can_delete(*p))
        .map(post::platform_label)
        .collect();
    refused.dedup();
    if refused.is_empty() {
        return Ok(());
    }
    Err(ApiError::Validation(
        refused
            .into_iter()
            .map(|p| format!("{p} does not let apps delete posts; delete it in the {p} app"))
            .collect(),
    ))
}

/// `DELETE /api/posts/:id`: the post and its pending jobs go; with `on_platform`, what it
/// published is deleted on the platforms too (all of them must allow it).
pub async fn delete(state: &AppState, caller: &Caller, public_id: &str, on_platform: bool) -> ApiResult<()> {
    let row = find(state, caller, public_id).await?;
    let plans = if on_platform {
        let plans: Vec<Unpublish> = store::unpublish_plan(&state.db, caller.account_id, row.id)
            .await?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        refuse_undeletable(plans.iter().map(|u| u.platform))?;
        plans
    } else {
        Vec::new()
    };
    if !remove(state, caller.account_id, row.id, &plans, now_ms()).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(post_id = row.id, "post deleted");
    Ok(())
}

/// Which published chains `POST /api/posts/:id/delete_on_platform` deletes: all, or those of one
/// result, one profile or one platform.
pub struct Selection {
    pub post_profile_id: Option<String>,
    pub profile_id: Option<String>,
    pub network: Option<Platform>,
}

/// Deletes the selected published chains on their platforms, keeping the record. Returns each
/// chain's root result id and platform.
pub async fn delete_on_platform(
    state: &AppState,
    caller: &Caller,
    public_id: &str,
    sel: Selection,
) -> ApiResult<Vec<(String, Platform)>> {
    let row = find(state, caller, public_id).await?;
    // An undecodable id selects nothing (-1 is no row's id).
    let post_profile = sel
        .post_profile_id
        .as_deref()
        .map(|pp| state.ids.decode(Kind::PostProfile, pp).unwrap_or(-1));
    let profile = sel
        .profile_id
        .as_deref()
        .map(|p| state.ids.decode(Kind::Profile, p).unwrap_or(-1));
    let selected: Vec<(i64, Unpublish)> = store::unpublish_plan(&state.db, caller.account_id, row.id)
        .await?
        .into_iter()
        .filter(|(root_result, u)| {
            post_profile.is_none_or(|pp| pp == *root_result)
                && profile.is_none_or(|p| p == u.profile_id)
                && sel.network.is_none_or(|n| n == u.platform)
        })
        .collect();
    if selected.is_empty() {
        return Err(ApiError::Unprocessable(
            "Nothing published matches; only published platforms can be deleted".into(),
        ));
    }
    refuse_undeletable(selected.iter().map(|(_, u)| u.platform))?;
    let plans: Vec<Unpublish> = selected.iter().map(|(_, u)| u.clone()).collect();
    unpublish(state, &plans, now_ms()).await?;
    Ok(selected
        .into_iter()
        .map(|(root_result, u)| (state.encode(Kind::PostProfile, root_result), u.platform))
        .collect())
}
