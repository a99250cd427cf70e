//! Bearer API-key authentication, as an extractor: handlers that take a `Caller` are protected.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
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
        let caller = caller_from_headers(state, &parts.headers)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        tracing::Span::current().record("account_id", caller.account_id);
        if let Some(limiter) = &state.limiter
            && let Err(not_until) = limiter.check_key(&caller.api_key_id)
        {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            return Err(ApiError::RateLimited {
                retry_after_secs: wait.as_secs() + 1,
            });
        }
        Ok(caller)
    }
}

/// Resolves the bearer key of a request, if it is a valid, unrevoked key. No cache: a revoked
/// key fails on the next request, on every replica.
pub async fn caller_from_headers(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let Some(key) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .filter(|k| k.len() <= MAX_KEY_LEN)
    else {
        return Ok(None);
    };
    Ok(api_keys::authenticate(&state.db, &crypto::hash_secret(key)).await?)
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
