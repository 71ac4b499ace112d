//! Sessions on PostgreSQL: creating one (alone, or inside a sign-in's transaction), the
//! per-request lookups by token digest, and listing, revoking and purging them.

use async_trait::async_trait;

use super::PostgresStore;
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
pub(super) async fn insert_session(
    conn: &mut sqlx::PgConnection,
    new: &NewSession,
) -> Result<(), StoreError> {
    let session = &new.session;
    sqlx::query(
        "INSERT INTO sessions
             (id, account_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent,
              amr)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(session.id.as_str())
    .bind(session.account_id.as_str())
    .bind(&new.token_hash.0)
    .bind(session.created_at.0)
    .bind(session.last_seen_at.0)
    .bind(session.expires_at.0)
    .bind(&session.ip)
    .bind(&session.user_agent)
    .bind(&new.amr)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl Sessions for PostgresStore {
    async fn create_session(
        &self,
        new: &NewSession,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateSession, async {
                let mut tx = self.pool.begin().await?;
                insert_session(&mut tx, new).await?;
                super::journal::append_all(&mut tx, journal).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionLookup>, StoreError> {
        self.cache
            .remembered(Key::Session(token.0.clone()), async {
                let row: Option<SessionAccountRow> = sqlx::query_as(&format!(
                    "SELECT {SESSION_LOOKUP_COLUMNS}, {RECOVERY_COUNT_COLUMN}
                     FROM sessions s JOIN accounts a ON a.id = s.account_id
                     LEFT JOIN two_factor t ON t.account_id = s.account_id
                     WHERE s.token_hash = $1"
                ))
                .bind(&token.0)
                .fetch_optional(&self.pool)
                .await?;
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
                    let row: Option<WorkspaceSessionRow> = sqlx::query_as(&format!(
                        "SELECT {SESSION_LOOKUP_COLUMNS}, CAST(NULL AS BIGINT) AS t_recovery_codes,
                                {MEMBERSHIP_COLUMNS}
                         FROM sessions s JOIN accounts a ON a.id = s.account_id
                         LEFT JOIN two_factor t ON t.account_id = s.account_id
                         LEFT JOIN memberships m
                             ON m.account_id = s.account_id AND m.workspace_id = $2
                         LEFT JOIN workspaces w ON w.id = m.workspace_id
                         WHERE s.token_hash = $1"
                    ))
                    .bind(&token.0)
                    .bind(workspace)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.map(Into::into))
                },
            )
            .await
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        self.cache
            .write(Write::TouchSession, async {
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1",
                )
                .bind(now.0)
                .bind(id.as_str())
                .execute(&self.pool)
                .await?;
                Ok(())
            })
            .await?;
        self.cache.touched(id.as_str(), now);
        Ok(())
    }

    async fn list_sessions(&self, account: &AccountId) -> Result<Vec<Session>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(
            "SELECT id, account_id, created_at, last_seen_at, expires_at, ip, user_agent
             FROM sessions WHERE account_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
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
                let deleted = sqlx::query("DELETE FROM sessions WHERE id = $1 AND account_id = $2")
                    .bind(id.as_str())
                    .bind(account.as_str())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(deleted == 1)
            })
            .await
    }

    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.cache
            .write_if(
                Write::PurgeExpiredSessions,
                async {
                    let deleted = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                        .bind(now.0)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    Ok(deleted)
                },
                |purged| *purged > 0,
            )
            .await
    }
}
