//! The audit trail on PostgreSQL: recording an event (with its deliveries) and reading it by
//! account, by workspace, or filtered for the admin area. Appending inside another change's
//! transaction is `journal.rs`.

use async_trait::async_trait;

use super::{journal, PostgresStore};
use crate::domain::event::{Event, EventFilter, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::store::cache::Write;
use crate::store::rows::EventRow;
use crate::store::{notifies, Events, StoreError};

#[async_trait]
impl Events for PostgresStore {
    async fn record_event(&self, event: &NewEvent, channels: Channels) -> Result<(), StoreError> {
        self.cache
            .write(Write::RecordEvent, async {
                if !notifies(event, channels) {
                    let mut conn = self.pool.acquire().await?;
                    journal::append(&mut conn, event, channels).await?;
                    return Ok(());
                }
                // The event and its deliveries commit together: no notification without its
                // event, and no notifiable event without its notifications.
                let mut tx = self.pool.begin().await?;
                journal::append(&mut tx, event, channels).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    async fn account_events(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
             FROM security_events WHERE account_id = $1 AND id < $2
             ORDER BY id DESC LIMIT $3",
        )
        .bind(account.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
             FROM security_events WHERE workspace_id = $1 AND id < $2
             ORDER BY id DESC LIMIT $3",
        )
        .bind(workspace)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
             FROM security_events
             WHERE id < $1 AND ($2::TEXT IS NULL OR kind = $2::TEXT)
                 AND ($3::TEXT IS NULL OR account_id = $3::TEXT)
               AND at >= $4 AND at < $5
             ORDER BY id DESC LIMIT $6",
        )
        .bind(filter.before.unwrap_or(i64::MAX))
        .bind(&filter.kind)
        .bind(filter.account.as_ref().map(AccountId::as_str))
        .bind(filter.since.map_or(i64::MIN, |t| t.0))
        .bind(filter.until.map_or(i64::MAX, |t| t.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }
}
