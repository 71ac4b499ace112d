//! Throttle counters on PostgreSQL: the failures counted under a key, replaced only by a
//! conditional swap (checking the rows affected), so concurrent attempts never lose one.

use super::accounts::ACCOUNT_COLUMNS;
use super::PostgresStore;
use crate::domain::account::Account;
use crate::domain::email::Email;
use crate::domain::throttle::Counter;
use crate::store::rows::{AccountRow, CounterRow};
use crate::store::{PasswordAttempt, StoreError};

/// Takes back one provisional failure under the key `$1`.
pub(super) const REFUND_FAILURE: &str =
    "UPDATE throttle_counters SET failures = failures - 1 WHERE key = $1 AND failures > 0";

pub(super) async fn throttle_counter(
    store: &PostgresStore,
    key: &str,
) -> Result<Option<Counter>, StoreError> {
    let row: Option<CounterRow> = sqlx::query_as(
        "SELECT failures, window_start, locked_until FROM throttle_counters WHERE key = $1",
    )
    .bind(key)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(Counter::from))
}

pub(super) async fn password_attempt(
    store: &PostgresStore,
    address: &str,
    account_key: &str,
    email: Option<&Email>,
) -> Result<PasswordAttempt, StoreError> {
    use sqlx::{FromRow, Row};
    // One statement instead of three: each costs PostgreSQL about as much as the rows
    // it reads, and a password sign-in shares the cores with argon2 (BENCHMARKS.md).
    let row = sqlx::query(&format!(
        "SELECT {ACCOUNT_COLUMNS},
                k1.failures AS k1_failures, k1.window_start AS k1_window_start,
                k1.locked_until AS k1_locked_until,
                k2.failures AS k2_failures, k2.window_start AS k2_window_start,
                k2.locked_until AS k2_locked_until
         FROM (SELECT 1) AS one
         LEFT JOIN throttle_counters k1 ON k1.key = $1
         LEFT JOIN throttle_counters k2 ON k2.key = $2
         LEFT JOIN accounts ON email = $3"
    ))
    .bind(address)
    .bind(account_key)
    .bind(email.map(Email::as_str))
    .fetch_one(&store.pool)
    .await?;
    let counter = |prefix: &str| -> Result<Option<Counter>, sqlx::Error> {
        let column = |name: &str| row.try_get(format!("{prefix}_{name}").as_str());
        Ok(CounterRow::joined(
            column("failures")?,
            column("window_start")?,
            column("locked_until")?,
        ))
    };
    let id: Option<String> = row.try_get("id")?;
    Ok(PasswordAttempt {
        address: counter("k1")?,
        account_counter: counter("k2")?,
        account: match id {
            Some(_) => Some(Account::from(AccountRow::from_row(&row)?)),
            None => None,
        },
    })
}

pub(super) async fn swap_counter(
    store: &PostgresStore,
    key: &str,
    expected: Option<&Counter>,
    new: &Counter,
) -> Result<bool, StoreError> {
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
        .execute(&store.pool)
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
        .execute(&store.pool)
        .await?
        .rows_affected(),
    };
    Ok(changed == 1)
}

pub(super) async fn refund_failure(store: &PostgresStore, key: &str) -> Result<(), StoreError> {
    sqlx::query(REFUND_FAILURE)
        .bind(key)
        .execute(&store.pool)
        .await?;
    Ok(())
}

pub(super) async fn clear_failures(store: &PostgresStore, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM throttle_counters WHERE key = $1")
        .bind(key)
        .execute(&store.pool)
        .await?;
    Ok(())
}
