//! `/workspaces/{id}/members` (owners and admins): invite by e-mail with a role (the link is
//! shown once), change a member's role, remove a member or leave; owners also see their
//! members' open lost-device reset requests and vouch for one. Every action is the
//! operation the API's member routes call ([`crate::workspaces::members`]), so who may do
//! what (only owners touch owners; a workspace keeps an owner) is decided there, and its
//! refusals are shown as sentences.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::domain::ids::AccountId;
use crate::domain::workspace::Role;
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::EmptyForm;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
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

/// A member's open reset request, as an owner sees it.
pub struct RequestRow {
    id: String,
    email: String,
    message: String,
    created_at: String,
    /// Confirmed from the member's mailbox.
    email_confirmed: bool,
    /// An owner of this workspace vouched.
    vouched: bool,
    /// The viewer vouched.
    vouched_by_you: bool,
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
    /// The open reset requests of the members (shown to owners only).
    requests: Vec<RequestRow>,
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
    let caller = viewer.auth.caller();
    let membership = state.workspaces.get(caller, &id).await?;
    let members = state.workspaces.members(caller, &id).await?;
    let security = state.workspaces.security(caller, &id).await?;
    let owner = membership.role == Role::Owner;
    let requests = if owner {
        state.workspaces.reset_requests(caller, &id).await?
    } else {
        Vec::new()
    };
    let requests = requests
        .into_iter()
        .map(|open| RequestRow {
            id: open.request.id,
            email: open.request.email,
            message: open.request.message,
            created_at: when(open.request.created_at),
            email_confirmed: open.request.email_confirmed_at.is_some(),
            vouched: open.vouched,
            vouched_by_you: open.vouched_by_caller,
        })
        .collect();
    let rows = members
        .into_iter()
        .map(|status| MemberRow {
            you: status.member.account_id == viewer.auth.account.id,
            editable: owner || status.member.role != Role::Owner,
            account_id: status.member.account_id.0,
            email: status.member.email,
            role: status.member.role.as_str(),
            two_factor: status.member.factors.any(),
            access: status.access.as_str(),
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
        name: membership.workspace.name,
        members,
        paging,
        roles,
        invitation,
        invite_email,
        invite_role,
        enforcement: security.workspace.enforcement.as_str(),
        requests,
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
        Some("vouched") => Some(Flash::Ok(
            "You vouched for the request; the administrators see it with your name.".to_owned(),
        )),
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
    let created = state
        .workspaces
        .invite(
            viewer.auth.caller(),
            &client,
            &id,
            form.email.trim(),
            &form.role,
        )
        .await;
    let (status, extras) = match created.map_err(ApiError::from) {
        Ok(created) => {
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
                    .join(&format!("/invitations/{}", created.token.expose())),
                expires_at: when(created.invitation.expires_at),
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
    let member = AccountId(account_id);
    let yourself = member == viewer.auth.account.id;
    let changed = state
        .workspaces
        .change_role(viewer.auth.caller(), &client, &id, &member, &form.role)
        .await;
    match changed.map_err(ApiError::from) {
        // A manager who made themself a member can no longer open this page.
        Ok(role) if yourself && role == Role::Member => {
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
    let member = AccountId(account_id);
    let yourself = member == viewer.auth.account.id;
    let removed = state
        .workspaces
        .remove_member(viewer.auth.caller(), &client, &id, &member)
        .await;
    match removed.map_err(ApiError::from) {
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

/// `POST /workspaces/{id}/reset-requests/{request_id}/vouch`: an owner vouches for a
/// member's open reset request.
pub async fn vouch(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path((id, request_id)): Path<(String, String)>,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let vouched = state
        .workspaces
        .vouch(viewer.auth.caller(), &client, &id, &request_id)
        .await;
    match vouched.map_err(ApiError::from) {
        Ok(_) => Ok(see_other(&format!("{}?done=vouched", members_path(&id)))),
        Err(error) => {
            let sentence = match &error {
                ApiError::Forbidden => {
                    "Only owners vouch, and never for their own request.".to_owned()
                }
                ApiError::NotFound => {
                    "That request is no longer open, or its person is no longer a member."
                        .to_owned()
                }
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
