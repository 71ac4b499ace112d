//! Appending to the audit trail on SQLite, and the changes that must commit in one
//! transaction with their events (a reset, a reset request).

use sqlx::SqliteConnection;

use super::{outbox, SqliteStore};
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::{notifies, FiledRequest, Journal, ResetEvent, ResetOutcome, StoreError};

/// Inserts one event (binding its eight columns in order) and returns its id; shared by the
/// sqlx and the direct connections.
pub(super) const INSERT_EVENT: &str = "INSERT INTO security_events
         (account_id, actor_id, kind, at, ip, user_agent, details, workspace_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     RETURNING id";

/// Appends `event` and, when it notifies anyone on `channels`, its deliveries. Call it
/// inside the transaction of the change it records.
pub(super) async fn append(
    conn: &mut SqliteConnection,
    event: &NewEvent,
    channels: Channels,
) -> Result<(), StoreError> {
    let event_id: i64 = sqlx::query_scalar(INSERT_EVENT)
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
    Ok(())
}

/// Appends every event of `journal`, in order.
pub(super) async fn append_all(
    conn: &mut SqliteConnection,
    journal: Journal<'_>,
) -> Result<(), StoreError> {
    for event in journal.events {
        append(conn, event, journal.channels).await?;
    }
    Ok(())
}

impl SqliteStore {
    pub(super) async fn reset_two_factor_now(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        let id = account.as_str();
        let mut tx = self.pool.begin().await?;
        let was_enabled =
            sqlx::query("DELETE FROM two_factor WHERE account_id = ?1 AND secret IS NOT NULL")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        sqlx::query("DELETE FROM two_factor WHERE account_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let sessions_revoked = sqlx::query("DELETE FROM sessions WHERE account_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let requests_closed = sqlx::query(
            "UPDATE reset_requests SET closed_at = ?2 WHERE account_id = ?1 AND closed_at IS NULL",
        )
        .bind(id)
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let outcome = ResetOutcome {
            was_enabled,
            sessions_revoked,
            requests_closed,
        };
        append(&mut tx, &record(&outcome), channels).await?;
        tx.commit().await?;
        Ok(outcome)
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
        let mut tx = self.pool.begin().await?;
        // The partial unique index `reset_requests_one_open` decides between racing filings.
        let inserted = sqlx::query(
            "INSERT INTO reset_requests (id, account_id, message, created_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account_id) WHERE closed_at IS NULL DO NOTHING",
        )
        .bind(id)
        .bind(account.as_str())
        .bind(message)
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            append(&mut tx, event, channels).await?;
            tx.commit().await?;
            return Ok(FiledRequest {
                id: id.to_owned(),
                created: true,
            });
        }
        let open: String = sqlx::query_scalar(
            "SELECT id FROM reset_requests WHERE account_id = ?1 AND closed_at IS NULL",
        )
        .bind(account.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(FiledRequest {
            id: open,
            created: false,
        })
    }
}
