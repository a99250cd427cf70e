//! Request bodies: JSON, or Rails-style form encoding (`profile_group[name]=…`), into one shape.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest multipart body (posts with files). Files stream to storage as they arrive; only
/// an `Idempotency-Key` request is held in memory, to be fingerprinted.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// The body limit for a request of this content type.
pub fn body_limit(content_type: Option<&str>) -> usize {
    match content_type {
        Some(ct) if ct.to_ascii_lowercase().starts_with("multipart/form-data") => MAX_UPLOAD_BYTES,
        _ => MAX_BODY_BYTES,
    }
}

/// A request body parsed into `T` from JSON or form encoding. An empty body or `null` counts as `{}`,
/// because several SDKs send bodiless POSTs with a JSON content type.
pub struct Payload<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Payload<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|e| {
                if is_length_limit(&e) {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest("Could not read the request body".into())
                }
            })?;
        let value = parse_body(content_type.as_deref(), &bytes)?;
        serde_json::from_value(value).map(Payload).map_err(|e| {
            // A well-formed body with a field the operation does not know is a validation
            // problem (422, named), like every other; only unreadable bodies are 400.
            let msg = e.to_string();
            match msg.strip_prefix("unknown field `").and_then(|r| r.split_once('`')) {
                Some((field, expected)) => {
                    let known = expected
                        .replace(", expected one of ", "")
                        .replace(", expected ", "")
                        .replace('`', "");
                    ApiError::Validation(vec![format!("{field} is not a known field (known: {known})")])
                }
                None => ApiError::BadRequest(format!("Invalid request body: {e}")),
            }
        })
    }
}

fn parse_body(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let value = match content_type {
        Some("application/x-www-form-urlencoded") => serde_qs::Config::new()
            .use_form_encoding(true)
            .deserialize_bytes::<Value>(bytes)
            .map_err(|e| ApiError::BadRequest(format!("Malformed form body: {e}")))?,
        None | Some("application/json") | Some("text/json") | Some("text/plain") => {
            serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?
        }
        Some(ct) if ct.ends_with("+json") => {
            serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?
        }
        Some(_) => return Err(ApiError::UnsupportedMediaType),
    };
    // `null` is the JSON spelling of "no body" (some clients serialise an absent body so).
    if value.is_null() {
        return Ok(Value::Object(Default::default()));
    }
    if !value.is_object() {
        return Err(ApiError::BadRequest("The request body must be a JSON object".into()));
    }
    Ok(value)
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// A boolean flag: JSON `true`/`false`, or the text form encoding sends (`"true"`, `"false"`,
/// `"1"`, `"0"`); absent or null is `false`. Anything else is `None`: not a flag.
pub fn as_flag(v: Option<&Value>) -> Option<bool> {
    match v {
        None | Some(Value::Null) => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The `:id` path segment. Any problem decoding the path is a 404, like an unknown id.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| PathId(id))
            .map_err(|_| ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_form_and_empty() {
        let v = parse_body(Some("application/json"), br#"{"profile_group":{"name":"A"}}"#).unwrap();
        assert_eq!(v["profile_group"]["name"], "A");
        let v = parse_body(
            Some("application/x-www-form-urlencoded"),
            b"profile_group%5Bname%5D=A+B",
        )
        .unwrap();
        assert_eq!(v["profile_group"]["name"], "A B");
        let v = parse_body(Some("application/x-www-form-urlencoded"), b"profile_group[name]=C&x=1").unwrap();
        assert_eq!(v["profile_group"]["name"], "C");
        assert_eq!(
            parse_body(Some("application/json"), b"").unwrap(),
            serde_json::json!({})
        );
        assert_eq!(parse_body(None, b"  ").unwrap(), serde_json::json!({}));
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(matches!(
            parse_body(Some("application/json"), b"{"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_body(Some("application/json"), b"[1]"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_body(Some("application/xml"), b"<a/>"),
            Err(ApiError::UnsupportedMediaType)
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            parse_body(None, deep.as_bytes()),
            Err(ApiError::BadRequest(_))
        ));
    }
}
