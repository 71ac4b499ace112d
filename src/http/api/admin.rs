//! Instance administration for instance admins: the instance-wide two-factor requirement
//! (set in `[policy]`, overridable at run time through `/admin/security`), the accounts
//! and the audit trail. Resets are `resets.rs`, notification deliveries
//! `notifications.rs`; the operations are [`crate::admin`]'s.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::event::EventFilter;
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorState;
use crate::domain::workspace::InstancePolicy;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::events::EventsResponse;
use crate::http::extract::{admin_only, ApiCaller, AppJson, ClientInfo};
use crate::http::AppState;

/// The instance requirement.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceSecurityView {
    /// `off`, `everyone` or `admins`.
    pub require_two_factor: &'static str,
    /// Days of grace.
    pub grace_period_days: u32,
    /// When it was turned on.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub enforced_since: Option<UnixTime>,
    /// `enforced_since + grace`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<UnixTime>,
    /// `config` or `admin`: where the setting in force came from.
    pub source: &'static str,
    /// `any` (an authenticator app or a security key) or `phishing_resistant` (security
    /// keys and passkeys only).
    pub required_factor: &'static str,
}

/// A new instance requirement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceSecurityRequest {
    /// `off`, `everyone` or `admins`.
    pub require_two_factor: String,
    /// 0, 3, 7, 14 or 30.
    pub grace_period_days: u32,
    /// `any` or `phishing_resistant`; absent keeps the one in force.
    pub required_factor: Option<String>,
}

fn view(policy: InstancePolicy) -> InstanceSecurityView {
    InstanceSecurityView {
        require_two_factor: policy.scope.as_str(),
        grace_period_days: policy.grace_period_days,
        enforced_since: policy.enforced_since,
        deadline: policy.deadline(),
        source: policy.source.as_str(),
        required_factor: policy.required_factor.as_str(),
    }
}

/// The instance requirement (instance admins).
#[utoipa::path(get, path = "/admin/security", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = InstanceSecurityView),
              (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn get_instance_security(
    State(state): State<AppState>,
    auth: ApiCaller,
) -> Result<Json<InstanceSecurityView>, ApiError> {
    admin_only(&auth)?;
    Ok(Json(view(state.admin.instance_policy().await?)))
}

/// Sets the instance requirement (instance admins, who need two-factor to turn it on).
#[utoipa::path(put, path = "/admin/security", tag = "admin",
    security(("bearer" = [])),
    request_body = InstanceSecurityRequest,
    responses((status = 200, body = InstanceSecurityView),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 409, description = "`enable_two_factor_first`", body = ErrorBody),
              (status = 422, description = "`invalid_grace_period`, `invalid_body`", body = ErrorBody)))]
pub async fn put_instance_security(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    AppJson(request): AppJson<InstanceSecurityRequest>,
) -> Result<Json<InstanceSecurityView>, ApiError> {
    admin_only(&auth)?;
    let policy = state
        .admin
        .set_instance_policy(
            auth.caller(),
            &client,
            &request.require_two_factor,
            request.grace_period_days,
            request.required_factor.as_deref(),
        )
        .await?;
    Ok(Json(view(policy)))
}

/// Searching accounts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    /// Part of the e-mail address (case-insensitive).
    pub query: Option<String>,
    /// The previous page's `next_after`.
    pub after: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<u32>,
}

/// An account as an instance admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAccountView {
    /// Account id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: Option<String>,
    /// Instance admin.
    pub is_admin: bool,
    /// `enabled` or `not_configured`.
    pub two_factor: &'static str,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// Last sign-in.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_sign_in_at: Option<UnixTime>,
    /// Whether the address was proven by a message sent to it.
    pub email_verified: bool,
    /// Whether the account has a password (otherwise it signs in by e-mail).
    pub has_password: bool,
    /// Suspended: cannot sign in.
    pub suspended: bool,
    /// Since when, while suspended.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub suspended_at: Option<UnixTime>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAccountList {
    /// By e-mail.
    pub accounts: Vec<AdminAccountView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Accounts with their two-factor state and last sign-in (instance admins).
#[utoipa::path(get, path = "/admin/accounts", tag = "admin",
    security(("bearer" = [])),
    params(AccountsQuery),
    responses((status = 200, body = AdminAccountList),
              (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    auth: ApiCaller,
    query: Result<axum::extract::Query<AccountsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AdminAccountList>, ApiError> {
    admin_only(&auth)?;
    let axum::extract::Query(query) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let found = state
        .admin
        .search_accounts(query.query.as_deref(), query.after.as_deref(), limit)
        .await?;
    let accounts = found
        .accounts
        .into_iter()
        .map(|s| AdminAccountView {
            email_verified: s.account.email_verified_at.is_some(),
            has_password: s.account.has_password(),
            suspended: s.account.is_suspended(),
            suspended_at: s.account.suspended_at,
            id: s.account.id.0,
            email: s.account.email.as_str().to_owned(),
            name: s.account.name,
            is_admin: s.account.is_admin,
            two_factor: TwoFactorState::of(s.two_factor_enabled, s.pending_until, auth.now)
                .as_str(),
            created_at: s.account.created_at,
            last_sign_in_at: s.last_sign_in_at,
        })
        .collect();
    Ok(Json(AdminAccountList {
        accounts,
        next_after: found.next_after,
    }))
}

/// Filtering the audit trail.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminEventsQuery {
    /// Only this kind, e.g. `two_factor_reset`.
    pub kind: Option<String>,
    /// Only about this account id.
    pub account: Option<String>,
    /// At or after (unix seconds).
    pub since: Option<i64>,
    /// Before (unix seconds).
    pub until: Option<i64>,
    /// The previous page's `next_before`.
    pub before: Option<i64>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<u32>,
}

/// The whole audit trail, newest first, filtered (instance admins).
#[utoipa::path(get, path = "/admin/events", tag = "admin",
    security(("bearer" = [])),
    params(AdminEventsQuery),
    responses((status = 200, body = EventsResponse),
              (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    auth: ApiCaller,
    query: Result<axum::extract::Query<AdminEventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    admin_only(&auth)?;
    let axum::extract::Query(query) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let filter = EventFilter {
        kind: query.kind,
        account: query.account.map(AccountId),
        since: query.since.map(UnixTime),
        until: query.until.map(UnixTime),
        before: query.before,
    };
    let events = state.admin.events(&filter, limit).await?;
    Ok(Json(EventsResponse::page(events, limit)))
}
