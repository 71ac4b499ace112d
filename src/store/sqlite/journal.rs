//! Appending to the audit trail on SQLite, inside the transaction of the change each event
//! records, with the deliveries of the events that notify someone.

use rusqlite::Connection;

use super::outbox;
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::store::{notifies, Journal};

/// Appends `event` and, when it notifies anyone on `channels`, its deliveries; the event's
/// id. Call it inside the transaction of the change it records.
pub(super) fn append(
    conn: &Connection,
    event: &NewEvent,
    channels: Channels,
) -> rusqlite::Result<i64> {
    let event_id: i64 = conn
        .prepare_cached(
            "INSERT INTO security_events
                 (account_id, actor_id, kind, at, ip, user_agent, details, workspace_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             RETURNING id",
        )?
        .query_row(
            (
                event.account_id.as_ref().map(AccountId::as_str),
                event.actor_id.as_ref().map(AccountId::as_str),
                event.kind.as_str(),
                event.at.0,
                &event.ip,
                &event.user_agent,
                event.details.to_string(),
                &event.workspace_id,
            ),
            |row| row.get(0),
        )?;
    if notifies(event, channels) {
        outbox::enqueue(conn, event_id, event, channels)?;
    }
    Ok(event_id)
}

/// Appends every event of `journal`, in order.
pub(super) fn append_all(conn: &Connection, journal: Journal<'_>) -> rusqlite::Result<()> {
    for event in journal.events {
        append(conn, event, journal.channels)?;
    }
    Ok(())
}
