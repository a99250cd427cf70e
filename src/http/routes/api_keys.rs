//! `/api/api_keys`: list, create and delete the account's API keys (full-access keys only).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use crate::clock::{iso8601, now_ms};
use crate::crypto;
use crate::db::{api_keys, profile_groups};
use crate::domain::access::Caller;
use crate::domain::field::Field;
use crate::domain::profile_group::GroupName;
use crate::error::{ApiError, ApiResult};
use crate::http::body::{PathId, Payload};
use crate::http::openapi::{BadRequestBody, ErrorBody, ValidationErrorBody};
use crate::http::routes::profile_groups::DeletedResponse;
use crate::ids::Kind;
use crate::state::AppState;

/// An API key as the API shows it. The key itself (`token`) only in the answer that creates it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The one group a scoped key may use; `null` for a full-access key.
    pub profile_group_id: Option<String>,
    /// Always false: this server has no sandbox keys.
    pub sandbox: bool,
    /// The key, shown once when it is created; store it, it cannot be read again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKey>,
}

// The create body, documented and parsed by this one type (`Field`s, so a wrong type is named).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApiKeyBody {
    /// 1 to 255 characters, not blank, no control characters.
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Field<String>,
    /// Limit the key to this profile group; without it the key has full access.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub profile_group_id: Field<String>,
}

fn full_access(caller: &Caller) -> ApiResult<()> {
    if caller.can_manage_groups() {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

fn to_api(state: &AppState, row: api_keys::ApiKeyRow) -> ApiKey {
    ApiKey {
        id: state.encode(Kind::ApiKey, row.id),
        name: row.name,
        profile_group_id: row.profile_group_id.map(|g| state.encode(Kind::ProfileGroup, g)),
        sandbox: false,
        token: None,
        created_at: iso8601(row.created_at_ms),
    }
}

/// List the account's API keys that still work (full-access keys only).
#[utoipa::path(get, path = "/api/api_keys", tag = "API keys", operation_id = "list_api_keys",
    responses(
        (status = 200, body = ApiKeyList, description = "The account's working keys, oldest first"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 422, body = ValidationErrorBody, description = "A group-scoped key"),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ApiKeyList>> {
    full_access(&caller)?;
    let rows = api_keys::list_active(&state.db, caller.account_id).await?;
    let data = rows.into_iter().map(|r| to_api(&state, r)).collect();
    Ok(Json(ApiKeyList { data }))
}

/// Create an API key, full-access or limited to one profile group (full-access keys only).
/// The answer holds the key (`token`), shown this once.
#[utoipa::path(post, path = "/api/api_keys", tag = "API keys", operation_id = "create_api_key",
    request_body(content = CreateApiKeyBody, content_type = "application/json"),
    responses(
        (status = 201, body = ApiKey, description = "Created; `token` is the key"),
        (status = 400, body = BadRequestBody, description = "Malformed body"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Unknown profile_group_id"),
        (status = 422, body = ValidationErrorBody, description = "Invalid name, or a group-scoped key"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Payload(body): Payload<CreateApiKeyBody>,
) -> ApiResult<(StatusCode, Json<ApiKey>)> {
    full_access(&caller)?;
    let name = match &body.name {
        Field::Missing | Field::Null => GroupName::parse(None),
        Field::Value(s) => GroupName::parse(Some(s)),
        Field::Invalid(_) => Err(vec!["Name must be a string".to_string()]),
    }
    .map_err(ApiError::Validation)?;
    let group = match &body.profile_group_id {
        Field::Missing | Field::Null => None,
        Field::Value(s) if s.is_empty() => None,
        Field::Value(s) => {
            let id = state.decode(Kind::ProfileGroup, s)?;
            if !profile_groups::exists(&state.db, caller.account_id, id).await? {
                return Err(ApiError::NotFound);
            }
            Some(id)
        }
        Field::Invalid(_) => return Err(ApiError::Validation(vec!["profile_group_id must be a string".into()])),
    };
    let key = crypto::new_api_key();
    let now = now_ms();
    let id = api_keys::insert(
        &state.db,
        caller.account_id,
        group,
        name.as_str(),
        &key.hash,
        &crypto::display_prefix(&key.plaintext),
        now,
    )
    .await?;
    tracing::info!(api_key_id = id, scoped = group.is_some(), "API key created");
    let created = ApiKey {
        id: state.encode(Kind::ApiKey, id),
        name: name.as_str().to_string(),
        profile_group_id: group.map(|g| state.encode(Kind::ProfileGroup, g)),
        sandbox: false,
        token: Some(key.plaintext),
        created_at: iso8601(now),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Delete (revoke) an API key at once, on every replica (full-access keys only). A key may
/// delete itself: the answer still arrives, and its next request is refused.
#[utoipa::path(delete, path = "/api/api_keys/{id}", tag = "API keys", operation_id = "delete_api_key",
    params(("id" = String, Path, description = "API key id")),
    responses(
        (status = 200, body = DeletedResponse, description = "Deleted"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Not found"),
        (status = 422, body = ValidationErrorBody, description = "A group-scoped key"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<DeletedResponse>> {
    full_access(&caller)?;
    let id = state.decode(Kind::ApiKey, &id)?;
    if !api_keys::revoke_in_account(&state.db, caller.account_id, id, now_ms()).await? {
        return Err(ApiError::NotFound);
    }
    if id == caller.api_key_id {
        tracing::warn!(api_key_id = id, "API key deleted itself; its next request is refused");
    } else {
        tracing::info!(api_key_id = id, "API key deleted");
    }
    Ok(Json(DeletedResponse { deleted: true }))
}
