//! Suspending and deleting accounts on PostgreSQL (see `store/lifecycle.rs` for what each
//! does). Each is one transaction; the conditional UPDATE of the account row (or, for a
//! deletion, its row lock) orders it against every other change of that account on any node.

use async_trait::async_trait;

use super::journal::append;
use super::PostgresStore;
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::email_tokens::void_tokens;
use crate::store::{Deletion, Lifecycle, StoreError};

#[async_trait]
impl Lifecycle for PostgresStore {
    async fn suspend_account(
        &self,
        account: &AccountId,
        now: UnixTime,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<Option<u64>, StoreError> {
        let suspend = async {
            let id = account.as_str();
            let mut tx = self.pool.begin().await?;
            let suspended = sqlx::query(
                "UPDATE accounts SET suspended_at = $2 WHERE id = $1 AND suspended_at IS NULL",
            )
            .bind(id)
            .bind(now.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if suspended != 1 {
                return Ok(None);
            }
            let ended = sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM challenges WHERE account_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            // No link or code sent before it outlives the suspension, nor an API token.
            sqlx::query(&void_tokens("$1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            super::api_tokens::revoke_all(&mut tx, id, event).await?;
            append(&mut tx, event, channels).await?;
            tx.commit().await?;
            Ok(Some(ended))
        };
        self.cache
            .write_if(Write::SuspendAccount, suspend, Option::is_some)
            .await
    }

    async fn unsuspend_account(
        &self,
        account: &AccountId,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<bool, StoreError> {
        let lift = async {
            let mut tx = self.pool.begin().await?;
            let lifted = sqlx::query(
                "UPDATE accounts SET suspended_at = NULL WHERE id = $1 AND suspended_at IS NOT NULL",
            )
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if lifted != 1 {
                return Ok(false);
            }
            append(&mut tx, event, channels).await?;
            tx.commit().await?;
            Ok(true)
        };
        self.cache
            .write_if(Write::UnsuspendAccount, lift, |lifted| *lifted)
            .await
    }

    async fn delete_account(
        &self,
        account: &AccountId,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<Deletion, StoreError> {
        let delete = async {
            let id = account.as_str();
            let mut tx = self.pool.begin().await?;
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1::BIGINT FROM accounts WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Ok(Deletion::Gone);
            }
            // The same row locks a change of role or a removal takes (`workspaces.rs`), in
            // one order: a demotion of the other owner cannot slip in between the check
            // and the deletion.
            sqlx::query(
                "SELECT w.id FROM workspaces w
                 WHERE w.id IN (SELECT workspace_id FROM memberships WHERE account_id = $1)
                 ORDER BY w.id FOR UPDATE",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let last_owned: Option<String> = sqlx::query_scalar(LAST_OWNED)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(workspace) = last_owned {
                return Ok(Deletion::LastOwner { workspace });
            }
            let workspaces_deleted = sqlx::query(DELETE_ALONE_IN)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let sessions_ended = sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM invitations WHERE invited_by = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            // The rest of what is the account's own follows by ON DELETE CASCADE.
            let former: String =
                sqlx::query_scalar("DELETE FROM accounts WHERE id = $1 RETURNING email")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            let event_id = append(&mut tx, event, channels).await?;
            if channels.email {
                // Told at the address it had: the row is gone, so the delivery names the
                // address.
                super::outbox::enqueue_to_address(&mut tx, event_id, event, &former).await?;
            }
            tx.commit().await?;
            Ok(Deletion::Deleted {
                sessions_ended,
                workspaces_deleted,
            })
        };
        self.cache
            .write_if(Write::DeleteAccount, delete, |deletion| {
                matches!(deletion, Deletion::Deleted { .. })
            })
            .await
    }
}

/// A workspace the account (`$1`) is the only owner of while others are members.
const LAST_OWNED: &str = "SELECT m.workspace_id FROM memberships m
     WHERE m.account_id = $1 AND m.role = 'owner'
       AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.workspace_id = m.workspace_id
                       AND o.account_id <> $1 AND o.role = 'owner')
       AND EXISTS (SELECT 1 FROM memberships x WHERE x.workspace_id = m.workspace_id
                   AND x.account_id <> $1)
     ORDER BY m.workspace_id LIMIT 1";

/// Deletes the workspaces the account (`$1`) is the only member of.
const DELETE_ALONE_IN: &str = "DELETE FROM workspaces WHERE id IN (
     SELECT m.workspace_id FROM memberships m
     WHERE m.account_id = $1
       AND NOT EXISTS (SELECT 1 FROM memberships x WHERE x.workspace_id = m.workspace_id
                       AND x.account_id <> $1))";
