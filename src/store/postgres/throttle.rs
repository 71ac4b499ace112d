//! Throttle counters on PostgreSQL: the failures counted under a key, replaced only by a
//! conditional swap (checking the rows affected), so concurrent attempts never lose one.

use async_trait::async_trait;

use super::PostgresStore;
use crate::domain::throttle::Counter;
use crate::store::cache::Write;
use crate::store::rows::CounterRow;
use crate::store::{StoreError, Throttles};

/// Takes back one provisional failure under the key `$1`.
pub(super) const REFUND_FAILURE: &str =
    "UPDATE throttle_counters SET failures = failures - 1 WHERE key = $1 AND failures > 0";

#[async_trait]
impl Throttles for PostgresStore {
    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let row: Option<CounterRow> = sqlx::query_as(
            "SELECT failures, window_start, locked_until FROM throttle_counters WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Counter::from))
    }

    async fn swap_counter(
        &self,
        key: &str,
        expected: Option<&Counter>,
        new: &Counter,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::SwapCounter, async {
                let changed = match expected {
                    None => sqlx::query(
                        "INSERT INTO throttle_counters (key, failures, window_start, locked_until)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (key) DO UPDATE
                         SET failures = EXCLUDED.failures, window_start = EXCLUDED.window_start,
                             locked_until = EXCLUDED.locked_until
                         WHERE throttle_counters.failures = 0",
                    )
                    .bind(key)
                    .bind(i64::from(new.failures))
                    .bind(new.window_start.0)
                    .bind(new.locked_until.0)
                    .execute(&self.pool)
                    .await?
                    .rows_affected(),
                    Some(old) => sqlx::query(
                        "UPDATE throttle_counters
                         SET failures = $2, window_start = $3, locked_until = $4
                         WHERE key = $1 AND failures = $5 AND window_start = $6
                           AND locked_until = $7",
                    )
                    .bind(key)
                    .bind(i64::from(new.failures))
                    .bind(new.window_start.0)
                    .bind(new.locked_until.0)
                    .bind(i64::from(old.failures))
                    .bind(old.window_start.0)
                    .bind(old.locked_until.0)
                    .execute(&self.pool)
                    .await?
                    .rows_affected(),
                };
                Ok(changed == 1)
            })
            .await
    }

    async fn refund_failure(&self, key: &str) -> Result<(), StoreError> {
        self.cache
            .write(Write::RefundFailure, async {
                sqlx::query(REFUND_FAILURE)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            })
            .await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.cache
            .write(Write::ClearFailures, async {
                sqlx::query("DELETE FROM throttle_counters WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            })
            .await
    }
}
