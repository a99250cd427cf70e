//! `Idempotency-Key` on write requests: a replay within 24 hours returns the original status and
//! body without doing the work again; the same key with a different request is a 422; the same
//! key while the first request still runs is a 409; failed requests are not stored, so the key
//! stays usable. Keys are scoped to the account and live in the database, so every replica sees
//! them. Installed as a route layer: unknown routes (404) and methods (405) never reach it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::db::idempotency;
use crate::error::ApiError;
use crate::http::auth;
use crate::state::AppState;

const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;
/// How long a stored outcome is replayed.
pub const TTL_MS: i64 = 24 * 3600 * 1000;
/// A request holding a key longer than this (beyond the 30 s request timeout) is presumed dead.
const LOCK_MS: i64 = 60 * 1000;
/// Responses larger than this are not worth storing (ours are a few hundred bytes).
const MAX_STORED_BODY: usize = 1024 * 1024;

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match run(&state, req, next).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn run(state: &AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    let is_write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !is_write || !req.uri().path().starts_with("/api/") || !req.headers().contains_key(HEADER) {
        return Ok(next.run(req).await);
    }
    // Unauthenticated requests go through untouched: the handler answers 401 (before any
    // complaint about the key itself).
    let Some(caller) = auth::caller_from_headers(state, req.headers()).await? else {
        return Ok(next.run(req).await);
    };
    let key = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into()))?
        .to_string();
    let (parts, body) = req.into_parts();
    let limit = crate::http::body::body_limit(
        parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let fingerprint = fingerprint(parts.method.as_str(), parts.uri.path(), parts.uri.query(), &bytes);

    let now = now_ms();
    let db = &state.db;
    if let Some(existing) = idempotency::claim(
        db,
        caller.account_id,
        &key,
        &fingerprint,
        now,
        now + LOCK_MS,
        now + TTL_MS,
    )
    .await?
    {
        let stale = existing.expires_at_ms <= now || (existing.state == "running" && existing.locked_until_ms <= now);
        if stale {
            if !idempotency::take_over(db, &existing, &fingerprint, now, now + LOCK_MS, now + TTL_MS).await? {
                return Err(conflict());
            }
        } else if existing.fingerprint != fingerprint {
            return Err(ApiError::Unprocessable(
                "This Idempotency-Key was already used with a different request".into(),
            ));
        } else if existing.state != "done" {
            return Err(conflict());
        } else {
            return Ok(replay(&existing));
        }
    }

    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if !resp.status().is_success() {
        idempotency::release(db, caller.account_id, &key).await?;
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let body = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
        Ok(b) => b,
        Err(e) => {
            idempotency::release(db, caller.account_id, &key).await?;
            return Err(ApiError::Internal(anyhow::anyhow!("response body: {e}")));
        }
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    idempotency::store(db, caller.account_id, &key, parts.status.as_u16(), content_type, &body).await?;
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// What makes two requests "the same": method, path (trailing slash aside), query and body.
pub fn fingerprint(method: &str, path: &str, query: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method);
    h.update([0]);
    h.update(path.trim_end_matches('/'));
    h.update([0]);
    h.update(query.unwrap_or(""));
    h.update([0]);
    h.update(body);
    h.finalize().to_vec()
}

fn conflict() -> ApiError {
    ApiError::Conflict("A request with this Idempotency-Key is still in progress".into())
}

fn replay(row: &idempotency::IdempotencyRow) -> Response {
    let status = row
        .status_code
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
        .unwrap_or(axum::http::StatusCode::OK);
    let mut resp = (status, row.response_body.clone().unwrap_or_default()).into_response();
    let h = resp.headers_mut();
    if let Some(ct) = row.content_type.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
