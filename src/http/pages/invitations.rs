//! `/invitations/{token}`: the link an owner or admin sent. The invited person, signed in
//! (or sent to sign in or sign up and back here), sees the workspace and the role, and
//! joins with the API's own `POST /invitations/{token}/accept`, so the e-mail match and
//! the workspace's two-factor rule are the API's. When the workspace requires two-factor
//! of the role and the person has none, the page says so before they try.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;

use crate::domain::ids::Token;
use crate::http::api::workspaces::accept_invitation;
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
use crate::http::pages::login::EmptyForm;
use crate::http::pages::viewer::{Nav, Viewer};
use crate::http::pages::{render_with, see_other, when};
use crate::http::AppState;

/// What stands between the person and joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocker {
    /// Nothing: the accept button.
    None,
    /// The invitation names another e-mail address.
    OtherAccount,
    /// The workspace requires two-factor of the role, and the person has none.
    TwoFactorFirst,
}

impl Blocker {
    /// For the template and `data-state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Blocker::None => "open",
            Blocker::OtherAccount => "other_account",
            Blocker::TwoFactorFirst => "two_factor_required",
        }
    }
}

/// A live invitation as the page shows it.
pub struct InvitationView {
    workspace: String,
    email: String,
    role: &'static str,
    expires_at: String,
    blocker: Blocker,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    nav: Nav,
    token: String,
    invitation: Option<InvitationView>,
}

/// The invitation behind `token`, if it is live; `None` when unknown, used or expired.
async fn find(
    state: &AppState,
    viewer: &Viewer,
    token: &str,
) -> Result<Option<InvitationView>, PageError> {
    let now = viewer.auth.now;
    let hash = Token::from_presented(token).hash();
    let invitation = match state.store.invitation(&hash).await? {
        Some(invitation) if now < invitation.expires_at => invitation,
        _ => return Ok(None),
    };
    // As the API does: the workspace is found through the inviter's membership.
    let Some((workspace, _)) = state
        .store
        .membership(&invitation.workspace_id, &invitation.invited_by)
        .await?
    else {
        return Ok(None);
    };
    let blocker = if invitation.email != viewer.auth.account.email.as_str() {
        Blocker::OtherAccount
    } else if workspace.enforcement.covers(invitation.role) && !viewer.auth.has_two_factor {
        Blocker::TwoFactorFirst
    } else {
        Blocker::None
    };
    Ok(Some(InvitationView {
        workspace: workspace.name,
        email: invitation.email,
        role: invitation.role.as_str(),
        expires_at: when(invitation.expires_at),
        blocker,
    }))
}

fn render_page(
    viewer: &Viewer,
    token: String,
    invitation: Option<InvitationView>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let status = if invitation.is_none() {
        StatusCode::NOT_FOUND
    } else {
        status
    };
    let page = InvitationPage {
        nav: viewer.nav("workspaces"),
        token,
        invitation,
    };
    Ok(render_with(status, &page)?)
}

/// `GET /invitations/{token}`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let invitation = find(&state, &viewer, &token).await?;
    render_page(&viewer, token, invitation, StatusCode::OK)
}

/// `POST /invitations/{token}/accept`: joins, then on to the workspaces.
pub async fn accept(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(token): Path<String>,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let accepted = accept_invitation(
        State(state.clone()),
        viewer.auth.clone(),
        client,
        Path(token.clone()),
    )
    .await;
    match accepted {
        Ok(Json(_)) => Ok(see_other("/workspaces?done=joined")),
        Err(
            error @ (ApiError::TwoFactorRequired { .. } | ApiError::Forbidden | ApiError::NotFound),
        ) => {
            // The page explains each refusal (two-factor first, another account, gone).
            let invitation = find(&state, &viewer, &token).await?;
            render_page(&viewer, token, invitation, error.parts().0)
        }
        Err(other) => Err(other.into()),
    }
}
