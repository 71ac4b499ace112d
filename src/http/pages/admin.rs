//! `/admin` (instance admins): the instance-wide requirement, open lost-device requests,
//! accounts (search, the audited reset, suspending, lifting a suspension and deleting, each
//! with a mandatory reason), notification
//! deliveries (with a retry for abandoned ones), the OpenID Connect clients (`admin_clients.rs`)
//! and the latest events.
//! Each part is the operation the API's admin routes call ([`crate::admin`]); non-admins
//! get the same `403`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::admin;
use crate::domain::event::EventFilter;
use crate::domain::reset_request::ResetMode;
use crate::http::error::ApiError;
use crate::http::events::EventsResponse;
use crate::http::extract::{admin_only, ClientInfo};
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
use crate::http::pages::viewer::{Nav, Viewer};
use crate::http::pages::{render_with, see_other, when, when_or_dash, Flash, GRACE_CHOICES};
use crate::http::AppState;
use crate::store::outbox::DeliveryStatus;

/// Rows of each list on the page (it stays well under 50 KB).
const PAGE_ROWS: u32 = 25;

/// `?query=` (accounts by e-mail) and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct AdminQuery {
    #[serde(default)]
    query: String,
    done: Option<String>,
}

/// An account row.
pub struct AccountRow {
    id: String,
    email: String,
    is_admin: bool,
    two_factor: bool,
    email_verified: bool,
    last_sign_in_at: String,
    /// When suspended, since when; empty otherwise.
    suspended_at: String,
    /// The signed-in admin's own account (no suspend or delete here).
    own: bool,
}

/// A reset request row, with its marks.
pub struct RequestRow {
    account_id: String,
    email: String,
    message: String,
    created_at: String,
    /// When confirmed from the mailbox; empty when not.
    email_confirmed_at: String,
    /// "owner@example.com (at)" for each owner who vouched.
    vouches: Vec<String>,
    /// The marks `[recovery] reset_requires` asks for that it lacks, in words; empty when
    /// none (the form then needs no force).
    missing: String,
}

/// A notification delivery row.
pub struct DeliveryRow {
    id: i64,
    channel: &'static str,
    event_kind: String,
    recipient: String,
    status: &'static str,
    attempts: u32,
    last_error: String,
    next_attempt_at: String,
}

/// An event row.
pub struct EventRow {
    kind: String,
    at: String,
    ip: String,
    details: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    nav: Nav,
    flash: Option<Flash>,
    require_two_factor: &'static str,
    grace_period_days: u32,
    grace_choices: [(u32, &'static str); 5],
    source: &'static str,
    required_factor: &'static str,
    deadline: String,
    requests: Vec<RequestRow>,
    request_total: usize,
    query: String,
    accounts: Vec<AccountRow>,
    events: Vec<EventRow>,
    deliveries: Vec<DeliveryRow>,
    delivery_counts: crate::store::outbox::DeliveryCounts,
    clients: Vec<super::admin_clients::ClientRow>,
}

/// The instance requirement form.
#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    require_two_factor: String,
    #[serde(default)]
    grace_period_days: u32,
    required_factor: Option<String>,
}

/// The reason an admin gives for a reset, a suspension, its end or a deletion.
#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
    /// A reset's "reset anyway" box: present when ticked.
    #[serde(default)]
    force: Option<String>,
}

async fn render_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    flash: Option<Flash>,
    query: String,
) -> Result<Response, PageError> {
    admin_only(&viewer.auth)?;
    let policy = state.admin.instance_policy().await?;
    let requests = state.admin.reset_requests().await?;
    let requires = state.admin.reset_requires();
    let accounts = state
        .admin
        .search_accounts(Some(&query), None, PAGE_ROWS)
        .await?;
    let events = state
        .admin
        .events(&EventFilter::default(), PAGE_ROWS)
        .await?;
    let events = EventsResponse::page(events, PAGE_ROWS);
    let deliveries = state.admin.deliveries(None, None, 10).await?;
    let clients = super::admin_clients::client_rows(state).await?;
    let page = AdminPage {
        clients,
        nav: viewer.nav("admin"),
        flash,
        require_two_factor: policy.scope.as_str(),
        grace_period_days: policy.grace_period_days,
        grace_choices: GRACE_CHOICES,
        source: policy.source.as_str(),
        required_factor: policy.required_factor.as_str(),
        deadline: policy.deadline().map(when).unwrap_or_default(),
        request_total: requests.len(),
        requests: requests
            .into_iter()
            .take(PAGE_ROWS as usize)
            .map(|r| RequestRow {
                missing: admin::names(
                    &requires.missing(r.email_confirmed_at.is_some(), !r.vouches.is_empty()),
                ),
                account_id: r.account_id.0,
                email: r.email,
                message: r.message,
                created_at: when(r.created_at),
                email_confirmed_at: r.email_confirmed_at.map(when).unwrap_or_default(),
                vouches: r
                    .vouches
                    .into_iter()
                    .map(|v| format!("{} ({})", v.email, when(v.at)))
                    .collect(),
            })
            .collect(),
        query,
        accounts: accounts
            .accounts
            .into_iter()
            .map(|a| AccountRow {
                own: a.account.id == viewer.auth.account.id,
                id: a.account.id.0,
                email: a.account.email.as_str().to_owned(),
                is_admin: a.account.is_admin,
                two_factor: a.two_factor_enabled,
                email_verified: a.account.email_verified_at.is_some(),
                last_sign_in_at: when_or_dash(a.last_sign_in_at),
                suspended_at: a.account.suspended_at.map(when).unwrap_or_default(),
            })
            .collect(),
        events: events
            .events
            .into_iter()
            .map(|e| EventRow {
                kind: e.kind,
                at: when(e.at),
                ip: e.ip.unwrap_or_default(),
                details: e.details.to_string(),
            })
            .collect(),
        delivery_counts: deliveries.counts,
        deliveries: deliveries
            .deliveries
            .into_iter()
            .map(|d| DeliveryRow {
                id: d.id,
                channel: d.channel.as_str(),
                event_kind: d.event_kind,
                recipient: d.recipient_email.unwrap_or_default(),
                status: match d.status {
                    DeliveryStatus::Pending => "pending",
                    DeliveryStatus::Retrying => "retrying",
                    DeliveryStatus::Delivered => "delivered",
                    DeliveryStatus::Abandoned => "abandoned",
                },
                attempts: d.attempts,
                last_error: d.last_error.unwrap_or_default(),
                next_attempt_at: d.next_attempt_at.map(when).unwrap_or_default(),
            })
            .collect(),
    };
    Ok(render_with(status, &page)?)
}

/// `GET /admin`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<AdminQuery>,
) -> Result<Response, PageError> {
    let flash = match query.done.as_deref() {
        Some("policy") => Some(Flash::Ok("Instance requirement saved.".to_owned())),
        Some("retry") => Some(Flash::Ok(
            "The notification is scheduled again, with a fresh set of attempts.".to_owned(),
        )),
        Some("suspend") => Some(Flash::Ok(
            "The account is suspended: it cannot sign in and its sessions ended.".to_owned(),
        )),
        Some("unsuspend") => Some(Flash::Ok(
            "The suspension is lifted; the account can sign in again.".to_owned(),
        )),
        Some("delete") => Some(Flash::Ok(
            "The account is deleted. The audit trail keeps its id and the deletion.".to_owned(),
        )),
        Some("reset") => Some(Flash::Ok(
            "Two-factor was reset: the account's authenticator, recovery codes and sessions \
             are gone, and the reset is in the audit trail."
                .to_owned(),
        )),
        _ => None,
    };
    render_page(&state, &viewer, StatusCode::OK, flash, query.query).await
}

async fn failed(
    state: &AppState,
    viewer: &Viewer,
    error: admin::Error,
) -> Result<Response, PageError> {
    let error = ApiError::from(error);
    match error {
        ApiError::EnableTwoFactorFirst(_)
        | ApiError::InvalidGracePeriod
        | ApiError::InvalidBody(_)
        | ApiError::ReasonRequired
        | ApiError::NotAbandoned
        | ApiError::OwnAccount
        | ApiError::AlreadySuspended
        | ApiError::NotSuspended
        | ApiError::LastOwner
        | ApiError::ResetNotConfirmed(_)
        | ApiError::NotFound => {
            let (status, _, _) = error.parts();
            let flash = Some(Flash::from_error(&error));
            render_page(state, viewer, status, flash, String::new()).await
        }
        other => Err(other.into()),
    }
}

/// `POST /admin/policy`.
pub async fn save_policy(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<PolicyForm>,
) -> Result<Response, PageError> {
    admin_only(&viewer.auth)?;
    let saved = state
        .admin
        .set_instance_policy(
            viewer.auth.caller(),
            &client,
            &form.require_two_factor,
            form.grace_period_days,
            form.required_factor.as_deref(),
        )
        .await;
    match saved {
        Ok(_) => Ok(see_other("/admin?done=policy")),
        Err(error) => failed(&state, &viewer, error).await,
    }
}

/// `POST /admin/accounts/{id}/reset`: the audited reset, with its reason.
pub async fn reset(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReasonForm>,
) -> Result<Response, PageError> {
    admin_only(&viewer.auth)?;
    let done = state
        .admin
        .reset_two_factor(
            viewer.auth.caller(),
            &client,
            &id,
            Some(&form.reason),
            ResetMode::forced(form.force.is_some()),
        )
        .await;
    match done {
        Ok(_) => Ok(see_other("/admin?done=reset")),
        Err(error) => failed(&state, &viewer, error).await,
    }
}

/// `POST /admin/accounts/{id}/suspend`: suspends the account, with a reason.
pub async fn suspend(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReasonForm>,
) -> Result<Response, PageError> {
    admin_only(&viewer.auth)?;
    let caller = viewer.auth.caller();
    let done = state
        .admin
        .suspend(caller, &client, &id, Some(&form.reason))
        .await;
    match done {
        Ok(_) => Ok(see_other("/admin?done=suspend")),
        Err(error) => failed(&state, &viewer, error).await,
    }
}

/// `POST /admin/accounts/{id}/unsuspend`: lifts the suspension, with a reason.
pub async fn unsuspend(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReasonForm>,
) -> Result<Response, PageError> {
    admin_only(&viewer.auth)?;
    let caller = viewer.auth.caller();
    let done = state
        .admin
        .unsuspend(caller, &client, &id, Some(&form.reason))
        .await;
    match done {
        Ok(_) => Ok(see_other("/admin?done=unsuspend")),
        Err(error) => failed(&state, &viewer, error).await,
    }
}

/// `POST /admin/accounts/{id}/delete`: deletes the account, with a reason.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReasonForm>,
) -> Result<Response, PageError> {
    admin_only(&viewer.auth)?;
    let caller = viewer.auth.caller();
    let done = state
        .admin
        .delete_account(caller, &client, &id, Some(&form.reason))
        .await;
    match done {
        Ok(_) => Ok(see_other("/admin?done=delete")),
        Err(error) => failed(&state, &viewer, error).await,
    }
}

/// `POST /admin/notifications/{id}/retry`: sends an abandoned notification again.
pub async fn retry(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    PageForm(_): PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    admin_only(&viewer.auth)?;
    let done = state.admin.retry_delivery(&id, viewer.auth.now).await;
    match done {
        Ok(_) => Ok(see_other("/admin?done=retry")),
        Err(error) => failed(&state, &viewer, error).await,
    }
}
