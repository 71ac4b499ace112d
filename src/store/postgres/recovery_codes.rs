//! Recovery codes on PostgreSQL, stored only as keyed digests: each is used by one
//! conditional delete whose rows affected decide, and a new set replaces the old at once.

use async_trait::async_trait;

use super::{journal, PostgresStore};
use crate::domain::ids::AccountId;
use crate::store::cache::Write;
use crate::store::{Journal, RecoveryCodes, StoreError};

#[async_trait]
impl RecoveryCodes for PostgresStore {
    async fn recovery_codes_remaining(&self, account: &AccountId) -> Result<u32, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(&self.pool)
                .await?;
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
                    let deleted = sqlx::query(
                        "DELETE FROM recovery_codes WHERE account_id = $1 AND code_hash = $2",
                    )
                    .bind(account.as_str())
                    .bind(code_hash)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
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
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await?;
                for hash in code_hashes {
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
                Ok(())
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
                sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)")
                    .bind(account.as_str())
                    .bind(code_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            })
            .await
    }
}
