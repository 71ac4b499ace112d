//! The back-channel logout queue on SQLite: one process owns the file and runs one worker,
//! so a due row is read, attempted and updated without holding the write lock across the
//! attempt.

use async_trait::async_trait;

use super::decode::{all, optional};
use super::SqliteStore;
use crate::domain::notification::Attempt;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::oidc_logout::{
    logout_attempt_update, recorded, LogoutCourier, LogoutDelivery, LogoutQueue, LogoutRow,
    OidcLogouts, LOGOUT_COLUMNS, LOGOUT_QUEUE,
};
use crate::store::StoreError;

#[async_trait]
impl OidcLogouts for SqliteStore {
    async fn deliver_next_logout(
        &self,
        now: UnixTime,
        courier: &dyn LogoutCourier,
    ) -> Result<Option<Attempt>, StoreError> {
        self.cache
            .write(Write::DeliverOidcLogout, async {
                let sql = format!(
                    "SELECT {LOGOUT_COLUMNS} FROM oidc_logout_outbox
                     WHERE delivered_at IS NULL AND abandoned_at IS NULL
                       AND next_attempt_at <= ?1
                     ORDER BY next_attempt_at, id LIMIT 1"
                );
                let row: Option<LogoutRow> = self.db.read(|conn| optional(conn, &sql, [now.0]))?;
                let Some(delivery) = row.map(LogoutDelivery::from) else {
                    return Ok(None);
                };
                let attempt = courier.attempt(&delivery).await;
                let (error, next, delivered, abandoned) = recorded(&attempt, now);
                let params = (delivery.id, error, next, delivered, abandoned);
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(&logout_attempt_update(["?1", "?2", "?3", "?4", "?5"]))?
                            .execute(params)?;
                        Ok(())
                    })
                    .await?;
                Ok(Some(attempt))
            })
            .await
    }

    async fn logout_queue(&self) -> Result<Vec<LogoutQueue>, StoreError> {
        Ok(self.db.read(|conn| all(conn, LOGOUT_QUEUE, []))?)
    }
}
