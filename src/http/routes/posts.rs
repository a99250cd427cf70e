//! `/api/posts`: list, get, create, update, publish a draft, delete, delete on platforms.

use axum::Json;
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::posts as store;
use crate::domain::access::Caller;
use crate::domain::platform::Platform;
use crate::domain::post::{self, PostRequest};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{PathId, Payload};
use crate::http::multipart::PostBody;
use crate::http::openapi::{BadRequestBody, ErrorBody, ValidationErrorBody};
use crate::posts::{self, Post, PostList};
use crate::state::AppState;

const MAX_PER_PAGE: i64 = 100;
/// Far beyond any real listing; keeps `page * per_page` an ordinary number.
const MAX_PAGE: i64 = 1_000_000;

/// Query of the list, documented and parsed by this one type (`ListQuery::parse`, which reports
/// every problem at once). `platforms` may be repeated, sent as `platforms[]`, or
/// comma-separated; `scheduled_at` is accepted as an alias of `scheduled_after` (two SDKs send
/// that name).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Zero-based page number.
    #[param(value_type = Option<u32>, maximum = 1000000)]
    pub page: i64,
    /// Posts per page, 1 to 100 (default 10).
    #[param(value_type = Option<u8>, minimum = 1, maximum = 100)]
    pub per_page: i64,
    /// A post status, or `published` / `failed` (posts with a platform in that state).
    #[param(inline, value_type = Option<StatusFilter>)]
    pub status: Option<String>,
    /// Only posts to these platforms: repeated, as `platforms[]`, or comma-separated.
    #[param(
        value_type = Option<String>,
        pattern = r"^$|^(facebook|instagram|tiktok|linkedin|youtube|twitter|threads)(,(facebook|instagram|tiktok|linkedin|youtube|twitter|threads))*$"
    )]
    pub platforms: Vec<Platform>,
    /// Only posts scheduled after this ISO 8601 instant (`scheduled_at` is an alias).
    #[param(value_type = Option<String>, format = DateTime)]
    pub scheduled_after: Option<i64>,
    pub profile_group_id: Option<String>,
}

impl ListQuery {
    /// Reads the raw query string; every problem is named at once.
    pub fn parse(raw: Option<&str>) -> Result<ListQuery, Vec<String>> {
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
        let mut platforms = Vec::new();
        for p in query_values(raw, "platforms") {
            match Platform::parse(&p) {
                Some(platform) => platforms.push(platform),
                None => errors.push(format!("platforms: {p:?} is not a platform")),
            }
        }
        let after = query_value(raw, "scheduled_after").or_else(|| query_value(raw, "scheduled_at"));
        let scheduled_after = after.as_deref().and_then(|s| {
            let ms = post::parse_instant(s);
            if ms.is_none() {
                errors.push(format!("scheduled_after {s:?} is not an ISO 8601 date and time"));
            }
            ms
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ListQuery {
            page,
            per_page,
            status,
            platforms,
            scheduled_after,
            profile_group_id: query_value(raw, "profile_group_id"),
        })
    }
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
#[utoipa::path(get, path = "/api/posts", tag = "Posts", operation_id = "list_posts", params(ListQuery),
    responses(
        (status = 200, body = PostList, description = "One page of posts"),
        (status = 404, body = ErrorBody, description = "Unknown profile_group_id"),
        (status = 422, body = ValidationErrorBody, description = "Bad page, per_page, status, platforms or scheduled_after"),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> ApiResult<Json<PostList>> {
    let q = ListQuery::parse(raw.as_deref()).map_err(ApiError::Validation)?;
    let group = posts::group_scope(&state, &caller, q.profile_group_id.as_deref()).await?;
    let platforms: Vec<&str> = q.platforms.iter().map(|p| p.as_str()).collect();
    let filter = store::ListFilter {
        group,
        status: q.status,
        platforms: (!platforms.is_empty()).then(|| platforms.join(",")),
        scheduled_after_ms: q.scheduled_after,
    };
    let (total, rows) = store::list(
        &state.db,
        caller.account_id,
        &filter,
        q.page.saturating_mul(q.per_page),
        q.per_page,
    )
    .await?;
    Ok(Json(PostList {
        total,
        page: q.page,
        per_page: q.per_page,
        data: posts::render(&state, rows).await?,
    }))
}

/// Get one post with its thread.
#[utoipa::path(get, path = "/api/posts/{id}", tag = "Posts", operation_id = "get_post",
    params(("id" = String, Path, description = "Post id")),
    responses(
        (status = 200, body = Post, description = "The post"),
        (status = 404, body = ErrorBody, description = "Not found"),
    ))]
pub async fn get(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<Post>> {
    let row = posts::find(&state, &caller, &id).await?;
    Ok(Json(posts::render_one(&state, row).await?))
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
) -> ApiResult<Json<Post>> {
    let PostBody { input: req, uploads } = body;
    let skip_duplicate_check = headers
        .get("x-skip-duplicate-check")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let group = ctx.profile_group_id.as_deref();
    let post = posts::create(&state, &caller, group, req, &uploads, skip_duplicate_check).await?;
    Ok(Json(post))
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
    Ok(Json(posts::update(&state, &caller, &id, req, &uploads).await?))
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
    Ok(Json(posts::release(&state, &caller, &id).await?))
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
    let on_platform = crate::http::body::as_flag(q.delete_on_platform.map(serde_json::Value::String).as_ref())
        .ok_or_else(|| ApiError::Unprocessable("delete_on_platform must be true or false".into()))?;
    posts::delete(&state, &caller, &id, on_platform).await?;
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
    let selection = posts::Selection {
        post_profile_id: req.post_profile_id,
        profile_id: req.profile_id,
        network: req.network,
    };
    let deleting = posts::delete_on_platform(&state, &caller, &id, selection).await?;
    Ok(Json(DeleteOnPlatformResponse {
        success: true,
        deleting: deleting
            .into_iter()
            .map(|(post_profile_id, platform)| Deleting {
                post_profile_id,
                platform,
            })
            .collect(),
    }))
}
