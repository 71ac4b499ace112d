//! Sessions on SQLite: creating one (alone, or inside a sign-in's transaction), the
//! per-request lookups by token digest, and listing, revoking and purging them.

use async_trait::async_trait;

use rusqlite::Connection;

use super::decode::{all, optional};
use super::SqliteStore;
use crate::domain::account::Session;
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::time::UnixTime;
use crate::store::cache::{Key, Write};
use crate::store::rows::{SessionAccountRow, SessionRow, WorkspaceSessionRow};
use crate::store::{
    Journal, NewSession, SessionLookup, Sessions, StoreError, WorkspaceSessionLookup,
    MEMBERSHIP_COLUMNS, RECOVERY_COUNT_COLUMN, SESSION_LOOKUP_COLUMNS,
};

/// Inserts a session inside the caller's transaction (a password sign-in, or the completion
/// of a challenge), whose `sign_in_succeeded` event is the account's last sign-in.
pub(super) fn insert_session(tx: &Connection, new: &NewSession) -> rusqlite::Result<()> {
    let session = &new.session;
    tx.prepare_cached(
        "INSERT INTO sessions
             (id, account_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent,
              amr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute((
        session.id.as_str(),
        session.account_id.as_str(),
        &new.token_hash.0,
        session.created_at.0,
        session.last_seen_at.0,
        session.expires_at.0,
        &session.ip,
        &session.user_agent,
        &new.amr,
    ))?;
    Ok(())
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn create_session(
        &self,
        new: &NewSession,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateSession, async {
                let new = new.clone();
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        insert_session(tx, &new)?;
                        super::journal::append_all(tx, Journal::new(&events, channels))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionLookup>, StoreError> {
        self.cache
            .remembered(Key::Session(token.0.clone()), async {
                let sql = format!(
                    "SELECT {SESSION_LOOKUP_COLUMNS}, {RECOVERY_COUNT_COLUMN}
                     FROM sessions s JOIN accounts a ON a.id = s.account_id
                     LEFT JOIN two_factor t ON t.account_id = s.account_id
                     WHERE s.token_hash = ?1"
                );
                let row: Option<SessionAccountRow> =
                    self.db.read(|conn| optional(conn, &sql, [&token.0]))?;
                Ok(row.map(Into::into))
            })
            .await
    }

    async fn session_in_workspace(
        &self,
        token: &TokenHash,
        workspace: &str,
    ) -> Result<Option<WorkspaceSessionLookup>, StoreError> {
        self.cache
            .remembered(
                Key::InWorkspace(token.0.clone(), workspace.to_owned()),
                async {
                    let sql = format!(
                        "SELECT {SESSION_LOOKUP_COLUMNS}, CAST(NULL AS BIGINT) AS t_recovery_codes,
                                {MEMBERSHIP_COLUMNS}
                         FROM sessions s JOIN accounts a ON a.id = s.account_id
                         LEFT JOIN two_factor t ON t.account_id = s.account_id
                         LEFT JOIN memberships m
                             ON m.account_id = s.account_id AND m.workspace_id = ?2
                         LEFT JOIN workspaces w ON w.id = m.workspace_id
                         WHERE s.token_hash = ?1"
                    );
                    let row: Option<WorkspaceSessionRow> = self
                        .db
                        .read(|conn| optional(conn, &sql, (&token.0, workspace)))?;
                    Ok(row.map(Into::into))
                },
            )
            .await
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        self.cache
            .write(Write::TouchSession, async {
                let params = (now.0, id.as_str().to_owned());
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                    "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2 AND last_seen_at < ?1",
                )?
                .execute(params)?;
                        Ok(())
                    })
                    .await
            })
            .await?;
        self.cache.touched(id.as_str(), now);
        Ok(())
    }

    async fn list_sessions(&self, account: &AccountId) -> Result<Vec<Session>, StoreError> {
        let rows: Vec<SessionRow> = self.db.read(|conn| {
            all(
                conn,
                "SELECT id, account_id, created_at, last_seen_at, expires_at, ip, user_agent
                 FROM sessions WHERE account_id = ?1 ORDER BY created_at DESC, id",
                [account.as_str()],
            )
        })?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn delete_session(
        &self,
        account: &AccountId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        // Publishes even when nothing was deleted: a retry after a publish that failed must
        // publish again, and finds nothing left to delete.
        self.cache
            .write(Write::DeleteSession, async {
                let params = (id.as_str().to_owned(), account.as_str().to_owned());
                let deleted = self
                    .db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached(
                                "DELETE FROM sessions WHERE id = ?1 AND account_id = ?2",
                            )?
                            .execute(params)?)
                    })
                    .await?;
                Ok(deleted == 1)
            })
            .await
    }

    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.cache
            .write_if(
                Write::PurgeExpiredSessions,
                async {
                    let deleted = self
                        .db
                        .write(move |tx| {
                            Ok(tx
                                .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                                .execute([now.0])?)
                        })
                        .await?;
                    Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
                },
                |purged| *purged > 0,
            )
            .await
    }
}
