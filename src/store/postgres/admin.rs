//! Admin resets on PostgreSQL: resetting an account's two-factor (with its recovery codes,
//! sessions and open reset requests, in one transaction), and the reset requests that ask
//! an administrator for one (at most one open per account, however many are filed at once).

use async_trait::async_trait;

use super::journal::append;
use super::PostgresStore;
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::rows::ResetRequestRow;
use crate::store::{FiledRequest, ResetEvent, ResetOutcome, ResetRequest, Resets, StoreError};

#[async_trait]
impl Resets for PostgresStore {
    async fn reset_two_factor(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        self.cache
            .write(Write::ResetTwoFactor, async {
                let id = account.as_str();
                let mut tx = self.pool.begin().await?;
                let was_enabled = sqlx::query(
                    "DELETE FROM two_factor WHERE account_id = $1 AND secret IS NOT NULL",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                sqlx::query("DELETE FROM two_factor WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let sessions_revoked = sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let requests_closed = sqlx::query(
            "UPDATE reset_requests SET closed_at = $2 WHERE account_id = $1 AND closed_at IS NULL",
        )
        .bind(id)
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
                let outcome = ResetOutcome {
                    was_enabled,
                    sessions_revoked,
                    requests_closed,
                };
                append(&mut tx, &record(&outcome), channels).await?;
                tx.commit().await?;
                Ok(outcome)
            })
            .await
    }

    async fn create_reset_request(
        &self,
        id: &str,
        account: &AccountId,
        message: &str,
        now: UnixTime,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<FiledRequest, StoreError> {
        self.cache
            .write(Write::CreateResetRequest, async {
                let mut tx = self.pool.begin().await?;
                // The partial unique index `reset_requests_one_open` decides between racing
                // filings.
                let inserted = sqlx::query(
                    "INSERT INTO reset_requests (id, account_id, message, created_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (account_id) WHERE closed_at IS NULL DO NOTHING",
                )
                .bind(id)
                .bind(account.as_str())
                .bind(message)
                .bind(now.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 1 {
                    append(&mut tx, event, channels).await?;
                    tx.commit().await?;
                    return Ok(FiledRequest {
                        id: id.to_owned(),
                        created: true,
                    });
                }
                let open: String = sqlx::query_scalar(
                    "SELECT id FROM reset_requests WHERE account_id = $1 AND closed_at IS NULL",
                )
                .bind(account.as_str())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(FiledRequest {
                    id: open,
                    created: false,
                })
            })
            .await
    }

    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError> {
        let rows: Vec<ResetRequestRow> = sqlx::query_as(
            "SELECT r.id, r.account_id, a.email, r.message, r.created_at
             FROM reset_requests r JOIN accounts a ON a.id = r.account_id
             WHERE r.closed_at IS NULL ORDER BY r.created_at, r.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ResetRequest::from).collect())
    }
}
