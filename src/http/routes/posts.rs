//! `/api/posts`: list, get, create, update, publish a draft, delete, delete on platforms.

use axum::Json;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::clock::now_ms;
use crate::db::posts as store;
use crate::domain::access::Caller;
use crate::domain::platform::Platform;
use crate::domain::post::{self, PostRequest, PostStatus};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{PathId, Payload};
use crate::http::multipart::PostBody;
use crate::http::openapi::{BadRequestBody, ErrorBody, ValidationErrorBody};
use crate::ids::Kind;
use crate::posts::{self, DUPLICATE_WINDOW_MS, Post, PostList};
use crate::state::AppState;

const MAX_PER_PAGE: i64 = 100;
/// Far beyond any real listing; keeps `page * per_page` an ordinary number.
const MAX_PAGE: i64 = 1_000_000;

/// Query of the list. `platforms` may be repeated, sent as `platforms[]`, or comma-separated;
/// `scheduled_at` is accepted as an alias of `scheduled_after` (two SDKs send that name).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Zero-based page number.
    #[param(value_type = Option<u32>, maximum = 1000000)]
    pub page: Option<String>,
    /// Posts per page, 1 to 100 (default 10).
    #[param(value_type = Option<u8>, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
    /// A post status, or `published` / `failed` (posts with a platform in that state).
    #[param(inline, value_type = Option<StatusFilter>)]
    pub status: Option<String>,
    /// Only posts to these platforms: repeated, as `platforms[]`, or comma-separated.
    #[param(
        pattern = r"^$|^(facebook|instagram|tiktok|linkedin|youtube|twitter|threads)(,(facebook|instagram|tiktok|linkedin|youtube|twitter|threads))*$"
    )]
    pub platforms: Option<String>,
    /// Only posts scheduled after this ISO 8601 instant (`scheduled_at` is an alias).
    #[param(value_type = Option<String>, format = DateTime)]
    pub scheduled_after: Option<String>,
    pub profile_group_id: Option<String>,
}

/// What `status` filters on: a post status, or a platform result state.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Draft,
    Pending,
    Scheduled,
    Processing,
    Processed,
    MediaProcessingFailed,
    Published,
    Failed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContextParams {
    pub profile_group_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Also delete it from every platform where it was published.
    pub delete_on_platform: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedResponse {
    pub deleted: bool,
}

/// Body of `delete_on_platform`: at most one selector; none = every published platform.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteOnPlatformRequest {
    pub post_profile_id: Option<String>,
    pub profile_id: Option<String>,
    pub network: Option<Platform>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteOnPlatformResponse {
    pub success: bool,
    pub deleting: Vec<Deleting>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleting {
    pub post_profile_id: String,
    pub platform: Platform,
}

/// Every value of a query key, whether sent as `k=a&k=b`, `k[]=a` or `k=a,b`.
fn query_values(raw: Option<&str>, key: &str) -> Vec<String> {
    let Some(raw) = raw else { return Vec::new() };
    url::form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k == key || k == &format!("{key}[]"))
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

fn query_value(raw: Option<&str>, key: &str) -> Option<String> {
    let raw = raw?;
    url::form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// List posts, newest first (thread children appear inside their post).
#[utoipa::path(get, path = "/api/posts", tag = "Posts", operation_id = "list_posts", params(ListParams),
    responses(
        (status = 200, body = PostList, description = "One page of posts"),
        (status = 404, body = ErrorBody, description = "Unknown profile_group_id"),
        (status = 422, body = ValidationErrorBody, description = "Bad page, per_page, status, platforms or scheduled_after"),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> ApiResult<Json<PostList>> {
    let raw = raw.as_deref();
    let mut errors = Vec::new();
    let int = |key: &str, default: i64, errors: &mut Vec<String>| match query_value(raw, key) {
        None => default,
        Some(v) if v.is_empty() => default,
        Some(v) => v.parse::<i64>().unwrap_or_else(|_| {
            errors.push(format!("{key} must be a whole number"));
            default
        }),
    };
    let page = int("page", 0, &mut errors);
    let per_page = int("per_page", 10, &mut errors);
    if !(0..=MAX_PAGE).contains(&page) {
        errors.push(format!("page must be between 0 and {MAX_PAGE}"));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        errors.push(format!("per_page must be between 1 and {MAX_PER_PAGE}"));
    }
    let status = query_value(raw, "status").filter(|s| !s.is_empty());
    if let Some(s) = &status
        && serde_json::from_value::<StatusFilter>(serde_json::Value::String(s.clone())).is_err()
    {
        errors.push(format!("status {s:?} is not a post status"));
    }
    let platforms = query_values(raw, "platforms");
    for p in &platforms {
        if Platform::parse(p).is_none() {
            errors.push(format!("platforms: {p:?} is not a platform"));
        }
    }
    let after = query_value(raw, "scheduled_after").or_else(|| query_value(raw, "scheduled_at"));
    let scheduled_after_ms = after.as_deref().and_then(|s| {
        let ms = post::parse_instant(s);
        if ms.is_none() {
            errors.push(format!("scheduled_after {s:?} is not an ISO 8601 date and time"));
        }
        ms
    });
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let group = posts::group_scope(&state, &caller, query_value(raw, "profile_group_id").as_deref()).await?;
    let filter = store::ListFilter {
        group,
        status,
        platforms: (!platforms.is_empty()).then(|| platforms.join(",")),
        scheduled_after_ms,
    };
    let (total, rows) = store::list(
        &state.db,
        caller.account_id,
        &filter,
        page.saturating_mul(per_page),
        per_page,
    )
    .await?;
    Ok(Json(PostList {
        total,
        page,
        per_page,
        data: posts::render(&state, rows).await?,
    }))
}

async fn find(state: &AppState, caller: &Caller, public_id: &str) -> ApiResult<store::PostRow> {
    let id = state.decode(Kind::Post, public_id)?;
    store::get(&state.db, caller.account_id, caller.group_filter(), id)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn render_one(state: &AppState, row: store::PostRow) -> ApiResult<Post> {
    posts::render(state, vec![row]).await?.pop().ok_or(ApiError::NotFound)
}

/// Get one post with its thread.
#[utoipa::path(get, path = "/api/posts/{id}", tag = "Posts", operation_id = "get_post",
    params(("id" = String, Path, description = "Post id")),
    responses(
        (status = 200, body = Post, description = "The post"),
        (status = 404, body = ErrorBody, description = "Not found"),
    ))]
pub async fn get(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<Post>> {
    let row = find(&state, &caller, &id).await?;
    Ok(Json(render_one(&state, row).await?))
}

/// Create a post: publish now, schedule (`post.scheduled_at`) or save as a draft (`post.draft`).
#[utoipa::path(post, path = "/api/posts", tag = "Posts", operation_id = "create_post", params(ContextParams,
        ("X-Skip-Duplicate-Check" = Option<bool>, Header, description = "`true` creates the post even if an identical one was created in the last 5 minutes")),
    request_body(content = PostRequest, content_type = "application/json"),
    responses(
        (status = 200, body = Post, description = "Created (200, not 201: the official API collection asserts 200, and every SDK accepts any 2xx)"),
        (status = 400, body = BadRequestBody, description = "Malformed body, or neither post nor profiles given"),
        (status = 404, body = ErrorBody, description = "Unknown profile_group_id"),
        (status = 409, body = crate::http::openapi::DuplicateBody, description = "An identical post was created in the last 5 minutes"),
        (status = 422, body = ValidationErrorBody, description = "Every validation problem, listed"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(ctx): Query<ContextParams>,
    body: PostBody<PostRequest>,
) -> ApiResult<Response> {
    let PostBody { input: req, uploads } = body;
    let result = create_checked(
        &state,
        &caller,
        &headers,
        ctx.profile_group_id.as_deref(),
        req,
        &uploads,
    )
    .await;
    if !matches!(&result, Ok(r) if r.status() == StatusCode::OK) {
        forget_uploads(&state, &uploads).await;
    }
    result
}

/// Files a refused request stored are removed again.
async fn forget_uploads(state: &AppState, uploads: &crate::http::multipart::Uploads) {
    for (key, _) in uploads.files.values() {
        let _ = state.media.storage.delete(key).await;
    }
}

async fn create_checked(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    query_group: Option<&str>,
    req: PostRequest,
    uploads: &crate::http::multipart::Uploads,
) -> ApiResult<Response> {
    let state = state.clone();
    let caller = *caller;
    let checked = posts::check(&state, &caller, query_group, req, None, uploads).await?;
    let now = now_ms();
    let skip = headers
        .get("x-skip-duplicate-check")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    if !skip
        && let Some(fp) = &checked.new_post.fingerprint
        && let Some(dup) = store::find_duplicate(&state.db, caller.account_id, fp, now - DUPLICATE_WINDOW_MS).await?
    {
        return Ok((
            StatusCode::CONFLICT,
            Json(serde_json::json!({"error": "Duplicate post", "duplicate_post_id": state.encode(Kind::Post, dup)})),
        )
            .into_response());
    }
    let id = posts::save_new(&state, &checked.new_post, now).await?;
    tracing::info!(post_id = id, targets = checked.new_post.targets.len(), status = %checked.new_post.status, "post created");
    let row = store::get(&state.db, caller.account_id, None, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::OK, Json(render_one(&state, row).await?)).into_response())
}

/// Update a draft or a scheduled post: `post.*` fields and `platforms` are merged; `profiles`,
/// `media` and `thread` replace what was there.
#[utoipa::path(patch, path = "/api/posts/{id}", tag = "Posts", operation_id = "update_post",
    params(("id" = String, Path, description = "Post id")),
    request_body(content = Option<PostRequest>, content_type = "application/json"),
    responses(
        (status = 200, body = Post, description = "Updated"),
        (status = 404, body = ErrorBody, description = "Not found"),
        (status = 422, body = ValidationErrorBody, description = "Validation failed, or the post is already being published"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: PostBody<PostRequest>,
) -> ApiResult<Json<Post>> {
    let PostBody { input: req, uploads } = body;
    let result = update_checked(&state, &caller, &id, req, &uploads).await;
    if result.is_err() {
        forget_uploads(&state, &uploads).await;
    }
    result
}

async fn update_checked(
    state: &AppState,
    caller: &Caller,
    id: &str,
    req: PostRequest,
    uploads: &crate::http::multipart::Uploads,
) -> ApiResult<Json<Post>> {
    let (state, caller) = (state.clone(), *caller);
    let row = find(&state, &caller, id).await?;
    let editable = matches!(row.status.as_str(), "draft" | "scheduled" | "pending")
        && row
            .scheduled_at_ms
            .is_none_or(|t| row.status == "draft" || t > now_ms() + 60_000);
    if !editable {
        return Err(ApiError::Unprocessable(format!(
            "This post is {} and can no longer be edited; delete it or create a new one",
            row.status
        )));
    }
    let status = row.status.clone();
    let post_id = row.id;
    let existing = posts::existing(&state, row).await?;
    let checked = posts::check(&state, &caller, None, req, Some(&existing), uploads).await?;
    if !posts::save_edit(&state, post_id, &status, &checked.new_post, now_ms()).await? {
        return Err(ApiError::Unprocessable(
            "This post changed while it was being edited (it may be publishing now); fetch it and try again".into(),
        ));
    }
    tracing::info!(post_id, "post updated");
    let row = find(&state, &caller, id).await?;
    Ok(Json(render_one(&state, row).await?))
}

/// Publish a draft (now, or at its `scheduled_at`).
#[utoipa::path(post, path = "/api/posts/{id}/publish", tag = "Posts", operation_id = "publish_post",
    params(("id" = String, Path, description = "Post id")),
    responses(
        (status = 200, body = Post, description = "Publishing (or scheduled)"),
        (status = 404, body = ErrorBody, description = "Not found"),
        (status = 422, body = ValidationErrorBody, description = "The post is not a draft"),
    ))]
pub async fn publish(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<Post>> {
    let row = find(&state, &caller, &id).await?;
    let now = now_ms();
    let status = match row.scheduled_at_ms {
        Some(t) if t > now => PostStatus::Scheduled,
        _ => PostStatus::Processing,
    };
    let pending_media = store::media(&state.db, &[row.id])
        .await?
        .iter()
        .any(|m| m.status == "pending");
    let status = if pending_media { PostStatus::Pending } else { status };
    if !posts::release_draft(&state, caller.account_id, row.id, status, now).await? {
        return Err(ApiError::Unprocessable(format!(
            "Only drafts can be published; this post is {}",
            row.status
        )));
    }
    tracing::info!(post_id = row.id, "draft published");
    let row = find(&state, &caller, &id).await?;
    Ok(Json(render_one(&state, row).await?))
}

/// Delete a post (with `?delete_on_platform=true`, also from the platforms; see
/// `delete_on_platform` for which allow it).
#[utoipa::path(delete, path = "/api/posts/{id}", tag = "Posts", operation_id = "delete_post",
    params(("id" = String, Path, description = "Post id"), DeleteParams),
    responses(
        (status = 200, body = DeletedResponse, description = "Deleted"),
        (status = 404, body = ErrorBody, description = "Not found"),
        (status = 422, body = ValidationErrorBody, description = "delete_on_platform asked for a platform that does not allow deletion"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    Query(q): Query<DeleteParams>,
) -> ApiResult<Json<DeletedResponse>> {
    let row = find(&state, &caller, &id).await?;
    let on_platform = crate::http::body::as_flag(q.delete_on_platform.map(serde_json::Value::String).as_ref())
        .ok_or_else(|| ApiError::Unprocessable("delete_on_platform must be true or false".into()))?;
    let plans = if on_platform {
        let plans: Vec<store::Unpublish> = store::unpublish_plan(&state.db, caller.account_id, row.id)
            .await?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        refuse_undeletable(plans.iter().map(|u| u.platform.as_str()))?;
        plans
    } else {
        Vec::new()
    };
    if !posts::remove(&state, caller.account_id, row.id, &plans, now_ms()).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(post_id = row.id, "post deleted");
    Ok(Json(DeletedResponse { deleted: true }))
}

/// Delete a published post on its platforms, keeping the record.
#[utoipa::path(post, path = "/api/posts/{id}/delete_on_platform", tag = "Posts", operation_id = "delete_post_on_platform",
    params(("id" = String, Path, description = "Post id")),
    request_body(content = DeleteOnPlatformRequest, content_type = "application/json"),
    responses(
        (status = 200, body = DeleteOnPlatformResponse, description = "Deletion started"),
        (status = 404, body = ErrorBody, description = "Not found"),
        (status = 422, body = ValidationErrorBody, description = "Nothing published to delete, or the platform does not allow deletion"),
    ))]
pub async fn delete_on_platform(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    Payload(req): Payload<DeleteOnPlatformRequest>,
) -> ApiResult<Json<DeleteOnPlatformResponse>> {
    let row = find(&state, &caller, &id).await?;
    let post_profile = req
        .post_profile_id
        .as_deref()
        .map(|pp| state.ids.decode(Kind::PostProfile, pp).unwrap_or(-1));
    let profile = req
        .profile_id
        .as_deref()
        .map(|p| state.ids.decode(Kind::Profile, p).unwrap_or(-1));
    let selected: Vec<(i64, store::Unpublish)> = store::unpublish_plan(&state.db, caller.account_id, row.id)
        .await?
        .into_iter()
        .filter(|(root_result, u)| {
            post_profile.is_none_or(|pp| pp == *root_result)
                && profile.is_none_or(|p| p == u.profile_id)
                && req.network.is_none_or(|n| n.as_str() == u.platform)
        })
        .collect();
    if selected.is_empty() {
        return Err(ApiError::Unprocessable(
            "Nothing published matches; only published platforms can be deleted".into(),
        ));
    }
    refuse_undeletable(selected.iter().map(|(_, u)| u.platform.as_str()))?;
    let plans: Vec<store::Unpublish> = selected.iter().map(|(_, u)| u.clone()).collect();
    posts::unpublish(&state, &plans, now_ms()).await?;
    Ok(Json(DeleteOnPlatformResponse {
        success: true,
        deleting: selected
            .into_iter()
            .map(|(root_result, u)| Deleting {
                post_profile_id: state.encode(Kind::PostProfile, root_result),
                platform: Platform::parse(&u.platform).unwrap_or(Platform::Twitter),
            })
            .collect(),
    }))
}

/// A 422 naming the platforms that offer apps no way to delete a post.
fn refuse_undeletable<'a>(platforms: impl Iterator<Item = &'a str>) -> ApiResult<()> {
    let mut refused: Vec<&str> = platforms
        .filter_map(Platform::parse)
        .filter(|p| !crate::platforms::can_delete(*p))
        .map(crate::domain::post::platform_label)
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
