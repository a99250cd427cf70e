//! `GET /media/{key}?exp=…&sig=…`: the stored bytes of one medium, for platforms that fetch
//! media from a URL (Instagram, Threads, Facebook photos, TikTok photos). No API key: the
//! signature, which expires, is the authorisation, and it names exactly one object.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::db::posts as store;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct Signature {
    exp: Option<i64>,
    sig: Option<String>,
}

pub async fn serve(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<Signature>,
) -> ApiResult<Response> {
    let now = crate::clock::now_ms() / 1000;
    let (Some(exp), Some(sig)) = (q.exp, q.sig.as_deref()) else {
        return Err(ApiError::NotFound);
    };
    // A bad or expired signature looks exactly like a missing object.
    if !state.media.verify(&key, exp, sig, now) {
        return Err(ApiError::NotFound);
    }
    let content_type = store::media_by_key(&state.db, &key).await?.ok_or(ApiError::NotFound)?;
    let (size, stream) = state.media.storage.get_stream(&key).await.map_err(|e| match e {
        crate::media::StorageError::NotFound(_) | crate::media::StorageError::InvalidKey(_) => ApiError::NotFound,
        other => ApiError::Internal(anyhow::anyhow!("media store: {other}")),
    })?;
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(resp)
}
