//! The one error type of the HTTP API, and how each case maps to a status and a JSON body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing, unknown or revoked API key.
    #[error("invalid API key")]
    Unauthorized,
    /// Unknown id, another account's, or outside the key's scope: indistinguishable on purpose.
    #[error("not found")]
    NotFound,
    /// The key is valid but may not do this (a group-scoped key managing groups).
    #[error("permission denied")]
    Forbidden,
    /// A single business-rule failure: `{"error": msg, "errors": [msg]}`.
    #[error("{0}")]
    Unprocessable(String),
    /// Field validation failures: `{"error": first, "errors": [...]}`.
    #[error("validation failed: {0:?}")]
    Validation(Vec<String>),
    /// Unparseable request: `{"status":400,"error":"Bad Request","message": msg}`.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A conflicting request is in progress (e.g. the same Idempotency-Key).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An identical post was created moments ago (`duplicate_post_id` is its public id).
    #[error("duplicate of {0}")]
    Duplicate(String),
    /// Too many requests for this API key; retry after the given seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A call the official clients make for a feature this server does not have (yet).
    #[error("{0} not available")]
    NotAvailable(&'static str),
    /// The platform a request needed could not be reached or failed (nothing was stored).
    #[error("platform unavailable: {0}")]
    Upstream(String),
    /// Anything unexpected. Details are logged, never sent to the client.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Forbidden | ApiError::Unprocessable(_) | ApiError::Validation(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) | ApiError::Duplicate(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotAvailable(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        match self {
            ApiError::Unauthorized => json!({"error": "Invalid API key"}),
            ApiError::NotFound => json!({"error": "Not found"}),
            // Every 422 reads the same: `error` the (first) problem, `errors` all of them.
            ApiError::Forbidden => {
                let msg = "Your API key has no such permission";
                json!({"error": msg, "errors": [msg]})
            }
            ApiError::Unprocessable(msg) => json!({"error": msg, "errors": [msg]}),
            // Both keys: Python/Node/Go read `error`, the MCP server reads `errors`.
            // `error` is the first problem (as the README and the SDKs' messages read it),
            // `errors` all of them.
            ApiError::Validation(errors) => {
                json!({"error": errors.first().cloned().unwrap_or_default(), "errors": errors})
            }
            ApiError::BadRequest(msg) => {
                json!({"status": 400, "error": "Bad Request", "message": msg})
            }
            ApiError::Conflict(msg) => json!({"error": msg}),
            ApiError::Duplicate(id) => json!({"error": "Duplicate post", "duplicate_post_id": id}),
            ApiError::RateLimited { retry_after_secs } => json!({
                "error": format!("Rate limit exceeded for this API key; retry in {retry_after_secs} s")
            }),
            ApiError::MethodNotAllowed => json!({"error": "Method not allowed"}),
            ApiError::PayloadTooLarge => {
                json!({"error": "Request body too large (limit is 1 MiB)"})
            }
            ApiError::UnsupportedMediaType => json!({
                "error": "Unsupported content type: send application/json or application/x-www-form-urlencoded"
            }),
            ApiError::NotAvailable(feature) => json!({
                "error": format!("{feature}: not available on this server yet (postproxy does not implement this feature; its README lists what it has)")
            }),
            ApiError::Upstream(msg) => json!({"error": msg}),
            ApiError::Internal(_) => json!({"error": "Internal server error"}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = %format!("{e:#}"), "request failed");
        }
        let mut resp = (self.status(), Json(self.body())).into_response();
        match self {
            ApiError::Unauthorized => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after_secs } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
