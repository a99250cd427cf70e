//! `/api/profile_groups`: list, get, create, delete, initialize_connection.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now_ms;
use crate::db::{invitations, profile_groups, profiles};
use crate::domain::access::Caller;
use crate::domain::connection::{self, INVITATION_TTL_MS};
use crate::domain::field::{Field, Flag, Text};
use crate::domain::platform::Platform;
use crate::domain::profile_group::GroupName;
use crate::error::{ApiError, ApiResult};
use crate::http::body::{PathId, Payload};
use crate::http::openapi::{BadRequestBody, ErrorBody, ValidationErrorBody};
use crate::ids::Kind;
use crate::platforms;
use crate::state::AppState;
use crate::{connect, crypto};

/// A profile group as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileGroup {
    /// Opaque profile group id.
    #[schema(example = "k3x9q2mzp")]
    pub id: String,
    pub name: String,
    /// Number of profiles connected in this group.
    pub profiles_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileGroupList {
    pub data: Vec<ProfileGroup>,
}

/// The documented body is `{"profile_group": {"name": …}}`; the Go, Ruby and PHP SDKs send
/// `{"name": …}` at the top level (form encoding, `profile_group[name]=…`, is accepted too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CreateProfileGroupBody {
    // One type documents and parses the body; each name is a `Field`, so a wrong type is named
    // rather than failing the variant.
    Documented {
        #[schema(value_type = ProfileGroupFields)]
        profile_group: Field<ProfileGroupFields>,
        /// A `profile_group: null` body names the group at the top level.
        #[serde(default)]
        #[schema(ignore)]
        name: Field<String>,
    },
    TopLevel {
        /// 1 to 255 characters, not blank, no control characters.
        #[serde(default)]
        #[schema(
            value_type = String,
            required = true,
            min_length = 1,
            max_length = 255,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )]
        name: Field<String>,
    },
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileGroupFields {
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
}

// The initialize_connection body, documented and parsed by this one type: each field keeps
// going when its value is wrong (`Field`), so the checks in `connection::validate` name it.
// (`//`, not `///`: a doc comment would become the schema's description.)
#[derive(Debug, Deserialize, ToSchema)]
pub struct InitializeConnectionBody {
    #[serde(default)]
    #[schema(value_type = crate::domain::platform::Platform, required = true)]
    pub platform: Field<Text>,
    /// Absolute http(s) URL the user returns to when the connection completes. Required for
    /// OAuth platforms unless `force_no_redirect`; Bluesky and Telegram connect without one.
    #[serde(default)]
    #[schema(
        value_type = String,
        max_length = 2048,
        example = "https://myapp.com/oauth/callback",
        pattern = r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$"
    )]
    pub redirect_url: Field<String>,
    /// Reconnect a platform that is already connected in this group (updates that profile).
    /// Form-encoded bodies may send `"true"`/`"false"`/`"1"`/`"0"`.
    #[serde(default)]
    #[schema(default = false, value_type = Option<RefreshFlag>)]
    pub refresh_connection: Field<Flag>,
    /// No `redirect_url`: the flow ends on a page of this server that tells the person the
    /// account is connected (or why not) and that the window can be closed. What the official
    /// MCP server sends.
    #[serde(default)]
    #[schema(default = false, value_type = Option<RefreshFlag>)]
    pub force_no_redirect: Field<Flag>,
    /// Telegram: the bot's token from @BotFather (`123456789:AA…`). Connects within the call.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub bot_token: Field<String>,
    /// Bluesky: the account's handle (`name.bsky.social`), DID or email. Connects within the call.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub identifier: Field<String>,
    /// Bluesky: an app password (`xxxx-xxxx-xxxx-xxxx`, Settings → Privacy and security → App
    /// passwords), kept encrypted to sign in again when the session runs out.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub app_password: Field<String>,
}

impl InitializeConnectionBody {
    /// A credential field by its name in the platform's spec.
    fn credential(&self, name: &str) -> Option<&Field<String>> {
        match name {
            "bot_token" => Some(&self.bot_token),
            "identifier" => Some(&self.identifier),
            "app_password" => Some(&self.app_password),
            _ => None,
        }
    }
}

/// A flag's value: absent or null is false; a wrong value is named.
fn flag(field: Field<Flag>, name: &str) -> ApiResult<bool> {
    match field {
        Field::Missing | Field::Null => Ok(false),
        Field::Value(Flag(b)) => Ok(b),
        Field::Invalid(_) => Err(ApiError::Unprocessable(format!("{name} must be true or false"))),
    }
}

/// A boolean, or its text form as form encoding sends it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RefreshFlag {
    Bool(bool),
    Text(FlagText),
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum FlagText {
    #[serde(rename = "true")]
    True,
    #[serde(rename = "false")]
    False,
    #[serde(rename = "1")]
    One,
    #[serde(rename = "0")]
    Zero,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InitializeConnectionResponse {
    /// OAuth platforms: send the user here to connect the account. Valid for one hour, once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub success: bool,
    /// Bluesky and Telegram: the profile, connected within this call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ConnectedProfile>,
    /// What to do before the first post (Telegram: make the bot an administrator of a chat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

/// A profile connected with credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectedProfile {
    /// The profile's id.
    pub id: String,
    #[schema(value_type = crate::domain::platform::Platform)]
    pub network: String,
    pub name: String,
    /// The account's handle on the platform (a Bluesky handle, a bot's username).
    pub external_username: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedResponse {
    pub deleted: bool,
}

fn to_api(state: &AppState, row: profile_groups::GroupRow) -> ProfileGroup {
    ProfileGroup {
        id: state.encode(Kind::ProfileGroup, row.id),
        name: row.name,
        profiles_count: row.profiles_count,
    }
}

/// List the profile groups this API key can see.
#[utoipa::path(get, path = "/api/profile_groups", tag = "Profile groups", operation_id = "list_profile_groups",
    responses(
        (status = 200, body = ProfileGroupList, description = "The groups the key can see, oldest first"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ProfileGroupList>> {
    let rows = profile_groups::list(&state.db, caller.account_id, caller.group_filter()).await?;
    let data = rows.into_iter().map(|r| to_api(&state, r)).collect();
    Ok(Json(ProfileGroupList { data }))
}

/// Get one profile group.
#[utoipa::path(get, path = "/api/profile_groups/{id}", tag = "Profile groups", operation_id = "get_profile_group",
    params(("id" = String, Path, description = "Profile group id")),
    responses(
        (status = 200, body = ProfileGroup, description = "The group"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Not found"),
    ))]
pub async fn get(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<ProfileGroup>> {
    let id = state.decode(Kind::ProfileGroup, &id)?;
    let row = profile_groups::get(&state.db, caller.account_id, caller.group_filter(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(to_api(&state, row)))
}

/// Create a profile group (full-access keys only).
#[utoipa::path(post, path = "/api/profile_groups", tag = "Profile groups", operation_id = "create_profile_group",
    request_body(content = CreateProfileGroupBody, content_type = "application/json"),
    responses(
        (status = 201, body = ProfileGroup, description = "Created"),
        (status = 400, body = BadRequestBody, description = "Malformed body"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 413, body = ErrorBody, description = "Body over 1 MiB"),
        (status = 415, body = ErrorBody, description = "Unsupported content type"),
        (status = 422, body = ValidationErrorBody, description = "Invalid name, or a group-scoped key"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Payload(body): Payload<CreateProfileGroupBody>,
) -> ApiResult<(StatusCode, Json<ProfileGroup>)> {
    if !caller.can_manage_groups() {
        return Err(ApiError::Forbidden);
    }
    let name = match body {
        CreateProfileGroupBody::Documented {
            profile_group: Field::Value(fields),
            ..
        } => fields.name,
        CreateProfileGroupBody::Documented {
            profile_group: Field::Missing | Field::Null,
            name,
        }
        | CreateProfileGroupBody::TopLevel { name } => name,
        CreateProfileGroupBody::Documented {
            profile_group: Field::Invalid(_),
            ..
        } => return Err(ApiError::Validation(vec!["profile_group must be an object".into()])),
    };
    let name = match name {
        Field::Missing | Field::Null => GroupName::parse(None),
        Field::Value(s) => GroupName::parse(Some(&s)),
        Field::Invalid(_) => Err(vec!["Name must be a string".to_string()]),
    }
    .map_err(ApiError::Validation)?;
    let id = profile_groups::create(&state.db, caller.account_id, name.as_str(), now_ms()).await?;
    tracing::info!(profile_group_id = id, "profile group created");
    let group = ProfileGroup {
        id: state.encode(Kind::ProfileGroup, id),
        name: name.as_str().to_string(),
        profiles_count: 0,
    };
    Ok((StatusCode::CREATED, Json(group)))
}

/// Delete a profile group with all its profiles (full-access keys only).
#[utoipa::path(delete, path = "/api/profile_groups/{id}", tag = "Profile groups", operation_id = "delete_profile_group",
    params(("id" = String, Path, description = "Profile group id")),
    responses(
        (status = 200, body = DeletedResponse, description = "Deleted, with its profiles"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Not found"),
        (status = 422, body = ValidationErrorBody, description = "A group-scoped key"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<DeletedResponse>> {
    if !caller.can_manage_groups() {
        return Err(ApiError::Forbidden);
    }
    let id = state.decode(Kind::ProfileGroup, &id)?;
    if !profile_groups::delete(&state.db, caller.account_id, id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(profile_group_id = id, "profile group deleted");
    Ok(Json(DeletedResponse { deleted: true }))
}

/// Start connecting a social account: returns the URL to send the user to.
#[utoipa::path(post, path = "/api/profile_groups/{id}/initialize_connection", tag = "Profile groups", operation_id = "initialize_connection",
    params(("id" = String, Path, description = "Profile group id")),
    request_body(content = InitializeConnectionBody, content_type = "application/json"),
    responses(
        (status = 200, body = InitializeConnectionResponse, description = "The connection link (OAuth platforms), or the profile connected with the credentials given (Bluesky, Telegram)"),
        (status = 400, body = BadRequestBody, description = "Malformed body"),
        (status = 401, body = ErrorBody, description = "Invalid API key"),
        (status = 404, body = ErrorBody, description = "Not found"),
        (status = 413, body = ErrorBody, description = "Body over 1 MiB"),
        (status = 415, body = ErrorBody, description = "Unsupported content type"),
        (status = 422, body = ValidationErrorBody,
         description = "Missing redirect_url (without force_no_redirect), Invalid redirect_url, Missing platform, Unsupported platform (with the platforms this server has), Platform not configured, Platform already connected, refresh_connection / force_no_redirect not a boolean, a missing credential (Bluesky's identifier or app_password, Telegram's bot_token), or credentials the platform refused (a wrong password, an unknown handle)"),
        (status = 502, body = ErrorBody, description = "The platform could not be reached to check the credentials (nothing was stored)"),
    ))]
pub async fn initialize_connection(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    Payload(body): Payload<InitializeConnectionBody>,
) -> ApiResult<Json<InitializeConnectionResponse>> {
    let group_id = state.decode(Kind::ProfileGroup, &id)?;
    if profile_groups::get(&state.db, caller.account_id, caller.group_filter(), group_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    // Text of any scalar; anything else reads as no platform at all.
    let platform = match &body.platform {
        Field::Value(Text(t)) => Some(t.clone()),
        _ => None,
    };
    // A non-string redirect_url can never be valid; keep it distinct from "missing".
    let redirect_url = match &body.redirect_url {
        Field::Missing | Field::Null => None,
        Field::Value(s) => Some(s.clone()),
        Field::Invalid(_) => Some("\u{0}".to_string()),
    };
    let refresh = flag(body.refresh_connection.clone(), "refresh_connection")?;
    let no_redirect = flag(body.force_no_redirect.clone(), "force_no_redirect")?;
    // A credential of the wrong type is refused whatever the platform, like the flags.
    for name in ["identifier", "app_password", "bot_token"] {
        if let Some(Field::Invalid(_)) = body.credential(name) {
            return Err(ApiError::Unprocessable(format!("{name} must be a string")));
        }
    }
    // Bluesky and Telegram connect within this call, with the credentials given.
    if let Some((p, spec)) = platform
        .as_deref()
        .and_then(Platform::parse)
        .and_then(|p| platforms::network(p).spec().credentials().map(|c| (p, c)))
    {
        let mut given = Vec::new();
        for field in spec.fields {
            match body.credential(field.name) {
                Some(Field::Value(v)) if !v.trim().is_empty() => given.push((field.name, v.trim().to_string())),
                _ => {
                    return Err(ApiError::Unprocessable(format!(
                        "Missing {}: {}",
                        field.name, field.what
                    )));
                }
            }
        }
        if !refresh && profiles::group_has_platform(&state.db, caller.account_id, group_id, p).await? {
            return Err(ApiError::Unprocessable("Platform already connected".into()));
        }
        let target = connect::SignInTarget {
            account_id: caller.account_id,
            profile_group_id: group_id,
            platform: p,
            refresh_connection: refresh,
        };
        let outbound = state.media.fetcher.outbound();
        let given = platforms::Given {
            fields: &given,
            outbound: &outbound,
        };
        let signed = connect::sign_in(&state, target, &given).await?;
        return Ok(Json(InitializeConnectionResponse {
            url: None,
            success: true,
            profile: Some(ConnectedProfile {
                id: state.encode(Kind::Profile, signed.profile_id),
                network: p.as_str().to_string(),
                name: signed.name,
                external_username: signed.username,
            }),
            next_step: signed.next_step,
        }));
    }
    let request = connection::validate(platform.as_deref(), redirect_url.as_deref(), refresh, no_redirect)
        .map_err(ApiError::Unprocessable)?;
    if state.providers.get(request.platform).is_none() {
        return Err(ApiError::Unprocessable("Platform not configured".into()));
    }
    if !request.refresh_connection
        && profiles::group_has_platform(&state.db, caller.account_id, group_id, request.platform).await?
    {
        return Err(ApiError::Unprocessable("Platform already connected".into()));
    }
    let token = crypto::new_url_token();
    let now = now_ms();
    // `None`: the group was deleted between the check above and now.
    invitations::insert(
        &state.db,
        &invitations::NewInvitation {
            account_id: caller.account_id,
            profile_group_id: group_id,
            request: &request,
            token_hash: &token.hash,
            expires_at_ms: now + INVITATION_TTL_MS,
        },
        now,
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    tracing::info!(profile_group_id = group_id, platform = %request.platform, "connection invitation created");
    Ok(Json(InitializeConnectionResponse {
        url: Some(format!("{}/partner_connect/{}", state.public_url, token.plaintext)),
        success: true,
        profile: None,
        next_step: None,
    }))
}
