//! The authenticator on PostgreSQL: enrolment, the single-use TOTP step (one conditional
//! update) and turning two-factor off. An admin reset is in `admin.rs`.

use async_trait::async_trait;

use super::{journal, PostgresStore};
use crate::domain::ids::AccountId;
use crate::domain::sealed::Sealed;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::store::cache::Write;
use crate::store::rows::TwoFactorRow;
use crate::store::{Journal, StoreError, TwoFactors};

#[async_trait]
impl TwoFactors for PostgresStore {
    async fn two_factor(&self, account: &AccountId) -> Result<TwoFactorRecord, StoreError> {
        let row: Option<TwoFactorRow> = sqlx::query_as(
            "SELECT t.key_id, t.secret, t.enabled_at, COALESCE(t.last_step, -1) AS last_step,
                    t.pending_key_id, t.pending_secret, t.pending_expires_at,
                    (SELECT COUNT(*) FROM webauthn_credentials w WHERE w.account_id = a.id)
                        AS webauthn_keys
             FROM accounts a LEFT JOIN two_factor t ON t.account_id = a.id WHERE a.id = $1",
        )
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(TwoFactorRecord::from).unwrap_or_default())
    }

    async fn start_enrollment(
        &self,
        account: &AccountId,
        secret: &Sealed,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::StartEnrollment, async {
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
        .execute(&self.pool)
        .await?;
                Ok(())
            })
            .await
    }

    async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), StoreError> {
        self.cache
            .write(Write::AbandonEnrollment, async {
                sqlx::query(
                    "UPDATE two_factor
                     SET pending_key_id = NULL, pending_secret = NULL, pending_expires_at = NULL
                     WHERE account_id = $1",
                )
                .bind(account.as_str())
                .execute(&self.pool)
                .await?;
                Ok(())
            })
            .await
    }

    async fn confirm_enrollment(
        &self,
        account: &AccountId,
        pending: &Sealed,
        step: i64,
        now: UnixTime,
        recovery_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        self.cache
            .write_if(
                Write::ConfirmEnrollment,
                async {
                    let mut tx = self.pool.begin().await?;
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
                        sqlx::query(
                            "INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)",
                        )
                        .bind(account.as_str())
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                    }
                    journal::append_all(&mut tx, journal).await?;
                    tx.commit().await?;
                    Ok(true)
                },
                |confirmed| *confirmed,
            )
            .await
    }

    async fn accept_step(&self, account: &AccountId, step: i64) -> Result<bool, StoreError> {
        self.cache
            .write(Write::AcceptStep, async {
                // Security: one conditional update decides, so two requests (on any nodes) with
                // the same code cannot both be accepted.
                let accepted = sqlx::query(
                    "UPDATE two_factor SET last_step = $2
                     WHERE account_id = $1 AND secret IS NOT NULL AND last_step < $2",
                )
                .bind(account.as_str())
                .bind(step)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(accepted == 1)
            })
            .await
    }

    async fn disable_two_factor(
        &self,
        account: &AccountId,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::DisableTwoFactor, async {
                let mut tx = self.pool.begin().await?;
                let deleted = sqlx::query(
                    "DELETE FROM two_factor WHERE account_id = $1 AND secret IS NOT NULL",
                )
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query("DELETE FROM two_factor WHERE account_id = $1")
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await?;
                // Every second factor goes: security keys and passkeys too.
                let deleted = deleted
                    + sqlx::query("DELETE FROM webauthn_credentials WHERE account_id = $1")
                        .bind(account.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await?;
                // SPEC §12: two-factor turned off ends every OpenID Connect token the
                // account holds (and codes not yet exchanged).
                for table in ["oidc_refresh_tokens", "oidc_access_tokens", "oidc_codes"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                        .bind(account.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                if deleted > 0 {
                    // SPEC §14: turning two-factor off revokes the account's API tokens.
                    if let Some(cause) = journal.events.first() {
                        super::api_tokens::revoke_all(&mut tx, account.as_str(), cause).await?;
                    }
                    journal::append_all(&mut tx, journal).await?;
                }
                tx.commit().await?;
                Ok(deleted > 0)
            })
            .await
    }
}
