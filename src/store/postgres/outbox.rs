//! The outbox on PostgreSQL, worked by every node at once. The due row is locked with
//! `FOR UPDATE SKIP LOCKED` in a transaction that lasts the whole attempt: other workers
//! skip it meanwhile, and if this node dies the lock goes with its connection, so the row
//! is due again at once and is never lost.

use async_trait::async_trait;

use super::PostgresStore;
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
pub(super) async fn enqueue(
    conn: &mut sqlx::PgConnection,
    event_id: i64,
    event: &NewEvent,
    channels: Channels,
) -> Result<(), StoreError> {
    let Some(audience) = audience(event.kind) else {
        return Ok(());
    };
    for channel in channels.enabled() {
        let (recipients, owner) = match (channel, audience) {
            (Channel::Webhook, _) => ("SELECT NULL AS recipient", None),
            (Channel::Email, Audience::Owner) => match &event.account_id {
                Some(account) => ("SELECT $4 AS recipient", Some(account.as_str())),
                None => continue,
            },
            (Channel::Email, Audience::InstanceAdmins) => {
                ("SELECT id AS recipient FROM accounts WHERE is_admin", None)
            }
        };
        let sql = format!(
            "INSERT INTO notification_outbox
                 (event_id, channel, recipient_id, next_attempt_at, created_at)
             SELECT $1, $2, r.recipient, $3, $3 FROM ({recipients}) AS r"
        );
        let mut insert = sqlx::query(&sql)
            .bind(event_id)
            .bind(channel.as_str())
            .bind(event.at.0);
        if let Some(owner) = owner {
            insert = insert.bind(owner);
        }
        insert.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Queues an e-mail about `event` (just inserted as `event_id`) to `address`, which is no
/// longer an account's (a deleted account's, or the address an account left), inside the
/// event's own transaction.
pub(super) async fn enqueue_to_address(
    conn: &mut sqlx::PgConnection,
    event_id: i64,
    event: &NewEvent,
    address: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notification_outbox
             (event_id, channel, to_address, next_attempt_at, created_at)
         VALUES ($1, 'email', $2, $3, $3)",
    )
    .bind(event_id)
    .bind(address)
    .bind(event.at.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl Outbox for PostgresStore {
    async fn deliver_next(
        &self,
        channel: Channel,
        now: UnixTime,
        courier: &dyn Courier,
    ) -> Result<Option<Attempt>, StoreError> {
        self.cache
            .write(Write::DeliverNext, async {
                let mut tx = self.pool.begin().await?;
                let row: Option<DueRow> = sqlx::query_as(&format!(
                    "SELECT {DUE_COLUMNS} {DUE_JOINS}
                     WHERE o.channel = $1 AND o.delivered_at IS NULL AND o.abandoned_at IS NULL
                       AND o.next_attempt_at <= $2
                     ORDER BY o.next_attempt_at, o.id LIMIT 1
                     FOR UPDATE OF o SKIP LOCKED"
                ))
                .bind(channel.as_str())
                .bind(now.0)
                .fetch_optional(&mut *tx)
                .await?;
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
                sqlx::query(&attempt_update(["$1", "$2", "$3", "$4", "$5"]))
                    .bind(delivery.id)
                    .bind(error)
                    .bind(next)
                    .bind(delivered)
                    .bind(abandoned)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
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
        let rows: Vec<RecordRow> = sqlx::query_as(&records_query(status, "$1", "$2"))
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(RecordRow::into_record)
            .collect())
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        let row: CountsRow = sqlx::query_as(COUNTS_QUERY).fetch_one(&self.pool).await?;
        Ok(row.into())
    }

    async fn retry_delivery(&self, id: i64, now: UnixTime) -> Result<bool, StoreError> {
        self.cache
            .write(Write::RetryDelivery, async {
                let changed = sqlx::query(
                    "UPDATE notification_outbox
                     SET attempts = 0, abandoned_at = NULL, next_attempt_at = $2
                     WHERE id = $1 AND abandoned_at IS NOT NULL AND message_key IS NULL",
                )
                .bind(id)
                .bind(now.0)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(changed == 1)
            })
            .await
    }
}
