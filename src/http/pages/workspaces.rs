//! `/workspaces` (yours, and a form for a new one) and
//! `/workspaces/{id}/settings/security`: the enforcement toggle, its scope and grace
//! period, "3 of 8 members have two-factor" and each member's status. Every call is the
//! operation the API's workspace routes call ([`crate::workspaces`]), so membership, roles
//! and the caller's own two-factor rule are checked there.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::domain::workspace::{RequiredFactor, SecondFactors};
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
use crate::http::pages::paging::{page_of, ListQuery, Paging};
use crate::http::pages::viewer::{Nav, Viewer};
use crate::http::pages::{
    render_with, see_other, when, when_or_dash, DoneQuery, Flash, GRACE_CHOICES,
};
use crate::http::AppState;

/// Member statuses per page of the security settings (read-only rows, small).
pub const STATUS_ROWS_PER_PAGE: usize = 50;

/// A workspace in the list.
pub struct WorkspaceRow {
    id: String,
    name: String,
    role: &'static str,
    access: &'static str,
    deadline: String,
    manages: bool,
    /// It asks for a security key or passkey (a phishing-resistant factor).
    needs_key: bool,
}

/// A member in the security settings.
pub struct MemberRow {
    email: String,
    role: &'static str,
    /// Its second factors, named; empty for none.
    two_factor: &'static str,
    access: &'static str,
}

/// A member's second factors as the status table names them; empty for none.
fn factors_label(factors: SecondFactors) -> &'static str {
    match (factors.totp, factors.webauthn) {
        (false, false) => "",
        (true, false) => "Authenticator app",
        (false, true) => "Security key",
        (true, true) => "App and security key",
    }
}

#[derive(Template)]
#[template(path = "workspaces.html")]
struct WorkspacesPage {
    nav: Nav,
    flash: Option<Flash>,
    workspaces: Vec<WorkspaceRow>,
    name: String,
    account_id: String,
}

#[derive(Template)]
#[template(path = "workspace_security.html")]
struct WorkspaceSecurityPage {
    nav: Nav,
    flash: Option<Flash>,
    id: String,
    name: String,
    enforcement: &'static str,
    grace_period_days: u32,
    grace_choices: [(u32, &'static str); 5],
    enforced_since: String,
    deadline: String,
    enrolled_count: usize,
    member_count: usize,
    members: Vec<MemberRow>,
    paging: Paging,
    has_two_factor: bool,
    /// The viewer has a security key or passkey.
    has_key: bool,
    required_factor: &'static str,
}

/// A new workspace's name.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
}

/// The enforcement form: the toggle, the scope and the grace period.
#[derive(Debug, Deserialize)]
pub struct SecurityForm {
    enforce: Option<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    grace_period_days: u32,
    required_factor: Option<String>,
}

async fn render_list(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    flash: Option<Flash>,
    name: String,
) -> Result<Response, PageError> {
    let list = state.workspaces.list(viewer.auth.caller()).await?;
    let workspaces = list
        .into_iter()
        .map(|m| WorkspaceRow {
            manages: m.role.manages(),
            deadline: when_or_dash(m.access.deadline()),
            needs_key: m.workspace.required_factor == RequiredFactor::PhishingResistant,
            id: m.workspace.id,
            name: m.workspace.name,
            role: m.role.as_str(),
            access: m.access.as_str(),
        })
        .collect();
    let page = WorkspacesPage {
        nav: viewer.nav("workspaces"),
        flash,
        workspaces,
        name,
        account_id: viewer.auth.account.id.0.clone(),
    };
    Ok(render_with(status, &page)?)
}

/// `GET /workspaces`; `?done=` says what the previous page did.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let flash = match query.done() {
        Some("joined") => Some("You joined the workspace."),
        Some("left") => Some("You left the workspace."),
        Some("stepped_down") => Some("You are now a member of that workspace."),
        _ => None,
    }
    .map(|text| Flash::Ok(text.to_owned()));
    render_list(&state, &viewer, StatusCode::OK, flash, String::new()).await
}

/// `POST /workspaces`: creates one; on to its security settings.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<CreateForm>,
) -> Result<Response, PageError> {
    let created = state
        .workspaces
        .create(viewer.auth.caller(), &form.name)
        .await;
    match created.map_err(ApiError::from) {
        Ok(created) => Ok(see_other(&format!(
            "/workspaces/{}/settings/security?done=created",
            created.workspace.id
        ))),
        Err(ApiError::InvalidBody(_)) => {
            let flash = Some(Flash::Error(
                "Give the workspace a name of 1 to 100 characters.".to_owned(),
            ));
            render_list(
                &state,
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                flash,
                form.name,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

async fn render_security(
    state: &AppState,
    viewer: &Viewer,
    id: String,
    page: usize,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, PageError> {
    let caller = viewer.auth.caller();
    let workspace = state.workspaces.get(caller, &id).await?.workspace;
    let security = state.workspaces.security(caller, &id).await?;
    let members = state.workspaces.members(caller, &id).await?;
    let members = members
        .into_iter()
        .map(|status| MemberRow {
            email: status.member.email,
            role: status.member.role.as_str(),
            two_factor: factors_label(status.member.factors),
            access: status.access.as_str(),
        })
        .collect();
    let settings = &security.workspace;
    let (members, paging) = page_of(members, page, STATUS_ROWS_PER_PAGE);
    let page = WorkspaceSecurityPage {
        nav: viewer.nav("workspaces"),
        flash,
        id,
        name: workspace.name,
        enforcement: settings.enforcement.as_str(),
        grace_period_days: settings.grace_period_days,
        grace_choices: GRACE_CHOICES,
        enforced_since: when_or_dash(settings.enforced_since),
        deadline: settings.deadline().map(when).unwrap_or_default(),
        enrolled_count: security.enrolled_count,
        member_count: security.member_count,
        members,
        paging,
        has_two_factor: viewer.auth.factors.any(),
        has_key: viewer.auth.factors.webauthn,
        required_factor: settings.required_factor.as_str(),
    };
    Ok(render_with(status, &page)?)
}

/// `GET /workspaces/{id}/settings/security`.
pub async fn show_security(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let flash = match query.done() {
        Some("saved") => Some(Flash::Ok("Enforcement saved.".to_owned())),
        Some("created") => Some(Flash::Ok(
            "Workspace created. You are its owner.".to_owned(),
        )),
        _ => None,
    };
    render_security(&state, &viewer, id, query.page(), StatusCode::OK, flash).await
}

/// `POST /workspaces/{id}/settings/security`.
pub async fn save_security(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(form): PageForm<SecurityForm>,
) -> Result<Response, PageError> {
    let enforcement = match (form.enforce.is_some(), form.scope.as_str()) {
        (false, _) => "off",
        (true, "admins") => "admins",
        (true, _) => "all",
    };
    let saved = state
        .workspaces
        .set_enforcement(
            viewer.auth.caller(),
            &client,
            &id,
            enforcement,
            form.grace_period_days,
            form.required_factor.as_deref(),
        )
        .await;
    match saved.map_err(ApiError::from) {
        Ok(_) => Ok(see_other(&format!(
            "/workspaces/{id}/settings/security?done=saved"
        ))),
        Err(
            error @ (ApiError::EnableTwoFactorFirst(_)
            | ApiError::InvalidGracePeriod
            | ApiError::InvalidBody(_)),
        ) => {
            let (status, _, _) = error.parts();
            let flash = Some(Flash::from_error(&error));
            render_security(&state, &viewer, id, 1, status, flash).await
        }
        Err(other) => Err(other.into()),
    }
}
