//! The authenticator on SQLite: enrolment, the single-use TOTP step (one conditional
//! update), turning two-factor off, and the open lost-device reset requests. A reset and a
//! filed request commit together with their events, in `journal.rs`.

use async_trait::async_trait;

use super::decode::optional;
use super::{journal, SqliteStore};
use crate::domain::ids::AccountId;
use crate::domain::sealed::Sealed;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::store::cache::Write;
use crate::store::rows::TwoFactorRow;
use crate::store::{Journal, StoreError, TwoFactors};

#[async_trait]
impl TwoFactors for SqliteStore {
    async fn two_factor(&self, account: &AccountId) -> Result<TwoFactorRecord, StoreError> {
        let row: Option<TwoFactorRow> = self.db.read(|conn| {
            optional(
                conn,
                "SELECT t.key_id, t.secret, t.enabled_at, COALESCE(t.last_step, -1) AS last_step,
                        t.pending_key_id, t.pending_secret, t.pending_expires_at,
                        (SELECT COUNT(*) FROM webauthn_credentials w WHERE w.account_id = a.id)
                            AS webauthn_keys
                 FROM accounts a LEFT JOIN two_factor t ON t.account_id = a.id
                 WHERE a.id = ?1",
                [account.as_str()],
            )
        })?;
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
                let params = (
                    account.as_str().to_owned(),
                    secret.key_id.0.clone(),
                    secret.blob.clone(),
                    expires_at.0,
                );
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "INSERT INTO two_factor
                                 (account_id, pending_key_id, pending_secret, pending_expires_at)
                             VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (account_id) DO UPDATE SET
                                 pending_key_id = excluded.pending_key_id,
                                 pending_secret = excluded.pending_secret,
                                 pending_expires_at = excluded.pending_expires_at",
                        )?
                        .execute(params)?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), StoreError> {
        self.cache
            .write(Write::AbandonEnrollment, async {
                let account = account.as_str().to_owned();
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "UPDATE two_factor
                             SET pending_key_id = NULL, pending_secret = NULL,
                                 pending_expires_at = NULL
                             WHERE account_id = ?1",
                        )?
                        .execute([account])?;
                        Ok(())
                    })
                    .await
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
                    let (account, pending) = (account.as_str().to_owned(), pending.blob.clone());
                    let hashes = recovery_hashes.to_vec();
                    let (events, channels) = (journal.events.to_vec(), journal.channels);
                    self.db
                        .write(move |tx| {
                            let swapped = tx
                                .prepare_cached(
                                    "UPDATE two_factor
                                     SET key_id = pending_key_id, secret = pending_secret,
                                         enabled_at = ?3, last_step = ?4,
                                         pending_key_id = NULL, pending_secret = NULL,
                                         pending_expires_at = NULL
                                     WHERE account_id = ?1 AND pending_secret = ?2
                                       AND pending_expires_at > ?3",
                                )?
                                .execute((&account, &pending, now.0, step))?;
                            if swapped != 1 {
                                return Ok(false);
                            }
                            tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                                .execute([&account])?;
                            for hash in &hashes {
                                tx.prepare_cached(
                        "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)",
                    )?
                    .execute((&account, hash))?;
                            }
                            journal::append_all(tx, Journal::new(&events, channels))?;
                            Ok(true)
                        })
                        .await
                },
                |confirmed| *confirmed,
            )
            .await
    }

    async fn accept_step(&self, account: &AccountId, step: i64) -> Result<bool, StoreError> {
        self.cache
            .write(Write::AcceptStep, async {
                let account = account.as_str().to_owned();
                // Security: one conditional update decides, so two requests (on any process) with
                // the same code cannot both be accepted.
                let accepted = self
                    .db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached(
                                "UPDATE two_factor SET last_step = ?2
                                 WHERE account_id = ?1 AND secret IS NOT NULL AND last_step < ?2",
                            )?
                            .execute((account, step))?)
                    })
                    .await?;
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
                let account = account.as_str().to_owned();
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        let deleted = tx
                    .prepare_cached(
                        "DELETE FROM two_factor WHERE account_id = ?1 AND secret IS NOT NULL",
                    )?
                    .execute([&account])?;
                        tx.prepare_cached("DELETE FROM two_factor WHERE account_id = ?1")?
                            .execute([&account])?;
                        // Every second factor goes: security keys and passkeys too.
                        let keys = tx
                            .prepare_cached(
                                "DELETE FROM webauthn_credentials WHERE account_id = ?1",
                            )?
                            .execute([&account])?;
                        let deleted = deleted + keys;
                        tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                            .execute([&account])?;
                        // SPEC §12: two-factor turned off ends every OpenID Connect token
                        // the account holds (and codes not yet exchanged).
                        for table in OIDC_TOKEN_TABLES {
                            tx.prepare_cached(&format!(
                                "DELETE FROM {table} WHERE account_id = ?1"
                            ))?
                            .execute([&account])?;
                        }
                        if deleted > 0 {
                            // SPEC §14: turning two-factor off revokes the API tokens.
                            if let Some(cause) = events.first() {
                                super::api_tokens::revoke_all(tx, &account, cause)?;
                            }
                            journal::append_all(tx, Journal::new(&events, channels))?;
                        }
                        Ok(deleted > 0)
                    })
                    .await
            })
            .await
    }
}

/// What ends when two-factor is turned off: the account's OpenID Connect tokens and codes.
const OIDC_TOKEN_TABLES: [&str; 3] = ["oidc_refresh_tokens", "oidc_access_tokens", "oidc_codes"];
