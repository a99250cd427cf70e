//! The HTTP surface: routes, middleware, and the JSON shape of every non-route response.

pub mod auth;
pub mod body;
pub mod idempotency;
pub mod multipart;
pub mod openapi;
pub mod pages;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::Layer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;
use routes::{api_keys, connect, health, media, posts, profile_groups, profiles, unavailable};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The complete application: routes, middleware, and trailing-slash tolerance.
pub type App = NormalizePath<Router>;

/// The router with its OpenAPI document (before middleware).
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(profile_groups::list, profile_groups::create))
        .routes(routes!(profile_groups::get, profile_groups::delete))
        .routes(routes!(profile_groups::initialize_connection))
        .routes(routes!(profiles::list))
        .routes(routes!(profiles::get, profiles::delete))
        .routes(routes!(profiles::placements))
        .routes(routes!(posts::list, posts::create))
        .routes(routes!(posts::get, posts::update, posts::delete))
        .routes(routes!(posts::publish))
        .routes(routes!(posts::delete_on_platform))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::delete))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .split_for_parts();
    let mut doc = doc;
    utoipa::Modify::modify(&openapi::CommonResponses, &mut doc);
    (router, doc)
}

pub fn app(state: AppState) -> App {
    let (router, doc) = api_router();
    let doc = Arc::new(doc);
    let router = router
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        // The browser side of the connection flow: HTML and redirects, not JSON API.
        .route("/partner_connect/{token}", get(connect::show).post(connect::start))
        .route("/oauth/callback/{platform}", get(connect::callback))
        // Stored media for platforms that pull it, behind signed, expiring URLs.
        .route("/media/{*key}", get(media::serve))
        // Only on matched routes and methods: a 404 or 405 never touches an idempotency key.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        // `/api/posts/stats` would otherwise be `GET /api/posts/:id` with the id "stats".
        .route("/api/posts/stats", axum::routing::any(unavailable::fallback))
        .fallback(unavailable::fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(
            // Outermost first.
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION]))
                .layer(axum::middleware::map_request(drop_unusable_request_id))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                )),
        );
    // Outside the router, so `/api/profile_groups/` matches `/api/profile_groups`.
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

/// A client's `X-Request-Id` is kept (so it can correlate logs) only if it is a plausible id:
/// up to 128 characters of letters, digits, `-`, `_`, `.`, `:`. Anything else is replaced by a
/// fresh UUID, so it cannot bloat responses or forge log lines.
async fn drop_unusable_request_id(mut req: Request<Body>) -> Request<Body> {
    let ok = req.headers().get(REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    });
    if !ok {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// One span per request. Only the path is logged: queries and some paths carry one-time tokens.
fn request_span(req: &Request<Body>) -> tracing::Span {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %redact_path(req.uri().path()),
        request_id = %request_id,
        account_id = tracing::field::Empty,
    )
}

/// Paths whose last segment is a secret token are logged without it.
fn redact_path(path: &str) -> &str {
    const SECRET_PREFIXES: [&str; 1] = ["/partner_connect/"];
    for prefix in SECRET_PREFIXES {
        if path.starts_with(prefix) {
            return prefix;
        }
    }
    path
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::Internal(anyhow::anyhow!("panic")).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_token_paths() {
        assert_eq!(super::redact_path("/partner_connect/abcdef"), "/partner_connect/");
        assert_eq!(super::redact_path("/api/profile_groups"), "/api/profile_groups");
    }
}
