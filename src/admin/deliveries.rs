//! Notification deliveries as an admin sees them: what is pending, retrying, delivered or
//! abandoned, with the last failure, and sending an abandoned one again.

use super::{Admin, Error};
use crate::domain::paging::next_key;
use crate::domain::time::UnixTime;
use crate::store::outbox::{DeliveryCounts, DeliveryRecord, DeliveryStatus};

/// A page of deliveries with the totals.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    /// Newest first.
    pub deliveries: Vec<DeliveryRecord>,
    /// How many stand where, over all deliveries.
    pub counts: DeliveryCounts,
    /// The id to continue before, when more follow.
    pub next_before: Option<i64>,
}

impl Admin {
    /// Up to `limit` deliveries, newest first, with ids below `before`, only those in
    /// `status` (`pending`, `retrying`, `delivered` or `abandoned`) when given.
    pub async fn deliveries(
        &self,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<DeliveryPage, Error> {
        let status = match status {
            None => None,
            Some(name) => Some(DeliveryStatus::parse(name).ok_or(Error::InvalidStatus)?),
        };
        let mut found = self.store.deliveries(status, before, limit + 1).await?;
        let next_before = next_key(&mut found, limit, |d| d.id);
        let counts = self.store.delivery_counts().await?;
        Ok(DeliveryPage {
            deliveries: found,
            counts,
            next_before,
        })
    }

    /// Sends the abandoned delivery `id` again, with a fresh set of attempts, from `now`.
    pub async fn retry_delivery(&self, id: &str, now: UnixTime) -> Result<(), Error> {
        let id: i64 = id.parse().map_err(|_| Error::NotFound)?;
        if self.store.retry_delivery(id, now).await? {
            self.notifier.wake();
            return Ok(());
        }
        let exists = self
            .store
            .deliveries(None, Some(id.saturating_add(1)), 1)
            .await?
            .first()
            .is_some_and(|d| d.id == id);
        Err(if exists {
            Error::NotAbandoned
        } else {
            Error::NotFound
        })
    }
}
