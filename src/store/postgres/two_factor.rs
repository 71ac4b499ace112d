//! The authenticator on PostgreSQL: enrolment, the single-use TOTP step (one conditional
//! update), turning two-factor off, and the open lost-device reset requests. A reset and a
//! filed request commit together with their events, in `journal.rs`.

use super::{journal, PostgresStore};
use crate::domain::ids::AccountId;
use crate::domain::sealed::Sealed;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::store::rows::{ResetRequestRow, TwoFactorRow};
use crate::store::{Journal, ResetRequest, StoreError};

pub(super) async fn two_factor(
    store: &PostgresStore,
    account: &AccountId,
) -> Result<TwoFactorRecord, StoreError> {
    let row: Option<TwoFactorRow> = sqlx::query_as(
        "SELECT key_id, secret, enabled_at, last_step, pending_key_id, pending_secret,
                pending_expires_at
         FROM two_factor WHERE account_id = $1",
    )
    .bind(account.as_str())
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(TwoFactorRecord::from).unwrap_or_default())
}

pub(super) async fn start_enrollment(
    store: &PostgresStore,
    account: &AccountId,
    secret: &Sealed,
    expires_at: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO two_factor (account_id, pending_key_id, pending_secret, pending_expires_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id) DO UPDATE SET
             pending_key_id = excluded.pending_key_id,
             pending_secret = excluded.pending_secret,
             pending_expires_at = excluded.pending_expires_at",
    )
    .bind(account.as_str())
    .bind(&secret.key_id.0)
    .bind(&secret.blob)
    .bind(expires_at.0)
    .execute(&store.pool)
    .await?;
    Ok(())
}

pub(super) async fn abandon_enrollment(
    store: &PostgresStore,
    account: &AccountId,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE two_factor
         SET pending_key_id = NULL, pending_secret = NULL, pending_expires_at = NULL
         WHERE account_id = $1",
    )
    .bind(account.as_str())
    .execute(&store.pool)
    .await?;
    Ok(())
}

pub(super) async fn confirm_enrollment(
    store: &PostgresStore,
    account: &AccountId,
    pending: &Sealed,
    step: i64,
    now: UnixTime,
    recovery_hashes: &[Vec<u8>],
    journal: Journal<'_>,
) -> Result<bool, StoreError> {
    let mut tx = store.pool.begin().await?;
    let swapped = sqlx::query(
        "UPDATE two_factor
         SET key_id = pending_key_id, secret = pending_secret, enabled_at = $3,
             last_step = $4, pending_key_id = NULL, pending_secret = NULL,
             pending_expires_at = NULL
         WHERE account_id = $1 AND pending_secret = $2 AND pending_expires_at > $3",
    )
    .bind(account.as_str())
    .bind(&pending.blob)
    .bind(now.0)
    .bind(step)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if swapped != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
    for hash in recovery_hashes {
        sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)")
            .bind(account.as_str())
            .bind(hash)
            .execute(&mut *tx)
            .await?;
    }
    journal::append_all(&mut tx, journal).await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn accept_step(
    store: &PostgresStore,
    account: &AccountId,
    step: i64,
) -> Result<bool, StoreError> {
    // Security: one conditional update decides, so two requests (on any nodes) with
    // the same code cannot both be accepted.
    let accepted = sqlx::query(
        "UPDATE two_factor SET last_step = $2
         WHERE account_id = $1 AND secret IS NOT NULL AND last_step < $2",
    )
    .bind(account.as_str())
    .bind(step)
    .execute(&store.pool)
    .await?
    .rows_affected();
    Ok(accepted == 1)
}

pub(super) async fn disable_two_factor(
    store: &PostgresStore,
    account: &AccountId,
    journal: Journal<'_>,
) -> Result<bool, StoreError> {
    let mut tx = store.pool.begin().await?;
    let deleted =
        sqlx::query("DELETE FROM two_factor WHERE account_id = $1 AND secret IS NOT NULL")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    sqlx::query("DELETE FROM two_factor WHERE account_id = $1")
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
    if deleted == 1 {
        journal::append_all(&mut tx, journal).await?;
    }
    tx.commit().await?;
    Ok(deleted == 1)
}

pub(super) async fn open_reset_requests(
    store: &PostgresStore,
) -> Result<Vec<ResetRequest>, StoreError> {
    let rows: Vec<ResetRequestRow> = sqlx::query_as(
        "SELECT r.id, r.account_id, a.email, r.message, r.created_at
         FROM reset_requests r JOIN accounts a ON a.id = r.account_id
         WHERE r.closed_at IS NULL ORDER BY r.created_at, r.id",
    )
    .fetch_all(&store.pool)
    .await?;
    Ok(rows.into_iter().map(ResetRequest::from).collect())
}
