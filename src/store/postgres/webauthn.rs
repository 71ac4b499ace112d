//! Security keys and passkeys on PostgreSQL (`migrations/postgres/0018_webauthn.sql`): a
//! ceremony spent by one `DELETE … RETURNING`, so of two nodes taking it only one finds the
//! row; a counter moved by one conditional update; a first credential committed with its
//! recovery codes while the account's row is locked, so two first registrations on two
//! nodes cannot both issue a set.

use async_trait::async_trait;

use super::{journal, PostgresStore};
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::domain::webauthn::Purpose;
use crate::store::cache::Write;
use crate::store::rows::conflict_as;
use crate::store::webauthn::{Added, Ceremony, NewCeremony, StoredCredential, WebAuthnStore};
use crate::store::{Constraint, Journal, StoreError};

/// The columns [`Row`] reads, in order.
const COLUMNS: &str =
    "id, account_id, credential_id, name, credential, counter, created_at, last_used_at";

/// A credential's row.
type Row = (
    String,
    String,
    Vec<u8>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);

fn credential(row: Row) -> StoredCredential {
    let (id, account, credential_id, name, credential, counter, created_at, last_used_at) = row;
    StoredCredential {
        id,
        account_id: AccountId(account),
        credential_id,
        name,
        credential,
        counter: u32::try_from(counter).unwrap_or(u32::MAX),
        created_at: UnixTime(created_at),
        last_used_at: last_used_at.map(UnixTime),
    }
}

#[async_trait]
impl WebAuthnStore for PostgresStore {
    async fn open_ceremony(&self, ceremony: &NewCeremony) -> Result<(), StoreError> {
        self.cache
            .write(Write::OpenCeremony, async {
                sqlx::query(
                    "INSERT INTO webauthn_ceremonies
                         (id_hash, purpose, account_id, state, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&ceremony.id_hash.0)
                .bind(ceremony.purpose.as_str())
                .bind(ceremony.account.as_ref().map(AccountId::as_str))
                .bind(&ceremony.state)
                .bind(ceremony.expires_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            })
            .await
    }

    async fn take_ceremony(
        &self,
        id_hash: &TokenHash,
        purpose: Purpose,
        now: UnixTime,
    ) -> Result<Option<Ceremony>, StoreError> {
        self.cache
            .write(Write::TakeCeremony, async {
                let taken: Option<(Option<String>, String)> = sqlx::query_as(
                    "DELETE FROM webauthn_ceremonies
                     WHERE id_hash = $1 AND purpose = $2 AND expires_at > $3
                     RETURNING account_id, state",
                )
                .bind(&id_hash.0)
                .bind(purpose.as_str())
                .bind(now.0)
                .fetch_optional(&self.pool)
                .await?;
                Ok(taken.map(|(account, state)| Ceremony {
                    account: account.map(AccountId),
                    state,
                }))
            })
            .await
    }

    async fn ceremony(
        &self,
        id_hash: &TokenHash,
        purpose: Purpose,
        now: UnixTime,
    ) -> Result<Option<Ceremony>, StoreError> {
        let found: Option<(Option<String>, String)> = sqlx::query_as(
            "SELECT account_id, state FROM webauthn_ceremonies
             WHERE id_hash = $1 AND purpose = $2 AND expires_at > $3",
        )
        .bind(&id_hash.0)
        .bind(purpose.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|(account, state)| Ceremony {
            account: account.map(AccountId),
            state,
        }))
    }

    async fn purge_ceremonies(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.cache
            .write(Write::PurgeCeremonies, async {
                Ok(
                    sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1")
                        .bind(now.0)
                        .execute(&self.pool)
                        .await?
                        .rows_affected(),
                )
            })
            .await
    }

    async fn add_credential(
        &self,
        credential: &StoredCredential,
        recovery_codes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<Added, StoreError> {
        self.cache
            .write(Write::AddCredential, async {
                let account = credential.account_id.as_str();
                let mut tx = self.pool.begin().await?;
                // Two first registrations for one account take turns here, so only one
                // finds itself first.
                let first: Option<bool> = sqlx::query_scalar(
                    "SELECT NOT EXISTS (SELECT 1 FROM webauthn_credentials
                                        WHERE account_id = a.id)
                        AND NOT EXISTS (SELECT 1 FROM two_factor
                                        WHERE account_id = a.id AND secret IS NOT NULL)
                     FROM accounts a WHERE a.id = $1 FOR UPDATE",
                )
                .bind(account)
                .fetch_optional(&mut *tx)
                .await?;
                let first = first.ok_or(StoreError::NotFound)?;
                sqlx::query(
                    "INSERT INTO webauthn_credentials
                         (id, account_id, credential_id, name, credential, counter, created_at,
                          last_used_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
                )
                .bind(&credential.id)
                .bind(account)
                .bind(&credential.credential_id)
                .bind(&credential.name)
                .bind(&credential.credential)
                .bind(i64::from(credential.counter))
                .bind(credential.created_at.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_as(e, Constraint::WebAuthnCredential))?;
                if first {
                    sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
                        .bind(account)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO recovery_codes (account_id, code_hash)
                         SELECT $1, UNNEST($2::bytea[])",
                    )
                    .bind(account)
                    .bind(recovery_codes)
                    .execute(&mut *tx)
                    .await?;
                }
                journal::append_all(&mut tx, journal).await?;
                tx.commit().await?;
                Ok(if first { Added::First } else { Added::Another })
            })
            .await
    }

    async fn credentials(&self, account: &AccountId) -> Result<Vec<StoredCredential>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM webauthn_credentials WHERE account_id = $1
             ORDER BY created_at, id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(credential).collect())
    }

    async fn credential_by_webauthn_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<StoredCredential>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM webauthn_credentials WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(credential))
    }

    async fn rename_credential(
        &self,
        account: &AccountId,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::RenameCredential, async {
                let renamed = sqlx::query(
                    "UPDATE webauthn_credentials SET name = $3
                     WHERE account_id = $1 AND id = $2",
                )
                .bind(account.as_str())
                .bind(id)
                .bind(name)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(renamed == 1)
            })
            .await
    }

    async fn remove_credential(
        &self,
        account: &AccountId,
        id: &str,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::RemoveCredential, async {
                let mut tx = self.pool.begin().await?;
                let removed = sqlx::query(
                    "DELETE FROM webauthn_credentials WHERE account_id = $1 AND id = $2",
                )
                .bind(account.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if removed == 1 {
                    journal::append_all(&mut tx, journal).await?;
                }
                tx.commit().await?;
                Ok(removed == 1)
            })
            .await
    }

    async fn use_credential(
        &self,
        id: &str,
        counter: u32,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::UseCredential, async {
                let used = sqlx::query(
                    "UPDATE webauthn_credentials SET counter = $2, last_used_at = $3
                     WHERE id = $1 AND (counter < $2 OR (counter = 0 AND $2 = 0))",
                )
                .bind(id)
                .bind(i64::from(counter))
                .bind(now.0)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(used == 1)
            })
            .await
    }
}
