//! `GET /api/v1/me`: the signed-in account, its two-factor state and what is required of it.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Authenticated;

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
pub async fn get_me(auth: Authenticated) -> Result<Json<MeResponse>, ApiError> {
    let account = auth.account;
    Ok(Json(MeResponse {
        id: account.id.0,
        email: account.email.as_str().to_owned(),
        name: account.name,
        is_admin: account.is_admin,
        // Two-factor arrives with issue #4, requirements with issue #5.
        two_factor: TwoFactorSummary {
            state: TwoFactorState::NotConfigured,
            enabled_at: None,
            recovery_codes_remaining: 0,
        },
        requirement: Requirement {
            required: false,
            access: Access::Ok,
            deadline: None,
        },
    }))
}
