//! Liveness and readiness probes (no authentication).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "Health", operation_id = "healthz", security(()),
    responses((status = 200, body = HealthStatus, description = "The process is up")))]
pub async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// The process can reach its database.
#[utoipa::path(get, path = "/readyz", tag = "Health", operation_id = "readyz", security(()),
    responses(
        (status = 200, body = HealthStatus, description = "The database answers"),
        (status = 503, body = HealthStatus, description = "The database is unreachable"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthStatus>) {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(HealthStatus { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthStatus { status: "unavailable" }),
            )
        }
    }
}
