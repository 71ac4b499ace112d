//! Sealed secrets on SQLite: the named instance secrets (the first node to store one
//! wins), and the inventory and conditional re-seal that `deadbolt keys rotate` uses.

use async_trait::async_trait;

use rusqlite::OptionalExtension;

use super::decode::all;
use super::SqliteStore;
use crate::domain::sealed::{KeyId, Sealed};
use crate::store::cache::{Key, Write};
use crate::store::rows::SealedRow;
use crate::store::{SealedSlot, Secrets, StoreError};

#[async_trait]
impl Secrets for SqliteStore {
    async fn instance_secret(&self, name: &str) -> Result<Option<Sealed>, StoreError> {
        self.cache
            .remembered(Key::Secret(name.to_owned()), async {
                let row: Option<(String, Vec<u8>)> = self.db.read(|conn| {
                    conn.prepare_cached(
                        "SELECT key_id, sealed FROM instance_secrets WHERE name = ?1",
                    )?
                    .query_row([name], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
                })?;
                Ok(row.map(|(key_id, blob)| Sealed {
                    key_id: KeyId(key_id),
                    blob,
                }))
            })
            .await
    }

    async fn insert_instance_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError> {
        self.cache
            .write(Write::InsertInstanceSecret, async {
                let params = (
                    name.to_owned(),
                    sealed.key_id.0.clone(),
                    sealed.blob.clone(),
                );
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                    "INSERT INTO instance_secrets (name, key_id, sealed) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO NOTHING",
                )?
                .execute(params)?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn sealed_secrets(&self) -> Result<Vec<(SealedSlot, Sealed)>, StoreError> {
        let rows: Vec<SealedRow> = self.db.read(|conn| {
            all(
                conn,
                "SELECT 'totp' AS slot, account_id AS owner, key_id, secret AS blob
                 FROM two_factor WHERE secret IS NOT NULL AND key_id IS NOT NULL
                 UNION ALL
                 SELECT 'pending', account_id, pending_key_id, pending_secret
                 FROM two_factor WHERE pending_secret IS NOT NULL AND pending_key_id IS NOT NULL
                 UNION ALL
                 SELECT 'instance', name, key_id, sealed FROM instance_secrets",
                [],
            )
        })?;
        Ok(rows.into_iter().filter_map(SealedRow::into_pair).collect())
    }

    async fn reseal(
        &self,
        slot: &SealedSlot,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        // Only instance secrets are remembered (the signing keys): re-sealing a TOTP secret,
        // one per account in a master key rotation, publishes nothing.
        let remembered = matches!(slot, SealedSlot::Instance(_));
        self.cache
            .write_if(
                Write::Reseal,
                async {
                    let (sql, owner) = match slot {
                        SealedSlot::TotpSecret(account) => (
                            "UPDATE two_factor SET key_id = ?3, secret = ?4
                         WHERE account_id = ?1 AND secret = ?2",
                            account.as_str(),
                        ),
                        SealedSlot::PendingSecret(account) => (
                            "UPDATE two_factor SET pending_key_id = ?3, pending_secret = ?4
                         WHERE account_id = ?1 AND pending_secret = ?2",
                            account.as_str(),
                        ),
                        SealedSlot::Instance(name) => (
                            "UPDATE instance_secrets SET key_id = ?3, sealed = ?4
                         WHERE name = ?1 AND sealed = ?2",
                            name.as_str(),
                        ),
                    };
                    let params = (
                        owner.to_owned(),
                        old.blob.clone(),
                        new.key_id.0.clone(),
                        new.blob.clone(),
                    );
                    let changed = self
                        .db
                        .write(move |tx| Ok(tx.prepare_cached(sql)?.execute(params)?))
                        .await?;
                    Ok(changed == 1)
                },
                |changed| *changed && remembered,
            )
            .await
    }
}
