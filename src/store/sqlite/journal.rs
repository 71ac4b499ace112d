//! Appending to the audit trail on SQLite, and the changes that must commit in one
//! transaction with their events (a reset, a reset request).

use rusqlite::Connection;

use super::{outbox, SqliteStore};
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::{notifies, FiledRequest, Journal, ResetEvent, ResetOutcome, StoreError};

/// Appends `event` and, when it notifies anyone on `channels`, its deliveries. Call it
/// inside the transaction of the change it records.
pub(super) fn append(
    conn: &Connection,
    event: &NewEvent,
    channels: Channels,
) -> rusqlite::Result<()> {
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
    Ok(())
}

/// Appends every event of `journal`, in order.
pub(super) fn append_all(conn: &Connection, journal: Journal<'_>) -> rusqlite::Result<()> {
    for event in journal.events {
        append(conn, event, journal.channels)?;
    }
    Ok(())
}

/// What a reset of `account` does when it runs now: read before the reset (the event is made
/// from it) and again under the write lock, where it is what the reset then does.
fn reset_outcome(conn: &Connection, account: &str) -> rusqlite::Result<ResetOutcome> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM two_factor WHERE account_id = ?1 AND secret IS NOT NULL),
                (SELECT COUNT(*) FROM sessions WHERE account_id = ?1),
                (SELECT COUNT(*) FROM reset_requests
                 WHERE account_id = ?1 AND closed_at IS NULL)",
    )?
    .query_row([account], |row| {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(ResetOutcome {
            was_enabled: row.get(0)?,
            sessions_revoked: count(row.get(1)?),
            requests_closed: count(row.get(2)?),
        })
    })
}

impl SqliteStore {
    pub(super) async fn reset_two_factor_now(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        // `record` borrows from the caller and cannot go to the writer's thread: the event
        // is made here from the outcome read first, and the reset applies only while the
        // outcome under the write lock is still that one (else it is read again).
        loop {
            let id = account.as_str().to_owned();
            let expected = self.db.read(|conn| reset_outcome(conn, &id))?;
            let event = record(&expected);
            let done = self
                .db
                .write(move |tx| {
                    if reset_outcome(tx, &id)? != expected {
                        return Ok(false);
                    }
                    tx.prepare_cached("DELETE FROM two_factor WHERE account_id = ?1")?
                        .execute([&id])?;
                    tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                        .execute([&id])?;
                    tx.prepare_cached("DELETE FROM sessions WHERE account_id = ?1")?
                        .execute([&id])?;
                    tx.prepare_cached(
                        "UPDATE reset_requests SET closed_at = ?2
                         WHERE account_id = ?1 AND closed_at IS NULL",
                    )?
                    .execute((&id, now.0))?;
                    append(tx, &event, channels)?;
                    Ok(true)
                })
                .await?;
            if done {
                return Ok(expected);
            }
        }
    }

    pub(super) async fn file_reset_request(
        &self,
        id: &str,
        account: &AccountId,
        message: &str,
        now: UnixTime,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<FiledRequest, StoreError> {
        let (id, account) = (id.to_owned(), account.as_str().to_owned());
        let (message, event) = (message.to_owned(), event.clone());
        self.db
            .write(move |tx| {
                // The partial unique index `reset_requests_one_open` decides between racing
                // filings.
                let inserted = tx
                    .prepare_cached(
                        "INSERT INTO reset_requests (id, account_id, message, created_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (account_id) WHERE closed_at IS NULL DO NOTHING",
                    )?
                    .execute((&id, &account, &message, now.0))?;
                if inserted == 1 {
                    append(tx, &event, channels)?;
                    return Ok(FiledRequest { id, created: true });
                }
                let open: String = tx
                    .prepare_cached(
                        "SELECT id FROM reset_requests WHERE account_id = ?1 AND closed_at IS NULL",
                    )?
                    .query_row([&account], |row| row.get(0))?;
                Ok(FiledRequest {
                    id: open,
                    created: false,
                })
            })
            .await
    }
}
