//! The audit trail on SQLite: recording an event (with its deliveries) and reading it by
//! account, by workspace, or filtered for the admin area. Appending inside another change's
//! transaction is `journal.rs`.

use async_trait::async_trait;

use super::decode::all;
use super::{journal, SqliteStore};
use crate::domain::event::{Event, EventFilter, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::store::cache::Write;
use crate::store::rows::EventRow;
use crate::store::{Events, StoreError};

#[async_trait]
impl Events for SqliteStore {
    async fn record_event(&self, event: &NewEvent, channels: Channels) -> Result<(), StoreError> {
        self.cache
            .write(Write::RecordEvent, async {
                let event = event.clone();
                // The event and its deliveries commit together: no notification without its
                // event, and no notifiable event without its notifications.
                self.db
                    .write(move |tx| {
                        journal::append(tx, &event, channels)?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn account_events(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = self.db.read(|conn| {
            all(
                conn,
                "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
                 FROM security_events WHERE account_id = ?1 AND id < ?2
                 ORDER BY id DESC LIMIT ?3",
                (
                    account.as_str(),
                    before.unwrap_or(i64::MAX),
                    i64::from(limit),
                ),
            )
        })?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = self.db.read(|conn| {
            all(
                conn,
                "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
                 FROM security_events WHERE workspace_id = ?1 AND id < ?2
                 ORDER BY id DESC LIMIT ?3",
                (workspace, before.unwrap_or(i64::MAX), i64::from(limit)),
            )
        })?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = self.db.read(|conn| {
            all(
                conn,
                "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
                 FROM security_events
                 WHERE id < ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR account_id = ?3)
                   AND at >= ?4 AND at < ?5
                 ORDER BY id DESC LIMIT ?6",
                (
                    filter.before.unwrap_or(i64::MAX),
                    &filter.kind,
                    filter.account.as_ref().map(AccountId::as_str),
                    filter.since.map_or(i64::MIN, |t| t.0),
                    filter.until.map_or(i64::MAX, |t| t.0),
                    i64::from(limit),
                ),
            )
        })?;
        Ok(rows.into_iter().map(Event::from).collect())
    }
}
