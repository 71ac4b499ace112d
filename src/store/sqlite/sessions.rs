//! Sessions on SQLite: creating one (alone, or inside a sign-in's transaction), the
//! per-request lookups by token digest, and listing, revoking and purging them.

use super::{direct, SqliteStore};
use crate::domain::account::Session;
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::time::UnixTime;
use crate::store::rows::SessionRow;
use crate::store::{
    NewSession, SessionLookup, StoreError, WorkspaceSessionLookup, RECOVERY_COUNT_COLUMN,
    SESSION_LOOKUP_COLUMNS,
};

/// Inserts a session (binding its eight columns in order); shared by the sqlx and the direct
/// connections.
pub(super) const INSERT_SESSION: &str = "INSERT INTO sessions
         (id, account_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Records the sign-in time (`?1`) on the account (`?2`) that a new session belongs to.
pub(super) const RECORD_SIGN_IN: &str = "UPDATE accounts SET last_sign_in_at = ?1 WHERE id = ?2";

pub(super) async fn create_session(
    store: &SqliteStore,
    new: &NewSession,
) -> Result<(), StoreError> {
    let session = &new.session;
    let mut tx = store.pool.begin().await?;
    sqlx::query(INSERT_SESSION)
        .bind(session.id.as_str())
        .bind(session.account_id.as_str())
        .bind(&new.token_hash.0)
        .bind(session.created_at.0)
        .bind(session.last_seen_at.0)
        .bind(session.expires_at.0)
        .bind(&session.ip)
        .bind(&session.user_agent)
        .execute(&mut *tx)
        .await?;
    sqlx::query(RECORD_SIGN_IN)
        .bind(session.created_at.0)
        .bind(session.account_id.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn session_by_token(
    store: &SqliteStore,
    token: &TokenHash,
) -> Result<Option<SessionLookup>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_LOOKUP_COLUMNS}, {RECOVERY_COUNT_COLUMN}
         FROM sessions s JOIN accounts a ON a.id = s.account_id
         LEFT JOIN two_factor t ON t.account_id = s.account_id
         WHERE s.token_hash = ?1"
    );
    let row = store
        .direct
        .read(|conn| direct::optional(conn, &sql, [&token.0], direct::session_account_row))?;
    Ok(row.map(Into::into))
}

pub(super) async fn session_in_workspace(
    store: &SqliteStore,
    token: &TokenHash,
    workspace: &str,
) -> Result<Option<WorkspaceSessionLookup>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_LOOKUP_COLUMNS}, CAST(NULL AS BIGINT) AS t_recovery_codes, w.id AS w_id, w.name AS w_name,
                w.created_at AS w_created_at, w.enforcement AS w_enforcement,
                w.grace_period_days AS w_grace_period_days,
                w.enforced_since AS w_enforced_since, m.role AS m_role
         FROM sessions s JOIN accounts a ON a.id = s.account_id
         LEFT JOIN two_factor t ON t.account_id = s.account_id
         LEFT JOIN memberships m ON m.account_id = s.account_id AND m.workspace_id = ?2
         LEFT JOIN workspaces w ON w.id = m.workspace_id
         WHERE s.token_hash = ?1"
    );
    let row = store.direct.read(|conn| {
        let params = rusqlite::params![token.0, workspace];
        direct::optional(conn, &sql, params, direct::workspace_session_row)
    })?;
    Ok(row.map(Into::into))
}

pub(super) async fn touch_session(
    store: &SqliteStore,
    id: &SessionId,
    now: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2 AND last_seen_at < ?1")
        .bind(now.0)
        .bind(id.as_str())
        .execute(&store.pool)
        .await?;
    Ok(())
}

pub(super) async fn list_sessions(
    store: &SqliteStore,
    account: &AccountId,
) -> Result<Vec<Session>, StoreError> {
    let rows: Vec<SessionRow> = sqlx::query_as(
        "SELECT id, account_id, created_at, last_seen_at, expires_at, ip, user_agent
         FROM sessions WHERE account_id = ?1 ORDER BY created_at DESC, id",
    )
    .bind(account.as_str())
    .fetch_all(&store.pool)
    .await?;
    Ok(rows.into_iter().map(Session::from).collect())
}

pub(super) async fn delete_session(
    store: &SqliteStore,
    account: &AccountId,
    id: &SessionId,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE id = ?1 AND account_id = ?2")
        .bind(id.as_str())
        .bind(account.as_str())
        .execute(&store.pool)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

pub(super) async fn purge_expired_sessions(
    store: &SqliteStore,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?1")
        .bind(now.0)
        .execute(&store.pool)
        .await?
        .rows_affected();
    Ok(deleted)
}
