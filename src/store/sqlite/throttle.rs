//! Throttle counters on SQLite: the failures counted under a key, replaced only by a
//! conditional swap (checking the rows affected), so concurrent attempts never lose one.

use async_trait::async_trait;

use super::decode::optional;
use super::SqliteStore;
use crate::domain::throttle::Counter;
use crate::store::cache::Write;
use crate::store::rows::CounterRow;
use crate::store::{StoreError, Throttles};

/// Takes back one provisional failure under the key `?1`.
pub(super) const REFUND_FAILURE: &str =
    "UPDATE throttle_counters SET failures = failures - 1 WHERE key = ?1 AND failures > 0";

/// Stores counter `?2`–`?4` under key `?1` when it holds no failures (no row, or one that
/// counts none).
const SWAP_FROM_NO_FAILURES: &str =
    "INSERT INTO throttle_counters (key, failures, window_start, locked_until)
     VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (key) DO UPDATE
     SET failures = excluded.failures, window_start = excluded.window_start,
         locked_until = excluded.locked_until
     WHERE throttle_counters.failures = 0";

/// Replaces the counter under key `?1` with `?2`–`?4` when it still holds `?5`–`?7`.
const SWAP_FROM_VALUE: &str = "UPDATE throttle_counters
     SET failures = ?2, window_start = ?3, locked_until = ?4
     WHERE key = ?1 AND failures = ?5 AND window_start = ?6 AND locked_until = ?7";

#[async_trait]
impl Throttles for SqliteStore {
    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let row: Option<CounterRow> = self.db.read(|conn| {
            optional(
                conn,
                "SELECT failures, window_start, locked_until FROM throttle_counters WHERE key = ?1",
                [key],
            )
        })?;
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
                let (key, expected, new) = (key.to_owned(), expected.copied(), *new);
                let changed = self
                    .db
                    .write(move |tx| {
                        Ok(match expected {
                            None => tx.prepare_cached(SWAP_FROM_NO_FAILURES)?.execute((
                                &key,
                                new.failures,
                                new.window_start.0,
                                new.locked_until.0,
                            ))?,
                            Some(old) => tx.prepare_cached(SWAP_FROM_VALUE)?.execute((
                                &key,
                                new.failures,
                                new.window_start.0,
                                new.locked_until.0,
                                old.failures,
                                old.window_start.0,
                                old.locked_until.0,
                            ))?,
                        })
                    })
                    .await?;
                Ok(changed == 1)
            })
            .await
    }

    async fn refund_failure(&self, key: &str) -> Result<(), StoreError> {
        self.cache
            .write(Write::RefundFailure, async {
                let key = key.to_owned();
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(REFUND_FAILURE)?.execute([key])?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.cache
            .write(Write::ClearFailures, async {
                let key = key.to_owned();
                self.db
                    .write(move |tx| {
                        tx.prepare_cached("DELETE FROM throttle_counters WHERE key = ?1")?
                            .execute([key])?;
                        Ok(())
                    })
                    .await
            })
            .await
    }
}
