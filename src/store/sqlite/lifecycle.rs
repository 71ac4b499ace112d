//! Suspending and deleting accounts on SQLite (see `store/lifecycle.rs` for what each does).
//! Each is one write on the writer thread, so its checks and its changes see one state:
//! writes run one after another on one connection.

use async_trait::async_trait;

use rusqlite::{Connection, OptionalExtension};

use super::journal::append;
use super::SqliteStore;
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::email_tokens::void_tokens;
use crate::store::{Deletion, Lifecycle, StoreError};

#[async_trait]
impl Lifecycle for SqliteStore {
    async fn suspend_account(
        &self,
        account: &AccountId,
        now: UnixTime,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<Option<u64>, StoreError> {
        let (id, event) = (account.as_str().to_owned(), event.clone());
        self.cache
            .write_if(
                Write::SuspendAccount,
                self.db.write(move |tx| {
                    let suspended = tx
                        .prepare_cached(
                            "UPDATE accounts SET suspended_at = ?2
                             WHERE id = ?1 AND suspended_at IS NULL",
                        )?
                        .execute((&id, now.0))?;
                    if suspended != 1 {
                        return Ok(None);
                    }
                    let ended = tx
                        .prepare_cached("DELETE FROM sessions WHERE account_id = ?1")?
                        .execute([&id])?;
                    tx.prepare_cached("DELETE FROM challenges WHERE account_id = ?1")?
                        .execute([&id])?;
                    // No link or code sent before it outlives the suspension, nor an API
                    // token.
                    tx.prepare_cached(&void_tokens("?1"))?.execute([&id])?;
                    super::api_tokens::revoke_all(tx, &id, &event)?;
                    append(tx, &event, channels)?;
                    Ok(Some(u64::try_from(ended).unwrap_or(0)))
                }),
                Option::is_some,
            )
            .await
    }

    async fn unsuspend_account(
        &self,
        account: &AccountId,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<bool, StoreError> {
        let (id, event) = (account.as_str().to_owned(), event.clone());
        self.cache
            .write_if(
                Write::UnsuspendAccount,
                self.db.write(move |tx| {
                    let lifted = tx
                        .prepare_cached(
                            "UPDATE accounts SET suspended_at = NULL
                             WHERE id = ?1 AND suspended_at IS NOT NULL",
                        )?
                        .execute([&id])?;
                    if lifted != 1 {
                        return Ok(false);
                    }
                    append(tx, &event, channels)?;
                    Ok(true)
                }),
                |lifted| *lifted,
            )
            .await
    }

    async fn delete_account(
        &self,
        account: &AccountId,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<Deletion, StoreError> {
        let (id, event) = (account.as_str().to_owned(), event.clone());
        self.cache
            .write_if(
                Write::DeleteAccount,
                self.db
                    .write(move |tx| Ok(delete(tx, &id, &event, channels)?)),
                |deletion| matches!(deletion, Deletion::Deleted { .. }),
            )
            .await
    }
}

/// The deletion, inside the writer's transaction.
fn delete(
    tx: &Connection,
    id: &str,
    event: &NewEvent,
    channels: Channels,
) -> rusqlite::Result<Deletion> {
    let exists: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    if exists.is_none() {
        return Ok(Deletion::Gone);
    }
    let last_owned: Option<String> = tx
        .prepare_cached(LAST_OWNED)?
        .query_row([id], |row| row.get(0))
        .optional()?;
    if let Some(workspace) = last_owned {
        return Ok(Deletion::LastOwner { workspace });
    }
    let workspaces_deleted = tx.prepare_cached(DELETE_ALONE_IN)?.execute([id])?;
    let sessions_ended = tx
        .prepare_cached("DELETE FROM sessions WHERE account_id = ?1")?
        .execute([id])?;
    tx.prepare_cached("DELETE FROM invitations WHERE invited_by = ?1")?
        .execute([id])?;
    // The rest of what is the account's own follows by ON DELETE CASCADE.
    let former: String = tx
        .prepare_cached("DELETE FROM accounts WHERE id = ?1 RETURNING email")?
        .query_row([id], |row| row.get(0))?;
    let event_id = append(tx, event, channels)?;
    if channels.email {
        // Told at the address it had: the row is gone, so the delivery names the address.
        super::outbox::enqueue_to_address(tx, event_id, event, &former)?;
    }
    let count = |n: usize| u64::try_from(n).unwrap_or(0);
    Ok(Deletion::Deleted {
        sessions_ended: count(sessions_ended),
        workspaces_deleted: count(workspaces_deleted),
    })
}

/// A workspace the account (`?1`) is the only owner of while others are members.
const LAST_OWNED: &str = "SELECT m.workspace_id FROM memberships m
     WHERE m.account_id = ?1 AND m.role = 'owner'
       AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.workspace_id = m.workspace_id
                       AND o.account_id <> ?1 AND o.role = 'owner')
       AND EXISTS (SELECT 1 FROM memberships x WHERE x.workspace_id = m.workspace_id
                   AND x.account_id <> ?1)
     ORDER BY m.workspace_id LIMIT 1";

/// Deletes the workspaces the account (`?1`) is the only member of.
const DELETE_ALONE_IN: &str = "DELETE FROM workspaces WHERE id IN (
     SELECT m.workspace_id FROM memberships m
     WHERE m.account_id = ?1
       AND NOT EXISTS (SELECT 1 FROM memberships x WHERE x.workspace_id = m.workspace_id
                       AND x.account_id <> ?1))";
