//! `/invitations/{token}`: the link an owner or admin sent. The invited person, signed in
//! (or sent to sign in or sign up and back here), sees the workspace and the role, and
//! joins as the API's `POST /invitations/{token}/accept` does ([`crate::workspaces`]), so
//! the e-mail match and the workspace's two-factor rule are the same. When the workspace
//! requires two-factor of the role and the person has none, the page says so before they
//! try.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::EmptyForm;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
use crate::http::pages::viewer::{Nav, Viewer};
use crate::http::pages::{render_with, see_other, when};
use crate::http::AppState;
use crate::workspaces::members::Admission;

/// `data-state` of an invitation: what stands between the person and joining.
fn state_name(admission: Admission) -> &'static str {
    match admission {
        Admission::Open => "open",
        Admission::OtherAccount => "other_account",
        Admission::TwoFactorFirst => "two_factor_required",
    }
}

/// A live invitation as the page shows it.
pub struct InvitationView {
    workspace: String,
    email: String,
    role: &'static str,
    expires_at: String,
    admission: Admission,
    state: &'static str,
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
    let Some(found) = state
        .workspaces
        .invitation(viewer.auth.caller(), token)
        .await?
    else {
        return Ok(None);
    };
    let invitation = found.invitation;
    Ok(Some(InvitationView {
        workspace: found.workspace.name,
        email: invitation.email,
        role: invitation.role.as_str(),
        expires_at: when(invitation.expires_at),
        admission: found.admission,
        state: state_name(found.admission),
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
    let accepted = state
        .workspaces
        .accept_invitation(viewer.auth.caller(), &client, &token)
        .await;
    match accepted.map_err(ApiError::from) {
        Ok(_) => Ok(see_other("/workspaces?done=joined")),
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
