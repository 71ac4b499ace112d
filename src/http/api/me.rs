//! `GET /api/v1/me`: the signed-in account, its two-factor state and what is required of it.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::event::Event;
use crate::domain::time::UnixTime;
use crate::domain::two_factor;
use crate::domain::workspace::{self, access};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Authenticated;
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
pub async fn get_me(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<MeResponse>, ApiError> {
    let account = auth.account;
    // Read with the session: no query of its own.
    let summary = auth.two_factor;
    // The instance policy and every workspace's enforcement: the strictest applies.
    let policy = state.store.instance_policy().await?;
    let mut required = policy
        .and_then(|p| p.requirement_for(account.is_admin))
        .is_some();
    let mut combined = auth.instance_access;
    for (workspace, role) in state.store.account_workspaces(&account.id).await? {
        let requirement = workspace.requirement_for(role);
        required |= requirement.is_some();
        combined = combined.stricter(access(requirement, auth.has_two_factor, auth.now));
    }
    let requirement = Requirement {
        required,
        access: match combined {
            workspace::Access::Ok => Access::Ok,
            workspace::Access::Grace { .. } => Access::Grace,
            workspace::Access::Blocked { .. } => Access::Blocked,
        },
        deadline: combined.deadline(),
    };
    let two_factor_state = match summary.state(auth.now) {
        two_factor::TwoFactorState::NotConfigured => TwoFactorState::NotConfigured,
        two_factor::TwoFactorState::Pending => TwoFactorState::Pending,
        two_factor::TwoFactorState::Enabled => TwoFactorState::Enabled,
    };
    Ok(Json(MeResponse {
        id: account.id.0,
        email: account.email.as_str().to_owned(),
        name: account.name,
        is_admin: account.is_admin,
        two_factor: TwoFactorSummary {
            state: two_factor_state,
            enabled_at: summary.enabled_at,
            recovery_codes_remaining: if auth.has_two_factor {
                summary.recovery_codes_remaining.unwrap_or(0)
            } else {
                0
            },
        },
        requirement,
    }))
}

/// Most events returned per page.
pub const MAX_EVENTS_PAGE: u32 = 100;

/// Paging through events, newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events with an id below this (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<u32>,
}

/// One security event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Event id.
    pub id: i64,
    /// What happened (`sign_in_succeeded`, `code_reused`, …).
    pub kind: String,
    /// The account it concerns.
    pub account_id: Option<String>,
    /// Who did it, when not the account itself (an admin).
    pub actor_id: Option<String>,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: UnixTime,
    /// Client address.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Extra facts; never a secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsResponse {
    /// Newest first.
    pub events: Vec<EventView>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

impl EventsResponse {
    /// A page of at most `limit` events from `events`, fetched with one extra to tell
    /// whether more follow.
    pub fn page(mut events: Vec<Event>, limit: u32) -> EventsResponse {
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_before = if more {
            events.last().map(|e| e.id)
        } else {
            None
        };
        EventsResponse {
            events: events.into_iter().map(EventView::from).collect(),
            next_before,
        }
    }
}

impl From<Event> for EventView {
    fn from(event: Event) -> Self {
        EventView {
            id: event.id,
            kind: event.kind,
            account_id: event.account_id.map(|id| id.0),
            actor_id: event.actor_id.map(|id| id.0),
            at: event.at,
            ip: event.ip,
            user_agent: event.user_agent,
            details: event.details,
        }
    }
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
    auth: Authenticated,
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
