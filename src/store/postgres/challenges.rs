//! Sign-in challenges on PostgreSQL: created after a right password, counting wrong second
//! factors, consumed once. Answering one (read and completion) is `sign_in.rs`.

use async_trait::async_trait;

use super::PostgresStore;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::sign_in::FirstFactor;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::rows::ChallengeRow;
use crate::store::{Challenge, Challenges, StoreError};

/// Inserts a challenge (`$1` token digest, `$2` account, `$3` expiry) with no failures.
pub(super) const INSERT_CHALLENGE: &str =
    "INSERT INTO challenges (token_hash, account_id, expires_at, failures)
     VALUES ($1, $2, $3, 0)";

#[async_trait]
impl Challenges for PostgresStore {
    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        first_factor: FirstFactor,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateChallenge, async {
                sqlx::query(
                    "INSERT INTO challenges (token_hash, account_id, expires_at, failures,
                                             first_factor)
                     VALUES ($1, $2, $3, 0, $4)",
                )
                .bind(&token.0)
                .bind(account.as_str())
                .bind(expires_at.0)
                .bind(first_factor.amr())
                .execute(&self.pool)
                .await?;
                Ok(())
            })
            .await
    }

    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError> {
        let row: Option<ChallengeRow> = sqlx::query_as(
            "SELECT account_id, expires_at, failures FROM challenges WHERE token_hash = $1",
        )
        .bind(&token.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Challenge::from))
    }

    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError> {
        self.cache
            .write(Write::CountChallengeFailure, async {
                let failures: Option<i64> = sqlx::query_scalar(
                    "UPDATE challenges SET failures = failures + 1 WHERE token_hash = $1
                     RETURNING failures",
                )
                .bind(&token.0)
                .fetch_optional(&self.pool)
                .await?;
                Ok(failures.map_or(0, |f| u32::try_from(f).unwrap_or(u32::MAX)))
            })
            .await
    }

    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError> {
        self.cache
            .write(Write::ConsumeChallenge, async {
                let deleted = sqlx::query("DELETE FROM challenges WHERE token_hash = $1")
                    .bind(&token.0)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(deleted == 1)
            })
            .await
    }
}
