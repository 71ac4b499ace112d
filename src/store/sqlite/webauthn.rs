//! Security keys and passkeys on SQLite (`migrations/sqlite/0018_webauthn.sql`): a
//! ceremony spent by one `DELETE … RETURNING`, a counter moved by one conditional update,
//! and a first credential committed with its recovery codes (one writer at a time, so no
//! second first registration can interleave).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row};

use super::{journal, SqliteStore};
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::domain::webauthn::Purpose;
use crate::store::cache::Write;
use crate::store::rows::conflict_as;
use crate::store::webauthn::{Added, Ceremony, NewCeremony, StoredCredential, WebAuthnStore};
use crate::store::{Constraint, Journal, StoreError};

/// The columns [`credential`] reads, in order.
const COLUMNS: &str =
    "id, account_id, credential_id, name, credential, counter, created_at, last_used_at";

fn credential(row: &Row<'_>) -> rusqlite::Result<StoredCredential> {
    let counter: i64 = row.get(5)?;
    Ok(StoredCredential {
        id: row.get(0)?,
        account_id: AccountId(row.get(1)?),
        credential_id: row.get(2)?,
        name: row.get(3)?,
        credential: row.get(4)?,
        counter: u32::try_from(counter).unwrap_or(u32::MAX),
        created_at: UnixTime(row.get(6)?),
        last_used_at: row.get::<_, Option<i64>>(7)?.map(UnixTime),
    })
}

#[async_trait]
impl WebAuthnStore for SqliteStore {
    async fn open_ceremony(&self, ceremony: &NewCeremony) -> Result<(), StoreError> {
        self.cache
            .write(Write::OpenCeremony, async {
                let params = (
                    ceremony.id_hash.0.clone(),
                    ceremony.purpose.as_str(),
                    ceremony.account.as_ref().map(|a| a.as_str().to_owned()),
                    ceremony.state.clone(),
                    ceremony.expires_at.0,
                );
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "INSERT INTO webauthn_ceremonies
                                 (id_hash, purpose, account_id, state, expires_at)
                             VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params)?;
                        Ok(())
                    })
                    .await
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
                let params = (id_hash.0.clone(), purpose.as_str(), now.0);
                self.db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached(
                                "DELETE FROM webauthn_ceremonies
                                 WHERE id_hash = ?1 AND purpose = ?2 AND expires_at > ?3
                                 RETURNING account_id, state",
                            )?
                            .query_row(params, |row| {
                                Ok(Ceremony {
                                    account: row.get::<_, Option<String>>(0)?.map(AccountId),
                                    state: row.get(1)?,
                                })
                            })
                            .optional()?)
                    })
                    .await
            })
            .await
    }

    async fn ceremony(
        &self,
        id_hash: &TokenHash,
        purpose: Purpose,
        now: UnixTime,
    ) -> Result<Option<Ceremony>, StoreError> {
        self.db.read(|conn| {
            conn.prepare_cached(
                "SELECT account_id, state FROM webauthn_ceremonies
                 WHERE id_hash = ?1 AND purpose = ?2 AND expires_at > ?3",
            )?
            .query_row((&id_hash.0, purpose.as_str(), now.0), |row| {
                Ok(Ceremony {
                    account: row.get::<_, Option<String>>(0)?.map(AccountId),
                    state: row.get(1)?,
                })
            })
            .optional()
        })
    }

    async fn purge_ceremonies(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.cache
            .write(Write::PurgeCeremonies, async {
                self.db
                    .write(move |tx| {
                        let purged = tx
                            .prepare_cached(
                                "DELETE FROM webauthn_ceremonies WHERE expires_at <= ?1",
                            )?
                            .execute([now.0])?;
                        Ok(purged as u64)
                    })
                    .await
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
                let (new, codes) = (credential.clone(), recovery_codes.to_vec());
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        let account = new.account_id.as_str();
                        let first: bool = tx
                            .prepare_cached(
                                "SELECT NOT EXISTS (SELECT 1 FROM webauthn_credentials
                                                    WHERE account_id = ?1)
                                    AND NOT EXISTS (SELECT 1 FROM two_factor
                                                    WHERE account_id = ?1
                                                      AND secret IS NOT NULL)",
                            )?
                            .query_row([account], |row| row.get(0))?;
                        tx.prepare_cached(
                            "INSERT INTO webauthn_credentials
                                 (id, account_id, credential_id, name, credential, counter,
                                  created_at, last_used_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)",
                        )?
                        .execute((
                            &new.id,
                            account,
                            &new.credential_id,
                            &new.name,
                            &new.credential,
                            i64::from(new.counter),
                            new.created_at.0,
                        ))
                        .map_err(|e| conflict_as(e, Constraint::WebAuthnCredential))?;
                        if first {
                            tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                                .execute([account])?;
                            for hash in &codes {
                                tx.prepare_cached(
                                    "INSERT INTO recovery_codes (account_id, code_hash)
                                     VALUES (?1, ?2)",
                                )?
                                .execute((account, hash))?;
                            }
                        }
                        journal::append_all(tx, Journal::new(&events, channels))?;
                        Ok(if first { Added::First } else { Added::Another })
                    })
                    .await
            })
            .await
    }

    async fn credentials(&self, account: &AccountId) -> Result<Vec<StoredCredential>, StoreError> {
        self.db.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webauthn_credentials WHERE account_id = ?1
                 ORDER BY created_at, id"
            ))?
            .query_map([account.as_str()], credential)?
            .collect()
        })
    }

    async fn credential_by_webauthn_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<StoredCredential>, StoreError> {
        self.db.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webauthn_credentials WHERE credential_id = ?1"
            ))?
            .query_row([credential_id], credential)
            .optional()
        })
    }

    async fn rename_credential(
        &self,
        account: &AccountId,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::RenameCredential, async {
                let params = (account.as_str().to_owned(), id.to_owned(), name.to_owned());
                let renamed = self
                    .db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached(
                                "UPDATE webauthn_credentials SET name = ?3
                                 WHERE account_id = ?1 AND id = ?2",
                            )?
                            .execute(params)?)
                    })
                    .await?;
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
                let (account, id) = (account.as_str().to_owned(), id.to_owned());
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        let removed = tx
                            .prepare_cached(
                                "DELETE FROM webauthn_credentials
                                 WHERE account_id = ?1 AND id = ?2",
                            )?
                            .execute((&account, &id))?;
                        if removed == 1 {
                            journal::append_all(tx, Journal::new(&events, channels))?;
                        }
                        Ok(removed == 1)
                    })
                    .await
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
                let params = (id.to_owned(), i64::from(counter), now.0);
                let used = self
                    .db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached(
                                "UPDATE webauthn_credentials SET counter = ?2, last_used_at = ?3
                                 WHERE id = ?1 AND (counter < ?2 OR (counter = 0 AND ?2 = 0))",
                            )?
                            .execute(params)?)
                    })
                    .await?;
                Ok(used == 1)
            })
            .await
    }
}
