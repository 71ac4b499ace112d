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
use crate::store::rows::{with_vouches, ResetRequestRow, VouchRow};
use crate::store::{
    FiledRequest, NewVouch, ResetEvent, ResetOutcome, ResetRequest, Resets, StoreError,
    VouchOutcome,
};

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
                let keys_removed =
                    sqlx::query("DELETE FROM webauthn_credentials WHERE account_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                let was_enabled = was_enabled || keys_removed > 0;
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
                // A confirmation link left over can confirm no later request, and whatever else
                // was sent before (an address change asked by a thief, say) ends with the
                // sessions.
                sqlx::query(&crate::store::email_tokens::void_tokens("$1"))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let outcome = ResetOutcome {
                    was_enabled,
                    sessions_revoked,
                    requests_closed,
                };
                let event = record(&outcome);
                super::api_tokens::revoke_all(&mut tx, id, &event).await?;
                append(&mut tx, &event, channels).await?;
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
        self.requests_where("$1 = ''", "").await
    }

    async fn open_reset_request(
        &self,
        account: &AccountId,
    ) -> Result<Option<ResetRequest>, StoreError> {
        let requests = self
            .requests_where("r.account_id = $1", account.as_str())
            .await?;
        Ok(requests.into_iter().next())
    }

    async fn member_reset_requests(
        &self,
        workspace: &str,
    ) -> Result<Vec<ResetRequest>, StoreError> {
        let members =
            "r.account_id IN (SELECT account_id FROM memberships WHERE workspace_id = $1)";
        self.requests_where(members, workspace).await
    }

    async fn vouch_reset_request(
        &self,
        vouch: &NewVouch<'_>,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<VouchOutcome, StoreError> {
        self.cache
            .write(Write::VouchResetRequest, async {
                let mut tx = self.pool.begin().await?;
                // The primary key (request_id, owner_id) decides between racing vouches.
                let inserted = sqlx::query(
                    "INSERT INTO reset_vouches (request_id, owner_id, workspace_id, at)
                     SELECT r.id, o.account_id, o.workspace_id, $4
                     FROM reset_requests r
                     JOIN memberships m ON m.account_id = r.account_id AND m.workspace_id = $2
                     JOIN memberships o ON o.workspace_id = $2
                         AND o.account_id = $3 AND o.role = 'owner'
                     WHERE r.id = $1 AND r.closed_at IS NULL AND r.account_id <> $3
                     ON CONFLICT (request_id, owner_id) DO NOTHING",
                )
                .bind(vouch.request_id)
                .bind(vouch.workspace_id)
                .bind(vouch.owner.as_str())
                .bind(vouch.at.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 1 {
                    append(&mut tx, event, channels).await?;
                    tx.commit().await?;
                    return Ok(VouchOutcome::Vouched);
                }
                let earlier: Option<i64> = sqlx::query_scalar(
                    "SELECT at FROM reset_vouches WHERE request_id = $1 AND owner_id = $2",
                )
                .bind(vouch.request_id)
                .bind(vouch.owner.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(earlier.map_or(VouchOutcome::Refused, |at| {
                    VouchOutcome::Already(UnixTime(at))
                }))
            })
            .await
    }
}

impl PostgresStore {
    /// The open requests matching `filter` (over `r`, the request, with `$1` bound to
    /// `value`), each with its vouches.
    async fn requests_where(
        &self,
        filter: &str,
        value: &str,
    ) -> Result<Vec<ResetRequest>, StoreError> {
        let rows: Vec<ResetRequestRow> = sqlx::query_as(&format!(
            "SELECT r.id, r.account_id, a.email, r.message, r.created_at, r.email_confirmed_at
             FROM reset_requests r JOIN accounts a ON a.id = r.account_id
             WHERE r.closed_at IS NULL AND {filter} ORDER BY r.created_at, r.id"
        ))
        .bind(value)
        .fetch_all(&self.pool)
        .await?;
        let vouches: Vec<VouchRow> = sqlx::query_as(&format!(
            "SELECT v.request_id, v.owner_id AS account_id, a.email, v.workspace_id, v.at
             FROM reset_vouches v JOIN reset_requests r ON r.id = v.request_id
             JOIN accounts a ON a.id = v.owner_id
             WHERE r.closed_at IS NULL AND {filter} ORDER BY v.at, v.owner_id"
        ))
        .bind(value)
        .fetch_all(&self.pool)
        .await?;
        Ok(with_vouches(rows, vouches))
    }
}
