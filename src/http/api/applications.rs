//! The applications a person let sign them in by OpenID Connect (SPEC §12):
//! `GET /me/applications` and `DELETE /me/applications/{client_id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiCaller, Authenticated, ClientInfo};
use crate::http::AppState;

/// An application the caller consented to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Application {
    /// Its `client_id`.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub granted_at: UnixTime,
}

/// The caller's applications.
#[derive(Debug, Serialize, ToSchema)]
pub struct Applications {
    /// By name.
    pub applications: Vec<Application>,
}

/// The applications the caller consented to.
#[utoipa::path(get, path = "/me/applications", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Applications),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn list_applications(
    State(state): State<AppState>,
    auth: ApiCaller,
) -> Result<Json<Applications>, ApiError> {
    let consents = state.oidc.consents(&auth.account.id).await?;
    Ok(Json(Applications {
        applications: consents
            .into_iter()
            .map(|c| Application {
                client_id: c.client_id,
                name: c.name,
                scope: c.scope,
                granted_at: c.granted_at,
            })
            .collect(),
    }))
}

/// Withdraws the caller's consent to an application: it asks again next time, and the
/// access tokens it holds for the caller end at once.
#[utoipa::path(delete, path = "/me/applications/{client_id}", tag = "me",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The application")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 404, description = "`not_found`: no consent to that application",
         body = ErrorBody)))]
pub async fn revoke_application(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let revoked = state
        .oidc
        .revoke_consent(&auth.account.id, &client_id, &client, auth.now)
        .await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
