//! `/workspaces/{id}/members` (owners and admins): invite by e-mail with a role (the link is
//! shown once), change a member's role, remove a member or leave. Every action is the API's
//! workspace handler, so who may do what (only owners touch owners; a workspace keeps an
//! owner) is decided there, and its refusals are shown as sentences.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;

use crate::domain::workspace::Role;
use crate::http::api::workspaces::{
    change_member_role, create_invitation, get_security, get_workspace, list_members,
    remove_member, InvitationRequest, RoleRequest,
};
use crate::http::error::ApiError;
use crate::http::extract::{AppJson, ClientInfo};
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
use crate::http::pages::login::EmptyForm;
use crate::http::pages::paging::{page_of, ListQuery, Paging};
use crate::http::pages::viewer::{Nav, Viewer};
use crate::http::pages::{render_with, see_other, when, Flash};
use crate::http::AppState;

/// Members per page (40 rows of forms stay far under 50 KB; this keeps room to spare).
pub const MEMBERS_PER_PAGE: usize = 25;

/// The roles, with their labels, most powerful first.
const ROLES: [(&str, &str); 3] = [("owner", "Owner"), ("admin", "Admin"), ("member", "Member")];

/// A member as the page lists them.
pub struct MemberRow {
    account_id: String,
    email: String,
    role: &'static str,
    two_factor: bool,
    access: &'static str,
    you: bool,
    /// Whether the viewer is offered the role and removal forms (the API decides anyway).
    editable: bool,
}

/// A new invitation's link, shown this once.
pub struct NewInvitation {
    email: String,
    role: &'static str,
    link: String,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "workspace_members.html")]
struct MembersPage {
    nav: Nav,
    flash: Option<Flash>,
    id: String,
    name: String,
    members: Vec<MemberRow>,
    paging: Paging,
    roles: Vec<(&'static str, &'static str)>,
    invitation: Option<NewInvitation>,
    invite_email: String,
    invite_role: String,
    enforcement: &'static str,
}

/// The invitation form.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// The role form.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// What the page shows besides the list.
#[derive(Default)]
struct Extras {
    flash: Option<Flash>,
    invitation: Option<NewInvitation>,
    invite_email: String,
    invite_role: String,
}

fn members_path(id: &str) -> String {
    format!("/workspaces/{id}/members")
}

async fn render_page(
    state: &AppState,
    viewer: &Viewer,
    id: String,
    page: usize,
    status: StatusCode,
    extras: Extras,
) -> Result<Response, PageError> {
    let auth = || viewer.auth.clone();
    let Json(workspace) = get_workspace(State(state.clone()), auth(), Path(id.clone())).await?;
    let Json(members) = list_members(State(state.clone()), auth(), Path(id.clone())).await?;
    let Json(security) = get_security(State(state.clone()), auth(), Path(id.clone())).await?;
    let owner = workspace.role == Role::Owner.as_str();
    let rows = members
        .members
        .into_iter()
        .map(|m| MemberRow {
            you: m.account_id == viewer.auth.account.id.0,
            editable: owner || m.role != Role::Owner.as_str(),
            account_id: m.account_id,
            email: m.email,
            role: m.role,
            two_factor: m.two_factor_enabled,
            access: m.access,
        })
        .collect();
    let (members, paging) = page_of(rows, page, MEMBERS_PER_PAGE);
    let roles = ROLES
        .into_iter()
        .filter(|(role, _)| owner || *role != Role::Owner.as_str())
        .collect();
    let Extras {
        flash,
        invitation,
        invite_email,
        invite_role,
    } = extras;
    let page = MembersPage {
        nav: viewer.nav("workspaces"),
        flash,
        id,
        name: workspace.name,
        members,
        paging,
        roles,
        invitation,
        invite_email,
        invite_role,
        enforcement: security.enforcement,
    };
    Ok(render_with(status, &page)?)
}

/// `GET /workspaces/{id}/members`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let flash = match query.done() {
        Some("role") => Some(Flash::Ok("Role changed.".to_owned())),
        Some("removed") => Some(Flash::Ok("Member removed.".to_owned())),
        _ => None,
    };
    let extras = Extras {
        flash,
        ..Extras::default()
    };
    render_page(&state, &viewer, id, query.page(), StatusCode::OK, extras).await
}

/// `POST /workspaces/{id}/invitations`: creates the invitation and shows its link once.
pub async fn invite(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(form): PageForm<InviteForm>,
) -> Result<Response, PageError> {
    let request = InvitationRequest {
        email: form.email.trim().to_owned(),
        role: form.role.clone(),
    };
    let created = create_invitation(
        State(state.clone()),
        viewer.auth.clone(),
        client,
        Path(id.clone()),
        AppJson(request),
    )
    .await;
    let (status, extras) = match created {
        Ok((_, Json(created))) => {
            let role = Role::parse(&form.role).map_or("member", Role::as_str);
            let email = form.email.trim().to_owned();
            let flash = Flash::Ok(format!(
                "Invitation created for {email}. Send them the link below."
            ));
            let invitation = NewInvitation {
                email,
                role,
                link: state
                    .config
                    .public_url
                    .join(&format!("/invitations/{}", created.token)),
                expires_at: when(created.expires_at),
            };
            let extras = Extras {
                flash: Some(flash),
                invitation: Some(invitation),
                ..Extras::default()
            };
            (StatusCode::OK, extras)
        }
        Err(error) => {
            let sentence = match &error {
                ApiError::Forbidden => "Only owners can invite an owner.".to_owned(),
                ApiError::InvalidBody(_) => "Choose a role: member, admin or owner.".to_owned(),
                ApiError::InvalidEmail => error.parts().2,
                _ => return Err(error.into()),
            };
            let extras = Extras {
                flash: Some(Flash::Error(sentence)),
                invite_email: form.email,
                invite_role: form.role,
                ..Extras::default()
            };
            (error.parts().0, extras)
        }
    };
    render_page(&state, &viewer, id, 1, status, extras).await
}

/// `POST /workspaces/{id}/members/{account_id}/role`.
pub async fn change_role(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path((id, account_id)): Path<(String, String)>,
    PageForm(form): PageForm<RoleForm>,
) -> Result<Response, PageError> {
    let yourself = account_id == viewer.auth.account.id.0;
    let request = RoleRequest {
        role: form.role.clone(),
    };
    let changed = change_member_role(
        State(state.clone()),
        viewer.auth.clone(),
        client,
        Path((id.clone(), account_id)),
        AppJson(request),
    )
    .await;
    match changed {
        // A manager who made themself a member can no longer open this page.
        Ok(Json(changed)) if yourself && changed.role == Role::Member.as_str() => {
            Ok(see_other("/workspaces?done=stepped_down"))
        }
        Ok(_) => Ok(see_other(&format!("{}?done=role", members_path(&id)))),
        Err(error) => {
            let sentence = match &error {
                ApiError::Forbidden => {
                    "Only owners can make someone an owner or change an owner's role.".to_owned()
                }
                ApiError::InvalidBody(_) => "Choose a role: member, admin or owner.".to_owned(),
                ApiError::NotFound => "That person is no longer a member.".to_owned(),
                ApiError::LastOwner => error.parts().2,
                _ => return Err(error.into()),
            };
            refused(&state, &viewer, id, &error, sentence).await
        }
    }
}

/// `POST /workspaces/{id}/members/{account_id}/remove`: removes a member, or leaves.
pub async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path((id, account_id)): Path<(String, String)>,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let yourself = account_id == viewer.auth.account.id.0;
    let removed = remove_member(
        State(state.clone()),
        viewer.auth.clone(),
        client,
        Path((id.clone(), account_id)),
    )
    .await;
    match removed {
        Ok(_) if yourself => Ok(see_other("/workspaces?done=left")),
        Ok(_) => Ok(see_other(&format!("{}?done=removed", members_path(&id)))),
        Err(error) => {
            let sentence = match &error {
                ApiError::Forbidden => "Only owners can remove an owner.".to_owned(),
                ApiError::NotFound => "That person is no longer a member.".to_owned(),
                ApiError::LastOwner => error.parts().2,
                _ => return Err(error.into()),
            };
            refused(&state, &viewer, id, &error, sentence).await
        }
    }
}

/// The page again, with the refusal in words and the API's status.
async fn refused(
    state: &AppState,
    viewer: &Viewer,
    id: String,
    error: &ApiError,
    sentence: String,
) -> Result<Response, PageError> {
    let extras = Extras {
        flash: Some(Flash::Error(sentence)),
        ..Extras::default()
    };
    render_page(state, viewer, id, 1, error.parts().0, extras).await
}
