//! Throttle counters on SQLite: the failures counted under a key, replaced only by a
//! conditional swap (checking the rows affected), so concurrent attempts never lose one.

use super::decode::optional;
use super::SqliteStore;
use crate::domain::throttle::Counter;
use crate::store::rows::CounterRow;
use crate::store::StoreError;

/// Takes back one provisional failure under the key `?1`.
pub(super) const REFUND_FAILURE: &str =
    "UPDATE throttle_counters SET failures = failures - 1 WHERE key = ?1 AND failures > 0";

pub(super) async fn throttle_counter(
    store: &SqliteStore,
    key: &str,
) -> Result<Option<Counter>, StoreError> {
    let row: Option<CounterRow> = store.db.read(|conn| {
        optional(
            conn,
            "SELECT failures, window_start, locked_until FROM throttle_counters WHERE key = ?1",
            [key],
        )
    })?;
    Ok(row.map(Counter::from))
}

pub(super) async fn swap_counter(
    store: &SqliteStore,
    key: &str,
    expected: Option<&Counter>,
    new: &Counter,
) -> Result<bool, StoreError> {
    let (key, expected, new) = (key.to_owned(), expected.copied(), *new);
    let changed = store
        .db
        .write(move |tx| {
            Ok(match expected {
                None => tx
                    .prepare_cached(
                        "INSERT INTO throttle_counters (key, failures, window_start, locked_until)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (key) DO UPDATE
                         SET failures = excluded.failures, window_start = excluded.window_start,
                             locked_until = excluded.locked_until
                         WHERE throttle_counters.failures = 0",
                    )?
                    .execute((&key, new.failures, new.window_start.0, new.locked_until.0))?,
                Some(old) => tx
                    .prepare_cached(
                        "UPDATE throttle_counters
                         SET failures = ?2, window_start = ?3, locked_until = ?4
                         WHERE key = ?1 AND failures = ?5 AND window_start = ?6
                           AND locked_until = ?7",
                    )?
                    .execute((
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
}

pub(super) async fn refund_failure(store: &SqliteStore, key: &str) -> Result<(), StoreError> {
    let key = key.to_owned();
    store
        .db
        .write(move |tx| {
            tx.prepare_cached(REFUND_FAILURE)?.execute([key])?;
            Ok(())
        })
        .await
}

pub(super) async fn clear_failures(store: &SqliteStore, key: &str) -> Result<(), StoreError> {
    let key = key.to_owned();
    store
        .db
        .write(move |tx| {
            tx.prepare_cached("DELETE FROM throttle_counters WHERE key = ?1")?
                .execute([key])?;
            Ok(())
        })
        .await
}
