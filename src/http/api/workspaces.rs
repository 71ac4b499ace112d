//! Workspaces (SPEC §4): creating and listing them, and two-factor enforcement with a grace
//! period. The members, invitations and roles are `members.rs`; the rules (membership
//! first, `404` for strangers; `403 two_factor_required` with the deadline for a blocked
//! member) are [`crate::workspaces`]'s.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::events::{EventsQuery, EventsResponse, MAX_EVENTS_PAGE};
use crate::http::extract::{ApiCaller, AppJson, ClientInfo};
use crate::http::AppState;
use crate::workspaces::enforcement::Security;
use crate::workspaces::Membership;

/// A new workspace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceRequest {
    /// Display name (1–100 characters).
    pub name: String,
}

/// A workspace as one member sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// Workspace id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The caller's role: `owner`, `admin` or `member`.
    pub role: &'static str,
    /// The caller's access: `ok`, `grace` or `blocked`.
    pub access: &'static str,
    /// When grace ends (or ended).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<UnixTime>,
}

/// The caller's workspaces.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceList {
    /// By name.
    pub workspaces: Vec<WorkspaceView>,
}

/// Enforcement settings to apply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityRequest {
    /// `off`, `all` or `admins`.
    pub enforcement: String,
    /// 0, 3, 7, 14 or 30.
    pub grace_period_days: u32,
    /// `any` (an authenticator app or a security key) or `phishing_resistant` (security
    /// keys and passkeys only); absent keeps the one set.
    pub required_factor: Option<String>,
}

/// A workspace's two-factor enforcement and how far the team is.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityView {
    /// `off`, `all` or `admins`.
    pub enforcement: &'static str,
    /// Days of grace.
    pub grace_period_days: u32,
    /// When enforcement was turned on.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub enforced_since: Option<UnixTime>,
    /// `enforced_since + grace`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<UnixTime>,
    /// `any` or `phishing_resistant`: which second factors meet the enforcement.
    pub required_factor: &'static str,
    /// Members with a second factor that meets it (any, or a security key or passkey).
    pub enrolled_count: usize,
    /// Members.
    pub member_count: usize,
}

fn view(membership: &Membership) -> WorkspaceView {
    WorkspaceView {
        id: membership.workspace.id.clone(),
        name: membership.workspace.name.clone(),
        role: membership.role.as_str(),
        access: membership.access.as_str(),
        deadline: membership.access.deadline(),
    }
}

fn security_view(security: &Security) -> SecurityView {
    let workspace = &security.workspace;
    SecurityView {
        enforcement: workspace.enforcement.as_str(),
        grace_period_days: workspace.grace_period_days,
        enforced_since: workspace.enforced_since,
        deadline: workspace.deadline(),
        required_factor: workspace.required_factor.as_str(),
        enrolled_count: security.enrolled_count,
        member_count: security.member_count,
    }
}

/// Creates a workspace; the caller is its owner.
#[utoipa::path(post, path = "/workspaces", tag = "workspaces",
    security(("bearer" = [])),
    request_body = CreateWorkspaceRequest,
    responses((status = 201, body = WorkspaceView),
              (status = 422, description = "`invalid_body`", body = ErrorBody)))]
pub async fn create_workspace(
    State(state): State<AppState>,
    auth: ApiCaller,
    AppJson(request): AppJson<CreateWorkspaceRequest>,
) -> Result<(StatusCode, Json<WorkspaceView>), ApiError> {
    let created = state
        .workspaces
        .create(auth.caller(), &request.name)
        .await?;
    Ok((StatusCode::CREATED, Json(view(&created))))
}

/// The caller's workspaces, each with the caller's role and access.
#[utoipa::path(get, path = "/workspaces", tag = "workspaces",
    security(("bearer" = [])),
    responses((status = 200, body = WorkspaceList)))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    auth: ApiCaller,
) -> Result<Json<WorkspaceList>, ApiError> {
    let workspaces = state
        .workspaces
        .list(auth.caller())
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(Json(WorkspaceList { workspaces }))
}

/// One workspace.
#[utoipa::path(get, path = "/workspaces/{id}", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, body = WorkspaceView),
              (status = 403, description = "`two_factor_required`, with `deadline`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get_workspace(
    State(state): State<AppState>,
    auth: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let membership = state.workspaces.get(auth.caller(), &id).await?;
    Ok(Json(view(&membership)))
}

/// The workspace's enforcement and enrolment count (owners and admins).
#[utoipa::path(get, path = "/workspaces/{id}/security", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, body = SecurityView),
              (status = 403, description = "`forbidden`, `two_factor_required`", body = ErrorBody)))]
pub async fn get_security(
    State(state): State<AppState>,
    auth: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<SecurityView>, ApiError> {
    let security = state.workspaces.security(auth.caller(), &id).await?;
    Ok(Json(security_view(&security)))
}

/// Sets the enforcement (owners and admins, who need two-factor themselves to turn it on).
#[utoipa::path(put, path = "/workspaces/{id}/security", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    request_body = SecurityRequest,
    responses((status = 200, body = SecurityView),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 409, description = "`enable_two_factor_first`", body = ErrorBody),
              (status = 422, description = "`invalid_grace_period`, `invalid_body`", body = ErrorBody)))]
pub async fn put_security(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    Path(id): Path<String>,
    AppJson(request): AppJson<SecurityRequest>,
) -> Result<Json<SecurityView>, ApiError> {
    let security = state
        .workspaces
        .set_enforcement(
            auth.caller(),
            &client,
            &id,
            &request.enforcement,
            request.grace_period_days,
            request.required_factor.as_deref(),
        )
        .await?;
    Ok(Json(security_view(&security)))
}

/// The workspace's security events, newest first (owners and admins).
#[utoipa::path(get, path = "/workspaces/{id}/events", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), EventsQuery),
    responses((status = 200, body = EventsResponse),
              (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_workspace_events(
    State(state): State<AppState>,
    auth: ApiCaller,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventsResponse>, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_EVENTS_PAGE);
    let events = state
        .workspaces
        .events(auth.caller(), &id, query.before, limit)
        .await?;
    Ok(Json(EventsResponse::page(events, limit)))
}
