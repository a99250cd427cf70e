//! Browser-facing routes of the connection flow (HTML and redirects, not part of the JSON API).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;

use crate::connect::{self, CallbackParams, Finish};
use crate::http::pages;
use crate::state::AppState;

/// `GET /partner_connect/:token`: the page with the "Continue to <Platform>" button.
pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match connect::invitation(&state, &token).await {
        Ok(inv) => pages::connect(&inv),
        Err(e) => pages::error(&e),
    }
}

/// `POST /partner_connect/:token`: the button; redirects to the platform's consent screen.
pub async fn start(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match connect::begin(&state, &token).await {
        Ok(url) => pages::redirect(&url),
        Err(e) => pages::error(&e),
    }
}

/// `GET /oauth/callback/:platform`: where the platform sends the user back.
pub async fn callback(
    State(state): State<AppState>,
    Path(platform): Path<String>,
    query: Result<Query<CallbackParams>, QueryRejection>,
) -> Response {
    let params = query.map(|Query(q)| q).unwrap_or_default();
    match connect::finish(&state, &platform, params).await {
        Finish::Redirect(url) => pages::redirect(&url),
        Finish::Page(e) => pages::error(&e),
        Finish::Connected(platform) => pages::connected(platform),
    }
}
