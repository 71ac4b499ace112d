//! The [`Outbox`] methods of [`CachedStore`], passed on like the [`Store`](crate::store::Store)
//! methods in `forward.rs`: reads through `read`, and each write through `write` with its
//! [`Write`] (publishing unless exempt in `writes.rs`).

use async_trait::async_trait;

use super::writes::Write;
use super::CachedStore;
use crate::domain::notification::{Attempt, Channel};
use crate::domain::time::UnixTime;
use crate::store::outbox::{Courier, DeliveryCounts, DeliveryRecord, DeliveryStatus, Outbox};
use crate::store::StoreError;

#[async_trait]
impl Outbox for CachedStore {
    async fn deliver_next(
        &self,
        channel: Channel,
        now: UnixTime,
        courier: &dyn Courier,
    ) -> Result<Option<Attempt>, StoreError> {
        self.write(Write::DeliverNext, |s| {
            s.deliver_next(channel, now, courier)
        })
        .await
    }

    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.read(|s| s.deliveries(status, before, limit)).await
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        self.read(|s| s.delivery_counts()).await
    }

    async fn retry_delivery(&self, id: i64, now: UnixTime) -> Result<bool, StoreError> {
        self.write(Write::RetryDelivery, |s| s.retry_delivery(id, now))
            .await
    }
}
