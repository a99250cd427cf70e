//! `/api/profiles`: list, get, delete, placements.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::clock::iso8601;
use crate::credentials::{Column, ProfileKey};
use crate::db::{profile_groups, profiles};
use crate::domain::access::Caller;
use crate::domain::platform::Platform;
use crate::error::{ApiError, ApiResult};
use crate::http::body::PathId;
use crate::http::openapi::ErrorBody;
use crate::ids::Kind;
use crate::jobs::publish::PublishPost;
use crate::platforms;
use crate::state::AppState;

/// A connected social account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub id: String,
    pub name: String,
    /// `active`, `expired` (reconnect needed) or `inactive` (access revoked).
    #[schema(example = "active")]
    pub status: String,
    pub platform: Platform,
    pub profile_group_id: String,
    /// When the connection stops working without the user reconnecting (null: no fixed expiry).
    pub expires_at: Option<String>,
    pub post_count: i64,
    pub avatar_url: Option<String>,
    pub username: Option<String>,
    /// The account's id on the platform.
    pub platform_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileList {
    pub data: Vec<Profile>,
}

/// A Facebook Page or LinkedIn organisation the profile can publish to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Placement {
    pub id: String,
    pub name: String,
    pub avatar_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlacementList {
    pub data: Vec<Placement>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessResponse {
    pub success: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this profile group's profiles.
    pub profile_group_id: Option<String>,
}

fn to_api(state: &AppState, row: profiles::ProfileRow) -> Profile {
    Profile {
        id: state.encode(Kind::Profile, row.id),
        name: row.name,
        status: row.status.as_str().to_string(),
        platform: row.platform,
        profile_group_id: state.encode(Kind::ProfileGroup, row.profile_group_id),
        expires_at: row.expires_at_ms.map(iso8601),
        post_count: row.post_count,
        avatar_url: row.avatar_url,
        username: row.username,
        platform_id: row.external_id,
    }
}

/// The group a request is limited to: the `profile_group_id` parameter (which must be visible
/// to the key), else a scoped key's group, else none (the whole account).
async fn group_scope(state: &AppState, caller: &Caller, param: Option<&str>) -> ApiResult<Option<i64>> {
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

async fn find(state: &AppState, caller: &Caller, public_id: &str) -> ApiResult<profiles::ProfileRow> {
    let id = state.decode(Kind::Profile, public_id)?;
    profiles::get(&state.db, caller.account_id, caller.group_filter(), id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// List connected profiles.
#[utoipa::path(get, path = "/api/profiles", tag = "Profiles", operation_id = "list_profiles", params(ListParams),
    responses(
        (status = 200, body = ProfileList, description = "The profiles, oldest first"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Unknown profile_group_id"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<ProfileList>> {
    let group = group_scope(&state, &caller, params.profile_group_id.as_deref()).await?;
    let rows = profiles::list(&state.db, caller.account_id, group).await?;
    Ok(Json(ProfileList {
        data: rows.into_iter().map(|r| to_api(&state, r)).collect(),
    }))
}

/// Get one profile.
#[utoipa::path(get, path = "/api/profiles/{id}", tag = "Profiles", operation_id = "get_profile",
    params(("id" = String, Path, description = "Profile id")),
    responses(
        (status = 200, body = Profile, description = "The profile"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Not found"),
    ))]
pub async fn get(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<Profile>> {
    let row = find(&state, &caller, &id).await?;
    Ok(Json(to_api(&state, row)))
}

/// Disconnect a profile: revokes access at the platform where it offers that, then deletes it.
#[utoipa::path(delete, path = "/api/profiles/{id}", tag = "Profiles", operation_id = "delete_profile",
    params(("id" = String, Path, description = "Profile id")),
    responses(
        (status = 200, body = SuccessResponse, description = "Disconnected and deleted"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Not found"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<SuccessResponse>> {
    let row = find(&state, &caller, &id).await?;
    revoke_best_effort(&state, row.id).await;
    let now = crate::clock::now_ms();
    let mut tx = state.db.begin().await?;
    if !profiles::delete(&mut tx, caller.account_id, row.id, now).await? {
        return Err(ApiError::NotFound);
    }
    PublishPost::cancel_profile(&mut tx, row.id, now).await?;
    tx.commit().await?;
    tracing::info!(profile_id = row.id, platform = %row.platform, "profile deleted");
    Ok(Json(SuccessResponse { success: true }))
}

/// Tells the platform to forget the app's access. A failure is logged, never fatal: the user
/// asked to disconnect, and the local credentials are deleted either way.
async fn revoke_best_effort(state: &AppState, profile_id: i64) {
    let Ok(Some(row)) = profiles::credentials(&state.db, profile_id).await else {
        return;
    };
    let platform = row.platform;
    let (Some(cfg), Some(enc)) = (state.providers.get(platform), row.access_token_enc.as_ref()) else {
        return;
    };
    let key = ProfileKey {
        account_id: row.account_id,
        platform,
        external_id: &row.external_id,
    };
    let Ok(token) = key.open(&state.sealer, Column::AccessToken, enc) else {
        tracing::warn!(profile_id, "cannot decrypt token to revoke it");
        return;
    };
    if let Err(e) = platforms::revoke(&state.http, cfg, &token).await {
        tracing::warn!(profile_id, %platform, error = %e.message, "revocation at the platform failed");
    }
}

/// List the placements (Facebook Pages, LinkedIn organisations) of a profile.
#[utoipa::path(get, path = "/api/profiles/{id}/placements", tag = "Profiles", operation_id = "list_placements",
    params(("id" = String, Path, description = "Profile id")),
    responses(
        (status = 200, body = PlacementList, description = "Pages or organisations; empty for other platforms"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Not found"),
    ))]
pub async fn placements(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<PlacementList>> {
    let row = find(&state, &caller, &id).await?;
    // Chats a Telegram bot was just added to show at once; a failure leaves what is stored.
    if crate::platforms::placements_appear(row.platform)
        && let Err(e) = crate::jobs::placements::sync(&state, row.id).await
    {
        tracing::warn!(profile_id = row.id, error = %e, "could not read new placements");
    }
    let data = profiles::placements(&state.db, row.id)
        .await?
        .into_iter()
        .map(|p| Placement {
            id: p.external_id,
            name: p.name,
            avatar_url: p.avatar_url,
        })
        .collect();
    Ok(Json(PlacementList { data }))
}
