//! The outbox on SQLite. One process owns the file and runs one worker per channel, so a
//! due row is read, attempted and updated without holding a write lock across the attempt
//! (which would stall every other write for as long as a receiver takes).

use async_trait::async_trait;
use rusqlite::Connection;

use super::decode::{all, optional};
use super::SqliteStore;
use crate::domain::event::NewEvent;
use crate::domain::notification::{audience, Attempt, Audience, Channel, Channels};
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::outbox::{
    attempt_update, clip, records_query, CountsRow, Courier, DeliveryCounts, DeliveryRecord,
    DeliveryStatus, DueRow, Outbox, RecordRow, COUNTS_QUERY, DUE_COLUMNS, DUE_JOINS,
};
use crate::store::StoreError;

/// Queues the deliveries `event` (just inserted as `event_id`) calls for, inside the
/// event's own transaction.
pub(super) fn enqueue(
    conn: &Connection,
    event_id: i64,
    event: &NewEvent,
    channels: Channels,
) -> rusqlite::Result<()> {
    let Some(audience) = audience(event.kind) else {
        return Ok(());
    };
    for channel in channels.enabled() {
        let (recipients, owner) = match (channel, audience) {
            (Channel::Webhook, _) => ("SELECT NULL AS recipient", None),
            (Channel::Email, Audience::Owner) => match &event.account_id {
                Some(account) => ("SELECT ?4 AS recipient", Some(account.as_str())),
                None => continue,
            },
            (Channel::Email, Audience::InstanceAdmins) => (
                "SELECT id AS recipient FROM accounts WHERE is_admin = 1",
                None,
            ),
        };
        let sql = format!(
            "INSERT INTO notification_outbox
                 (event_id, channel, recipient_id, next_attempt_at, created_at)
             SELECT ?1, ?2, r.recipient, ?3, ?3 FROM ({recipients}) AS r"
        );
        let mut insert = conn.prepare_cached(&sql)?;
        match owner {
            Some(owner) => insert.execute((event_id, channel.as_str(), event.at.0, owner))?,
            None => insert.execute((event_id, channel.as_str(), event.at.0))?,
        };
    }
    Ok(())
}

/// Queues an e-mail about `event` (just inserted as `event_id`) to `address`, which is no
/// longer an account's (a deleted account's, or the address an account left), inside the
/// event's own transaction.
pub(super) fn enqueue_to_address(
    conn: &Connection,
    event_id: i64,
    event: &NewEvent,
    address: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO notification_outbox
             (event_id, channel, to_address, next_attempt_at, created_at)
         VALUES (?1, 'email', ?2, ?3, ?3)",
    )?
    .execute((event_id, address, event.at.0))?;
    Ok(())
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn deliver_next(
        &self,
        channel: Channel,
        now: UnixTime,
        courier: &dyn Courier,
    ) -> Result<Option<Attempt>, StoreError> {
        self.cache
            .write(Write::DeliverNext, async {
                let sql = format!(
                    "SELECT {DUE_COLUMNS} {DUE_JOINS}
                     WHERE o.channel = ?1 AND o.delivered_at IS NULL AND o.abandoned_at IS NULL
                       AND o.next_attempt_at <= ?2
                     ORDER BY o.next_attempt_at, o.id LIMIT 1"
                );
                let row: Option<DueRow> = self
                    .db
                    .read(|conn| optional(conn, &sql, (channel.as_str(), now.0)))?;
                let Some(delivery) = row.and_then(DueRow::into_delivery) else {
                    return Ok(None);
                };
                let attempt = courier.attempt(&delivery).await;
                let (error, next, delivered, abandoned) = match &attempt {
                    Attempt::Delivered => (None, now.0, Some(now.0), None),
                    Attempt::Failed { error, retry_at } => match retry_at {
                        Some(at) => (Some(clip(error)), at.0, None, None),
                        None => (Some(clip(error)), now.0, None, Some(now.0)),
                    },
                };
                let params = (delivery.id, error, next, delivered, abandoned);
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(&attempt_update(["?1", "?2", "?3", "?4", "?5"]))?
                            .execute(params)?;
                        Ok(())
                    })
                    .await?;
                Ok(Some(attempt))
            })
            .await
    }

    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = records_query(status, "?1", "?2");
        let rows: Vec<RecordRow> = self
            .db
            .read(|conn| all(conn, &sql, (before.unwrap_or(i64::MAX), i64::from(limit))))?;
        Ok(rows
            .into_iter()
            .filter_map(RecordRow::into_record)
            .collect())
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        let row: Option<CountsRow> = self.db.read(|conn| optional(conn, COUNTS_QUERY, []))?;
        Ok(row.map(Into::into).unwrap_or_default())
    }

    async fn retry_delivery(&self, id: i64, now: UnixTime) -> Result<bool, StoreError> {
        self.cache
            .write(Write::RetryDelivery, async {
                let changed = self
                    .db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached(
                                "UPDATE notification_outbox
                                 SET attempts = 0, abandoned_at = NULL, next_attempt_at = ?2
                                 WHERE id = ?1 AND abandoned_at IS NOT NULL AND message_key IS NULL",
                            )?
                            .execute((id, now.0))?)
                    })
                    .await?;
                Ok(changed == 1)
            })
            .await
    }
}
