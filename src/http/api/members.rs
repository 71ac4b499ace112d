//! A workspace's members (SPEC §4): the list with each one's two-factor status,
//! invitations by e-mail and accepting them, role changes and removal. Who may do what is
//! [`crate::workspaces`]'s to decide.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiCaller, AppJson, ClientInfo};
use crate::http::AppState;

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
    auth: ApiCaller,
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
            two_factor_enabled: status.member.factors.any(),
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
    auth: ApiCaller,
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
    auth: ApiCaller,
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
    auth: ApiCaller,
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
    auth: ApiCaller,
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
