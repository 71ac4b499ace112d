//! Recovery codes on SQLite, stored only as keyed digests: each is used by one
//! conditional delete whose rows affected decide, and a new set replaces the old at once.

use async_trait::async_trait;

use super::{journal, SqliteStore};
use crate::domain::ids::AccountId;
use crate::store::cache::Write;
use crate::store::{Journal, RecoveryCodes, StoreError};

#[async_trait]
impl RecoveryCodes for SqliteStore {
    async fn recovery_codes_remaining(&self, account: &AccountId) -> Result<u32, StoreError> {
        let count: i64 = self.db.read(|conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?1")?
                .query_row([account.as_str()], |row| row.get(0))
        })?;
        Ok(u32::try_from(count).unwrap_or(0))
    }

    async fn consume_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<bool, StoreError> {
        self.cache
            .write_if(
                Write::ConsumeRecoveryCode,
                async {
                    let params = (account.as_str().to_owned(), code_hash.to_vec());
                    let deleted = self
                        .db
                        .write(move |tx| {
                            let sql = "DELETE FROM recovery_codes
                                       WHERE account_id = ?1 AND code_hash = ?2";
                            Ok(tx.prepare_cached(sql)?.execute(params)?)
                        })
                        .await?;
                    Ok(deleted == 1)
                },
                |used| *used,
            )
            .await
    }

    async fn replace_recovery_codes(
        &self,
        account: &AccountId,
        code_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::ReplaceRecoveryCodes, async {
                let (account, hashes) = (account.as_str().to_owned(), code_hashes.to_vec());
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                            .execute([&account])?;
                        for hash in &hashes {
                            tx.prepare_cached(
                        "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)",
                    )?
                    .execute((&account, hash))?;
                        }
                        journal::append_all(tx, Journal::new(&events, channels))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn add_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::AddRecoveryCode, async {
                let params = (account.as_str().to_owned(), code_hash.to_vec());
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)",
                        )?
                        .execute(params)?;
                        Ok(())
                    })
                    .await
            })
            .await
    }
}
