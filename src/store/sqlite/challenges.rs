//! Sign-in challenges on SQLite: created after a right password, counting wrong second
//! factors, consumed once. Answering one (read and completion) is `sign_in.rs`.

use async_trait::async_trait;

use rusqlite::OptionalExtension;

use super::decode::optional;
use super::SqliteStore;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::sign_in::FirstFactor;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::rows::ChallengeRow;
use crate::store::{Challenge, Challenges, StoreError};

/// Inserts a challenge (`?1` token digest, `?2` account, `?3` expiry) with no failures.
pub(super) const INSERT_CHALLENGE: &str =
    "INSERT INTO challenges (token_hash, account_id, expires_at, failures)
     VALUES (?1, ?2, ?3, 0)";

#[async_trait]
impl Challenges for SqliteStore {
    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        first_factor: FirstFactor,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateChallenge, async {
                let params = (token.0.clone(), account.as_str().to_owned(), expires_at.0);
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(INSERT_CHALLENGE)?
                            .execute(params.clone())?;
                        tx.prepare_cached(
                            "UPDATE challenges SET first_factor = ?2 WHERE token_hash = ?1",
                        )?
                        .execute((&params.0, first_factor.amr()))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError> {
        let row: Option<ChallengeRow> = self.db.read(|conn| {
            optional(
                conn,
                "SELECT account_id, expires_at, failures FROM challenges WHERE token_hash = ?1",
                [&token.0],
            )
        })?;
        Ok(row.map(Challenge::from))
    }

    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError> {
        self.cache
            .write(Write::CountChallengeFailure, async {
                let token = token.0.clone();
                let failures: Option<i64> = self
                    .db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached(
                                "UPDATE challenges SET failures = failures + 1 WHERE token_hash = ?1
                                 RETURNING failures",
                            )?
                            .query_row([token], |row| row.get(0))
                            .optional()?)
                    })
                    .await?;
                Ok(failures.map_or(0, |f| u32::try_from(f).unwrap_or(u32::MAX)))
            })
            .await
    }

    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError> {
        self.cache
            .write(Write::ConsumeChallenge, async {
                let token = token.0.clone();
                let deleted = self
                    .db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached("DELETE FROM challenges WHERE token_hash = ?1")?
                            .execute([token])?)
                    })
                    .await?;
                Ok(deleted == 1)
            })
            .await
    }
}
