//! Bearer API-key authentication, as an extractor: handlers that take a `Caller` are protected.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::crypto;
use crate::db::api_keys;
use crate::domain::access::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest header value we bother hashing; real keys are 46 characters.
const MAX_KEY_LEN: usize = 256;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthorized)?;
        if key.len() > MAX_KEY_LEN {
            return Err(ApiError::Unauthorized);
        }
        let caller = api_keys::authenticate(&state.db, &crypto::hash_secret(key))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        tracing::Span::current().record("account_id", caller.account_id);
        Ok(caller)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn parses_bearer() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
