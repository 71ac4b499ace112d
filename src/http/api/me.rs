//! `GET /api/v1/me`: the signed-in account, its two-factor state and what is required of it.

use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::domain::two_factor;
use crate::domain::workspace;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::events::{EventsQuery, EventsResponse, MAX_EVENTS_PAGE};
use crate::http::extract::ApiCaller;
use crate::http::AppState;

/// The authenticator's state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TwoFactorState {
    /// No authenticator.
    NotConfigured,
    /// Enrolment started, not confirmed.
    Pending,
    /// Two-factor is on.
    Enabled,
}

/// Two-factor summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorSummary {
    /// State of the authenticator.
    pub state: TwoFactorState,
    /// When two-factor was turned on.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub enabled_at: Option<UnixTime>,
    /// Unused recovery codes left.
    pub recovery_codes_remaining: u32,
}

/// Whether the account may go on without two-factor.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Nothing is required, or it is done.
    Ok,
    /// Required, not yet done, before the deadline.
    Grace,
    /// Required, not done, past the deadline.
    Blocked,
}

/// What the instance requires of this account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Requirement {
    /// Whether a policy covers the account.
    pub required: bool,
    /// Which second factors meet it: `any`, or `phishing_resistant` (a security key or
    /// passkey) when any policy that covers the account asks for one; absent when none does.
    pub required_factor: Option<&'static str>,
    /// Current access.
    pub access: Access,
    /// When a grace period ends.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<UnixTime>,
}

/// The signed-in account.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// Account id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Whether the address was proven by a message sent to it.
    pub email_verified: bool,
    /// When it was.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub email_verified_at: Option<UnixTime>,
    /// Whether the account has a password (otherwise it signs in by e-mail).
    pub has_password: bool,
    /// Display name.
    pub name: Option<String>,
    /// Instance administrator.
    pub is_admin: bool,
    /// Two-factor summary.
    pub two_factor: TwoFactorSummary,
    /// Requirement.
    pub requirement: Requirement,
}

/// The signed-in account.
#[utoipa::path(get, path = "/me", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn get_me(
    State(state): State<AppState>,
    auth: ApiCaller,
) -> Result<Json<MeResponse>, ApiError> {
    // Read with the session: no query of its own.
    let summary = auth.two_factor;
    let obligation = state
        .accounts
        .obligation(auth.caller(), auth.instance_access)
        .await?;
    let requirement = Requirement {
        required: obligation.required,
        required_factor: obligation.required.then_some(obligation.factor.as_str()),
        access: match obligation.access {
            workspace::Access::Ok => Access::Ok,
            workspace::Access::Grace { .. } => Access::Grace,
            workspace::Access::Blocked { .. } => Access::Blocked,
        },
        deadline: obligation.access.deadline(),
    };
    let two_factor_state = match summary.state(auth.now) {
        two_factor::TwoFactorState::NotConfigured => TwoFactorState::NotConfigured,
        two_factor::TwoFactorState::Pending => TwoFactorState::Pending,
        two_factor::TwoFactorState::Enabled => TwoFactorState::Enabled,
    };
    let recovery_codes_remaining = auth.recovery_codes_remaining();
    let account = auth.account;
    Ok(Json(MeResponse {
        id: account.id.0,
        email: account.email.as_str().to_owned(),
        email_verified: account.email_verified_at.is_some(),
        email_verified_at: account.email_verified_at,
        has_password: account.password_hash.is_some(),
        name: account.name,
        is_admin: account.is_admin,
        two_factor: TwoFactorSummary {
            state: two_factor_state,
            enabled_at: summary.enabled_at,
            recovery_codes_remaining,
        },
        requirement,
    }))
}

/// The caller's security events, newest first.
#[utoipa::path(get, path = "/me/events", tag = "me",
    security(("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 200, body = EventsResponse),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 422, description = "`invalid_body`: bad paging parameters", body = ErrorBody)))]
pub async fn list_my_events(
    State(state): State<AppState>,
    auth: ApiCaller,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
        return Err(ApiError::InvalidBody("limit: between 1 and 100".to_owned()));
    }
    let events = state
        .store
        .account_events(&auth.account.id, query.before, limit + 1)
        .await?;
    Ok(Json(EventsResponse::page(events, limit)))
}
