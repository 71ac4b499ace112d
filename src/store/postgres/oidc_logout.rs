//! The back-channel logout queue on PostgreSQL: the due row is taken
//! `FOR UPDATE SKIP LOCKED` in a transaction that lasts the whole attempt, so no two nodes
//! attempt one delivery, and a node that dies mid-attempt releases it at once.

use async_trait::async_trait;

use super::PostgresStore;
use crate::domain::notification::Attempt;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::oidc_logout::{
    logout_attempt_update, recorded, LogoutCourier, LogoutDelivery, LogoutQueue, LogoutRow,
    OidcLogouts, LOGOUT_COLUMNS, LOGOUT_QUEUE,
};
use crate::store::StoreError;

#[async_trait]
impl OidcLogouts for PostgresStore {
    async fn deliver_next_logout(
        &self,
        now: UnixTime,
        courier: &dyn LogoutCourier,
    ) -> Result<Option<Attempt>, StoreError> {
        self.cache
            .write(Write::DeliverOidcLogout, async {
                let mut tx = self.pool.begin().await?;
                let row: Option<LogoutRow> = sqlx::query_as(&format!(
                    "SELECT {LOGOUT_COLUMNS} FROM oidc_logout_outbox
                     WHERE delivered_at IS NULL AND abandoned_at IS NULL
                       AND next_attempt_at <= $1
                     ORDER BY next_attempt_at, id LIMIT 1
                     FOR UPDATE SKIP LOCKED"
                ))
                .bind(now.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(delivery) = row.map(LogoutDelivery::from) else {
                    return Ok(None);
                };
                let attempt = courier.attempt(&delivery).await;
                let (error, next, delivered, abandoned) = recorded(&attempt, now);
                sqlx::query(&logout_attempt_update(["$1", "$2", "$3", "$4", "$5"]))
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

    async fn logout_queue(&self) -> Result<Vec<LogoutQueue>, StoreError> {
        Ok(sqlx::query_as(LOGOUT_QUEUE).fetch_all(&self.pool).await?)
    }
}
