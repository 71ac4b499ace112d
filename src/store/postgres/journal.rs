//! Appending to the audit trail on PostgreSQL, inside the transaction of the change each
//! event records, with the deliveries of the events that notify someone.

use sqlx::PgConnection;

use super::outbox;
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::store::{notifies, Journal, StoreError};

/// Appends `event` and, when it notifies anyone on `channels`, its deliveries; the event's
/// id. Call it inside the transaction of the change it records.
pub(super) async fn append(
    conn: &mut PgConnection,
    event: &NewEvent,
    channels: Channels,
) -> Result<i64, StoreError> {
    let event_id: i64 = sqlx::query_scalar(
        "INSERT INTO security_events
             (account_id, actor_id, kind, at, ip, user_agent, details, workspace_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id",
    )
    .bind(event.account_id.as_ref().map(AccountId::as_str))
    .bind(event.actor_id.as_ref().map(AccountId::as_str))
    .bind(event.kind.as_str())
    .bind(event.at.0)
    .bind(&event.ip)
    .bind(&event.user_agent)
    .bind(event.details.to_string())
    .bind(&event.workspace_id)
    .fetch_one(&mut *conn)
    .await?;
    if notifies(event, channels) {
        outbox::enqueue(conn, event_id, event, channels).await?;
    }
    Ok(event_id)
}

/// Appends every event of `journal`, in order.
pub(super) async fn append_all(
    conn: &mut PgConnection,
    journal: Journal<'_>,
) -> Result<(), StoreError> {
    for event in journal.events {
        append(conn, event, journal.channels).await?;
    }
    Ok(())
}

/// The `SELECT` of a quiet journal's events (none notifies anyone) as eight arrays bound at
/// `$first`… by [`bind_events`], for `INSERT INTO security_events (…) {select}` inside a
/// one-statement change.
pub(super) fn unnested_events(first: usize) -> String {
    let p = |n: usize| first + n;
    format!(
        "SELECT e.* FROM UNNEST(${}::text[], ${}::text[], ${}::text[], ${}::bigint[],
                               ${}::text[], ${}::text[], ${}::text[], ${}::text[]) AS e",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7)
    )
}

/// The columns of `INSERT INTO security_events` that [`unnested_events`] selects.
pub(super) const EVENT_COLUMNS: &str =
    "(account_id, actor_id, kind, at, ip, user_agent, details, workspace_id)";

/// Binds `events` as the eight arrays of [`unnested_events`], in order.
pub(super) fn bind_events<'q, O, E: std::borrow::Borrow<NewEvent>>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    events: &[E],
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let column = |f: &dyn Fn(&NewEvent) -> Option<String>| -> Vec<Option<String>> {
        events.iter().map(|e| f(e.borrow())).collect()
    };
    query
        .bind(column(&|e| e.account_id.as_ref().map(|id| id.0.clone())))
        .bind(column(&|e| e.actor_id.as_ref().map(|id| id.0.clone())))
        .bind(column(&|e| Some(e.kind.as_str().to_owned())))
        .bind(events.iter().map(|e| e.borrow().at.0).collect::<Vec<i64>>())
        .bind(column(&|e| e.ip.clone()))
        .bind(column(&|e| e.user_agent.clone()))
        .bind(column(&|e| Some(e.details.to_string())))
        .bind(column(&|e| e.workspace_id.clone()))
}
