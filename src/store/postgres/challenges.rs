//! Sign-in challenges on PostgreSQL: created after a right password, counting wrong second
//! factors, consumed once. Answering one (read and completion) is `sign_in.rs`.

use super::PostgresStore;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::store::rows::ChallengeRow;
use crate::store::{Challenge, StoreError};

/// Inserts a challenge (`$1` token digest, `$2` account, `$3` expiry) with no failures.
pub(super) const INSERT_CHALLENGE: &str =
    "INSERT INTO challenges (token_hash, account_id, expires_at, failures)
     VALUES ($1, $2, $3, 0)";

pub(super) async fn create_challenge(
    store: &PostgresStore,
    token: &TokenHash,
    account: &AccountId,
    expires_at: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_CHALLENGE)
        .bind(&token.0)
        .bind(account.as_str())
        .bind(expires_at.0)
        .execute(&store.pool)
        .await?;
    Ok(())
}

pub(super) async fn challenge(
    store: &PostgresStore,
    token: &TokenHash,
) -> Result<Option<Challenge>, StoreError> {
    let row: Option<ChallengeRow> = sqlx::query_as(
        "SELECT account_id, expires_at, failures FROM challenges WHERE token_hash = $1",
    )
    .bind(&token.0)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(Challenge::from))
}

pub(super) async fn count_challenge_failure(
    store: &PostgresStore,
    token: &TokenHash,
) -> Result<u32, StoreError> {
    let failures: Option<i64> = sqlx::query_scalar(
        "UPDATE challenges SET failures = failures + 1 WHERE token_hash = $1
         RETURNING failures",
    )
    .bind(&token.0)
    .fetch_optional(&store.pool)
    .await?;
    Ok(failures.map_or(0, |f| u32::try_from(f).unwrap_or(u32::MAX)))
}

pub(super) async fn consume_challenge(
    store: &PostgresStore,
    token: &TokenHash,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM challenges WHERE token_hash = $1")
        .bind(&token.0)
        .execute(&store.pool)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}
