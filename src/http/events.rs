//! Security events as the API shows them, paged newest first: the query, one event and a
//! page. Shared by `/me/events`, `/workspaces/{id}/events`, `/admin/events` and the admin
//! page.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::event::Event;
use crate::domain::paging::next_key;
use crate::domain::time::UnixTime;

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
        let next_before = next_key(&mut events, limit, |e| e.id);
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
