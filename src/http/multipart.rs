//! Rails-style `multipart/form-data` bodies of the Posts API (what the SDKs send when a post
//! has local files): text parts become the same typed input as JSON, file parts are streamed
//! into media storage as they arrive (type from the bytes, size limits) and referenced from the
//! input by an internal marker that only this request can use.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use futures::TryStreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::http::body::{MAX_UPLOAD_BYTES, Payload};
use crate::media;
use crate::state::AppState;

/// Prefix of the marker that stands for an uploaded file inside the decoded input.
pub const UPLOAD_MARKER: &str = "upload:";

pub use crate::posts::Uploads;

/// A body that is JSON, form-encoded, or multipart with files.
pub struct PostBody<T> {
    pub input: T,
    pub uploads: Uploads,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PostBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let boundary = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"))
            .map(|ct| {
                multer::parse_boundary(ct).map_err(|_| ApiError::BadRequest("multipart body without a boundary".into()))
            })
            .transpose()?;
        let Some(boundary) = boundary else {
            let Payload(input) = Payload::<T>::from_request(req, state).await?;
            return Ok(PostBody {
                input,
                uploads: Uploads::default(),
            });
        };
        let stream = req.into_body().into_data_stream();
        let constraints =
            multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(MAX_UPLOAD_BYTES as u64));
        let mut form = multer::Multipart::with_constraints(stream, boundary, constraints);
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut uploads = Uploads::default();
        let result = async {
            while let Some(field) = form.next_field().await.map_err(multipart_error)? {
                let name = field.name().unwrap_or("").to_string();
                if field.file_name().is_some() {
                    let key = media::new_key();
                    let what = field.file_name().unwrap_or("file").to_string();
                    let stream = field.map_err(std::io::Error::other);
                    let stored = media::ingest(&state.media.storage, &key, &state.media.limits, Box::pin(stream))
                        .await
                        .map_err(|e| ApiError::Validation(vec![format!("{name} ({what}): {e}")]))?;
                    let marker = format!("{UPLOAD_MARKER}{key}");
                    uploads.files.insert(marker.clone(), (key, stored));
                    pairs.push((name, marker));
                } else {
                    let text = field.text().await.map_err(multipart_error)?;
                    pairs.push((name, text));
                }
            }
            Ok::<_, ApiError>(())
        }
        .await;
        if let Err(e) = result {
            // Nothing of a refused request stays in storage.
            for (key, _) in uploads.files.values() {
                let _ = state.media.storage.delete(key).await;
            }
            return Err(e);
        }
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let mut value = serde_qs::Config::new()
            .use_form_encoding(true)
            .deserialize_str::<serde_json::Value>(&encoded)
            .map_err(|e| ApiError::BadRequest(format!("Malformed multipart fields: {e}")))?;
        // No fields at all is an empty input, as an empty JSON body is.
        if value.is_null() {
            value = serde_json::Value::Object(Default::default());
        }
        json_string_fields(&mut value)?;
        let input =
            serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))?;
        Ok(PostBody { input, uploads })
    }
}

/// Fields that may come as one part holding JSON instead of bracketed parts: what the official
/// MCP server sends beside file parts (`thread` as a JSON array, `platforms` as a JSON object).
const JSON_STRING_FIELDS: [&str; 4] = ["thread", "platforms", "media", "profiles"];

/// Replaces each such field that is a JSON text by the JSON it holds.
fn json_string_fields(value: &mut serde_json::Value) -> Result<(), ApiError> {
    let Some(obj) = value.as_object_mut() else {
        return Ok(());
    };
    for name in JSON_STRING_FIELDS {
        let Some(serde_json::Value::String(text)) = obj.get(name) else {
            continue;
        };
        let trimmed = text.trim_start();
        if !(trimmed.starts_with('[') || trimmed.starts_with('{')) {
            continue;
        }
        let parsed: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            ApiError::Validation(vec![format!(
                "{name} is neither bracketed fields nor valid JSON: {}",
                e.to_string().split(" at line ").next().unwrap_or_default()
            )])
        })?;
        obj.insert(name.to_string(), parsed);
    }
    Ok(())
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(format!("Malformed multipart body: {other}")),
    }
}
