//! Audit trail rows.

use crate::domain::event::Event;
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;

#[derive(sqlx::FromRow)]
pub(in crate::store) struct EventRow {
    pub id: i64,
    pub account_id: Option<String>,
    pub actor_id: Option<String>,
    pub kind: String,
    pub at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            id: row.id,
            account_id: row.account_id.map(AccountId),
            actor_id: row.actor_id.map(AccountId),
            kind: row.kind,
            at: UnixTime(row.at),
            ip: row.ip,
            user_agent: row.user_agent,
            details: serde_json::from_str(&row.details).unwrap_or_default(),
        }
    }
}
