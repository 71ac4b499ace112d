//! The caller's sessions: `GET /sessions`, `DELETE /sessions/current`,
//! `DELETE /sessions/{id}`. Signing in is `sign_in.rs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Authenticated, ClientInfo};
use crate::http::AppState;

/// One of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// When it began.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When it was last used (to the minute).
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: UnixTime,
    /// When it ends if unused.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
    /// Client address at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// Lists the caller's sessions.
#[utoipa::path(get, path = "/sessions", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SessionList),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = state
        .accounts
        .live_sessions(&auth.account.id, auth.now)
        .await?
        .into_iter()
        .map(|live| SessionView {
            current: live.session.id == auth.credential.id,
            expires_at: live.ends_at,
            id: live.session.id.0,
            created_at: live.session.created_at,
            last_seen_at: live.session.last_seen_at,
            ip: live.session.ip,
            user_agent: live.session.user_agent,
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// Signs out: ends the session making the request.
#[utoipa::path(delete, path = "/sessions/current", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn delete_current_session(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .end_session(&auth.account.id, &auth.credential.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes one of the caller's sessions.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session of yours", body = ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .revoke_session(&auth.account.id, &id, &client, auth.now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
