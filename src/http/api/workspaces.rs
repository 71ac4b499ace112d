//! Workspaces (SPEC §4): members with roles, invitations, and two-factor enforcement with a
//! grace period. Every workspace resource first checks membership (`404` for strangers,
//! so ids reveal nothing) and then the caller's access: a covered member without two-factor
//! past the deadline gets `403 two_factor_required` with the deadline.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::email::Email;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::{new_id, AccountId, Token};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{
    access, valid_grace_period, Access, Enforcement, Invitation, Role, Workspace,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::events::{EventsQuery, EventsResponse, MAX_EVENTS_PAGE};
use crate::http::extract::{AppJson, Authenticated, ClientInfo};
use crate::http::AppState;
use crate::store::MemberChange;

/// How long an invitation stays valid.
const INVITATION_TTL_SECONDS: i64 = 7 * 86_400;
/// Longest workspace name, in characters.
const MAX_NAME_CHARS: usize = 100;

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

fn parse_role(text: &str) -> Result<Role, ApiError> {
    Role::parse(text)
        .ok_or_else(|| ApiError::InvalidBody("role: one of owner, admin, member".to_owned()))
}

/// The workspace, the caller's role and access; `404` for non-members.
async fn member_of(
    state: &AppState,
    auth: &Authenticated,
    workspace_id: &str,
) -> Result<(Workspace, Role, Access), ApiError> {
    let (workspace, role) = state
        .store
        .membership(workspace_id, &auth.account.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let access = access(
        workspace.requirement_for(role),
        auth.has_two_factor,
        auth.now,
    );
    Ok((workspace, role, access))
}

/// Like [`member_of`], refusing blocked members.
async fn unblocked_member_of(
    state: &AppState,
    auth: &Authenticated,
    workspace_id: &str,
) -> Result<(Workspace, Role, Access), ApiError> {
    let (workspace, role, access) = member_of(state, auth, workspace_id).await?;
    if let Access::Blocked { deadline } = access {
        return Err(ApiError::TwoFactorRequired {
            deadline: Some(deadline),
        });
    }
    Ok((workspace, role, access))
}

/// Like [`unblocked_member_of`], for owners and admins only.
async fn manager_of(
    state: &AppState,
    auth: &Authenticated,
    workspace_id: &str,
) -> Result<(Workspace, Role), ApiError> {
    let (workspace, role, _) = unblocked_member_of(state, auth, workspace_id).await?;
    if !role.manages() {
        return Err(ApiError::Forbidden);
    }
    Ok((workspace, role))
}

fn view(workspace: &Workspace, role: Role, access: Access) -> WorkspaceView {
    WorkspaceView {
        id: workspace.id.clone(),
        name: workspace.name.clone(),
        role: role.as_str(),
        access: access.as_str(),
        deadline: access.deadline(),
    }
}

async fn record_workspace_event(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    workspace: &Workspace,
    kind: EventKind,
    subject: Option<&AccountId>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    state
        .record_event(&NewEvent {
            account_id: Some(subject.unwrap_or(&auth.account.id).clone()),
            actor_id: Some(auth.account.id.clone()),
            workspace_id: Some(workspace.id.clone()),
            kind,
            at: auth.now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details,
        })
        .await?;
    Ok(())
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
    let name = request.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::InvalidBody(
            "name: 1 to 100 characters".to_owned(),
        ));
    }
    let workspace = Workspace {
        id: new_id(),
        name: name.to_owned(),
        created_at: auth.now,
        enforcement: Enforcement::Off,
        grace_period_days: 0,
        enforced_since: None,
    };
    state
        .store
        .create_workspace(&workspace, &auth.account.id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&workspace, Role::Owner, Access::Ok)),
    ))
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
        .store
        .account_workspaces(&auth.account.id)
        .await?
        .iter()
        .map(|(workspace, role)| {
            let access = access(
                workspace.requirement_for(*role),
                auth.has_two_factor,
                auth.now,
            );
            view(workspace, *role, access)
        })
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
    let (workspace, role, access) = unblocked_member_of(&state, &auth, &id).await?;
    Ok(Json(view(&workspace, role, access)))
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
    let (workspace, _) = manager_of(&state, &auth, &id).await?;
    let members = state
        .store
        .members(&workspace.id)
        .await?
        .into_iter()
        .map(|member| {
            let requirement = workspace.requirement_for(member.role);
            MemberView {
                access: access(requirement, member.has_two_factor, auth.now).as_str(),
                account_id: member.account_id.0,
                email: member.email,
                role: member.role.as_str(),
                two_factor_enabled: member.has_two_factor,
            }
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
    let (workspace, caller_role) = manager_of(&state, &auth, &id).await?;
    let email = Email::parse(&request.email).map_err(|_| ApiError::InvalidEmail)?;
    let role = parse_role(&request.role)?;
    if role == Role::Owner && caller_role != Role::Owner {
        return Err(ApiError::Forbidden);
    }
    let token = Token::generate();
    let invitation = Invitation {
        id: new_id(),
        workspace_id: workspace.id.clone(),
        email: email.as_str().to_owned(),
        role,
        invited_by: auth.account.id.clone(),
        created_at: auth.now,
        expires_at: auth.now.plus_seconds(INVITATION_TTL_SECONDS),
    };
    state
        .store
        .create_invitation(&invitation, &token.hash())
        .await?;
    let details = json!({"email": invitation.email, "role": role.as_str()});
    record_workspace_event(
        &state,
        &auth,
        &client,
        &workspace,
        EventKind::InvitationCreated,
        None,
        details,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationCreated {
            id: invitation.id,
            token: token.expose().to_owned(),
            expires_at: invitation.expires_at,
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
    let now = auth.now;
    let token = Token::from_presented(&token).hash();
    let invitation = match state.store.invitation(&token).await? {
        Some(invitation) if now < invitation.expires_at => invitation,
        _ => return Err(ApiError::NotFound),
    };
    if invitation.email != auth.account.email.as_str() {
        return Err(ApiError::Forbidden);
    }
    let (workspace, _) = state
        .store
        .membership(&invitation.workspace_id, &invitation.invited_by)
        .await?
        .ok_or(ApiError::NotFound)?;
    if workspace.enforcement.covers(invitation.role) && !auth.has_two_factor {
        return Err(ApiError::TwoFactorRequired { deadline: None });
    }
    let accepted = state
        .store
        .accept_invitation(&token, &auth.account.id, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    let details = json!({"role": accepted.role.as_str()});
    record_workspace_event(
        &state,
        &auth,
        &client,
        &workspace,
        EventKind::MemberJoined,
        None,
        details,
    )
    .await?;
    Ok(Json(InvitationAccepted {
        workspace_id: accepted.workspace_id,
        role: accepted.role.as_str(),
    }))
}

/// Another member's role; `404` when not a member.
async fn role_of(
    state: &AppState,
    workspace: &Workspace,
    member: &AccountId,
) -> Result<Role, ApiError> {
    state
        .store
        .membership(&workspace.id, member)
        .await?
        .map(|(_, role)| role)
        .ok_or(ApiError::NotFound)
}

fn member_change(outcome: MemberChange) -> Result<(), ApiError> {
    match outcome {
        MemberChange::Done => Ok(()),
        MemberChange::NotMember => Err(ApiError::NotFound),
        MemberChange::LastOwner => Err(ApiError::LastOwner),
    }
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
    let (workspace, caller_role) = manager_of(&state, &auth, &id).await?;
    let role = parse_role(&request.role)?;
    let member = AccountId(account_id);
    let current = role_of(&state, &workspace, &member).await?;
    if caller_role != Role::Owner && (role == Role::Owner || current == Role::Owner) {
        return Err(ApiError::Forbidden);
    }
    member_change(
        state
            .store
            .change_role(&workspace.id, &member, role)
            .await?,
    )?;
    let details = json!({"from": current.as_str(), "to": role.as_str()});
    record_workspace_event(
        &state,
        &auth,
        &client,
        &workspace,
        EventKind::MemberRoleChanged,
        Some(&member),
        details,
    )
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
    let leaving = member == auth.account.id;
    let (workspace, caller_role, _) = member_of(&state, &auth, &id).await?;
    if !leaving {
        let (_, caller_role) = manager_of(&state, &auth, &id).await?;
        let current = role_of(&state, &workspace, &member).await?;
        if current == Role::Owner && caller_role != Role::Owner {
            return Err(ApiError::Forbidden);
        }
    }
    member_change(state.store.remove_member(&workspace.id, &member).await?)?;
    let details = json!({"left": leaving, "by_role": caller_role.as_str()});
    record_workspace_event(
        &state,
        &auth,
        &client,
        &workspace,
        EventKind::MemberRemoved,
        Some(&member),
        details,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn security_view(state: &AppState, workspace: &Workspace) -> Result<SecurityView, ApiError> {
    let members = state.store.members(&workspace.id).await?;
    Ok(SecurityView {
        enforcement: workspace.enforcement.as_str(),
        grace_period_days: workspace.grace_period_days,
        enforced_since: workspace.enforced_since,
        deadline: workspace.enforced_since.map(|since| {
            crate::domain::workspace::Requirement {
                since,
                grace_period_days: workspace.grace_period_days,
            }
            .deadline()
        }),
        enrolled_count: members.iter().filter(|m| m.has_two_factor).count(),
        member_count: members.len(),
    })
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
    let (workspace, _) = manager_of(&state, &auth, &id).await?;
    Ok(Json(security_view(&state, &workspace).await?))
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
    let (workspace, _) = manager_of(&state, &auth, &id).await?;
    let enforcement = Enforcement::parse(&request.enforcement)
        .ok_or_else(|| ApiError::InvalidBody("enforcement: one of off, all, admins".to_owned()))?;
    if !valid_grace_period(request.grace_period_days) {
        return Err(ApiError::InvalidGracePeriod);
    }
    if enforcement != Enforcement::Off && !auth.has_two_factor {
        return Err(ApiError::EnableTwoFactorFirst);
    }
    let updated = workspace.with_enforcement(enforcement, request.grace_period_days, auth.now);
    state.store.set_enforcement(&updated).await?;
    let details = json!({
        "from": {"enforcement": workspace.enforcement.as_str(), "grace_period_days": workspace.grace_period_days},
        "to": {"enforcement": enforcement.as_str(), "grace_period_days": request.grace_period_days},
    });
    record_workspace_event(
        &state,
        &auth,
        &client,
        &updated,
        EventKind::EnforcementChanged,
        None,
        details,
    )
    .await?;
    Ok(Json(security_view(&state, &updated).await?))
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
    let (workspace, _) = manager_of(&state, &auth, &id).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_EVENTS_PAGE);
    let events = state
        .store
        .workspace_events(&workspace.id, query.before, limit + 1)
        .await?;
    Ok(Json(EventsResponse::page(events, limit)))
}
