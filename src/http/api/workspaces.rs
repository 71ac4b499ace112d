//! Workspaces (SPEC §4): members with roles, invitations, and two-factor enforcement with a
//! grace period. The rules (membership first, `404` for strangers; `403
//! two_factor_required` with the deadline for a blocked member) are
//! [`crate::workspaces`]'s.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::events::{EventsQuery, EventsResponse, MAX_EVENTS_PAGE};
use crate::http::extract::{AppJson, Authenticated, ClientInfo};
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
    /// Members with two-factor enabled.
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
    auth: Authenticated,
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
    auth: Authenticated,
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
    auth: Authenticated,
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
    auth: Authenticated,
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
    auth: Authenticated,
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
    auth: Authenticated,
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

/// A member as an owner or admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// Account id.
    pub account_id: String,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: &'static str,
    /// Whether two-factor is enabled.
    pub two_factor_enabled: bool,
    /// `ok`, `grace` or `blocked` under the workspace's enforcement.
    pub access: &'static str,
}

/// The members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// By e-mail.
    pub members: Vec<MemberView>,
}

/// An invitation to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    /// Who to invite.
    pub email: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
}

/// A new invitation; the token is shown once (it goes in the link sent to the person).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCreated {
    /// Invitation id.
    pub id: String,
    /// The single-use token for `POST /invitations/{token}/accept`.
    pub token: String,
    /// When it lapses (seven days).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
}

/// Joined.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationAccepted {
    /// The workspace.
    pub workspace_id: String,
    /// The role granted.
    pub role: &'static str,
}

/// A role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// `owner`, `admin` or `member`.
    pub role: String,
}

/// A member's new role.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleChanged {
    /// The member.
    pub account_id: String,
    /// The role now.
    pub role: &'static str,
}

/// The members and their two-factor status (owners and admins).
#[utoipa::path(get, path = "/workspaces/{id}/members", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, body = MemberList),
              (status = 403, description = "`forbidden`, `two_factor_required`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<MemberList>, ApiError> {
    let members = state
        .workspaces
        .members(auth.caller(), &id)
        .await?
        .into_iter()
        .map(|status| MemberView {
            access: status.access.as_str(),
            account_id: status.member.account_id.0,
            email: status.member.email,
            role: status.member.role.as_str(),
            two_factor_enabled: status.member.has_two_factor,
        })
        .collect();
    Ok(Json(MemberList { members }))
}

/// Invites someone by e-mail (owners and admins; only owners invite owners).
#[utoipa::path(post, path = "/workspaces/{id}/invitations", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    request_body = InvitationRequest,
    responses((status = 201, body = InvitationCreated),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 422, description = "`invalid_email`, `invalid_body`", body = ErrorBody)))]
pub async fn create_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path(id): Path<String>,
    AppJson(request): AppJson<InvitationRequest>,
) -> Result<(StatusCode, Json<InvitationCreated>), ApiError> {
    let created = state
        .workspaces
        .invite(auth.caller(), &client, &id, &request.email, &request.role)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationCreated {
            id: created.invitation.id,
            token: created.token.expose().to_owned(),
            expires_at: created.invitation.expires_at,
        }),
    ))
}

/// Accepts an invitation addressed to the caller's e-mail. While the workspace enforces
/// two-factor for the invited role, the caller must have it first.
#[utoipa::path(post, path = "/invitations/{token}/accept", tag = "workspaces",
    security(("bearer" = [])),
    params(("token" = String, Path, description = "Invitation token")),
    responses((status = 200, body = InvitationAccepted),
              (status = 403, description = "`two_factor_required`, `forbidden` (another e-mail)",
               body = ErrorBody),
              (status = 404, description = "`not_found`: unknown, used or expired", body = ErrorBody)))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path(token): Path<String>,
) -> Result<Json<InvitationAccepted>, ApiError> {
    let accepted = state
        .workspaces
        .accept_invitation(auth.caller(), &client, &token)
        .await?;
    Ok(Json(InvitationAccepted {
        workspace_id: accepted.workspace_id,
        role: accepted.role.as_str(),
    }))
}

/// Changes a member's role (owners and admins; only owners touch owners).
#[utoipa::path(patch, path = "/workspaces/{id}/members/{account_id}", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"),
           ("account_id" = String, Path, description = "Member")),
    request_body = RoleRequest,
    responses((status = 200, body = RoleChanged),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody),
              (status = 409, description = "`last_owner`", body = ErrorBody)))]
pub async fn change_member_role(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path((id, account_id)): Path<(String, String)>,
    AppJson(request): AppJson<RoleRequest>,
) -> Result<Json<RoleChanged>, ApiError> {
    let member = AccountId(account_id);
    let role = state
        .workspaces
        .change_role(auth.caller(), &client, &id, &member, &request.role)
        .await?;
    Ok(Json(RoleChanged {
        account_id: member.0,
        role: role.as_str(),
    }))
}

/// Removes a member (owners and admins; only owners remove owners; anyone may leave).
#[utoipa::path(delete, path = "/workspaces/{id}/members/{account_id}", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"),
           ("account_id" = String, Path, description = "Member")),
    responses((status = 204, description = "Removed"),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody),
              (status = 409, description = "`last_owner`", body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path((id, account_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let member = AccountId(account_id);
    state
        .workspaces
        .remove_member(auth.caller(), &client, &id, &member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
