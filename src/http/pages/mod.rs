//! Server-rendered pages (askama templates embedded in the binary) and their static
//! assets. Pages make no external request of any kind.

pub mod setup;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::http::error::ApiError;
use crate::http::AppState;

/// The stylesheet, embedded.
const STYLESHEET: &str = include_str!("../../../assets/deadbolt.css");

/// Every page route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/deadbolt.css", get(stylesheet))
        .route("/setup/{token}", get(setup::show).post(setup::submit))
}

async fn stylesheet() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// Renders a template, or an internal error if rendering fails.
pub fn render(template: &impl askama::Template) -> Result<Response, ApiError> {
    template
        .render()
        .map(|html| Html(html).into_response())
        .map_err(|e| ApiError::Internal(format!("template: {e}")))
}
