//! Reading rusqlite rows into the row shapes both backends share (`store/rows/`,
//! `store/outbox.rs`): one [`FromRow`] decoder per shape, by column name, as PostgreSQL's
//! derived decoders read them, so both backends' `SELECT`s name their columns alike.
//! Besides, [`optional`] and [`all`], the fetches every aggregate file uses.

use rusqlite::{Connection, OptionalExtension, Params, Row};

use crate::store::outbox::{CountsRow, DueRow, RecordRow};
use crate::store::rows::{
    AccountRow, AccountSummaryRow, ChallengeContextRow, ChallengeRow, CounterRow, EventRow,
    InvitationRow, MemberRow, PolicyRow, ResetRequestRow, SealedRow, SessionAccountRow, SessionRow,
    TwoFactorRow, WorkspaceRoleRow, WorkspaceRow, WorkspaceSessionRow,
};

/// A row shape read from a rusqlite row by column name.
pub(super) trait FromRow: Sized {
    /// Reads the shape's columns from `row`.
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

/// The one row `sql` finds, if any (a cached statement on `conn`).
pub(super) fn optional<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> rusqlite::Result<Option<T>> {
    conn.prepare_cached(sql)?
        .query_row(params, T::from_row)
        .optional()
}

/// Every row `sql` finds, in order (a cached statement on `conn`).
pub(super) fn all<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> rusqlite::Result<Vec<T>> {
    conn.prepare_cached(sql)?
        .query_map(params, T::from_row)?
        .collect()
}

impl FromRow for AccountRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            email: row.get("email")?,
            name: row.get("name")?,
            password_hash: row.get("password_hash")?,
            is_admin: row.get("is_admin")?,
            created_at: row.get("created_at")?,
            last_sign_in_at: row.get("last_sign_in_at")?,
        })
    }
}

impl FromRow for AccountSummaryRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            account: AccountRow::from_row(row)?,
            has_two_factor: row.get("has_two_factor")?,
            pending_until: row.get("pending_until")?,
        })
    }
}

impl FromRow for ChallengeRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            account_id: row.get("account_id")?,
            expires_at: row.get("expires_at")?,
            failures: row.get("failures")?,
        })
    }
}

impl FromRow for ChallengeContextRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            challenge: ChallengeRow::from_row(row)?,
            account: AccountRow::from_row(row)?,
            two_factor: TwoFactorRow::from_row(row)?,
            k_failures: row.get("k_failures")?,
            k_window_start: row.get("k_window_start")?,
            k_locked_until: row.get("k_locked_until")?,
            recovery_codes_remaining: row.get("recovery_codes_remaining")?,
        })
    }
}

impl FromRow for EventRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            account_id: row.get("account_id")?,
            actor_id: row.get("actor_id")?,
            kind: row.get("kind")?,
            at: row.get("at")?,
            ip: row.get("ip")?,
            user_agent: row.get("user_agent")?,
            details: row.get("details")?,
        })
    }
}

impl FromRow for SealedRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            slot: row.get("slot")?,
            owner: row.get("owner")?,
            key_id: row.get("key_id")?,
            blob: row.get("blob")?,
        })
    }
}

impl FromRow for SessionRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            account_id: row.get("account_id")?,
            created_at: row.get("created_at")?,
            last_seen_at: row.get("last_seen_at")?,
            expires_at: row.get("expires_at")?,
            ip: row.get("ip")?,
            user_agent: row.get("user_agent")?,
        })
    }
}

impl FromRow for SessionAccountRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            session: SessionRow::from_row(row)?,
            a_email: row.get("a_email")?,
            a_name: row.get("a_name")?,
            a_password_hash: row.get("a_password_hash")?,
            a_is_admin: row.get("a_is_admin")?,
            a_created_at: row.get("a_created_at")?,
            a_last_sign_in_at: row.get("a_last_sign_in_at")?,
            a_has_two_factor: row.get("a_has_two_factor")?,
            t_enabled_at: row.get("t_enabled_at")?,
            t_pending_until: row.get("t_pending_until")?,
            t_recovery_codes: row.get("t_recovery_codes")?,
        })
    }
}

impl FromRow for WorkspaceSessionRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            found: SessionAccountRow::from_row(row)?,
            w_id: row.get("w_id")?,
            w_name: row.get("w_name")?,
            w_created_at: row.get("w_created_at")?,
            w_enforcement: row.get("w_enforcement")?,
            w_grace_period_days: row.get("w_grace_period_days")?,
            w_enforced_since: row.get("w_enforced_since")?,
            m_role: row.get("m_role")?,
        })
    }
}

impl FromRow for CounterRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            failures: row.get("failures")?,
            window_start: row.get("window_start")?,
            locked_until: row.get("locked_until")?,
        })
    }
}

impl FromRow for TwoFactorRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            key_id: row.get("key_id")?,
            secret: row.get("secret")?,
            enabled_at: row.get("enabled_at")?,
            last_step: row.get("last_step")?,
            pending_key_id: row.get("pending_key_id")?,
            pending_secret: row.get("pending_secret")?,
            pending_expires_at: row.get("pending_expires_at")?,
        })
    }
}

impl FromRow for ResetRequestRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            account_id: row.get("account_id")?,
            email: row.get("email")?,
            message: row.get("message")?,
            created_at: row.get("created_at")?,
        })
    }
}

impl FromRow for WorkspaceRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            created_at: row.get("created_at")?,
            enforcement: row.get("enforcement")?,
            grace_period_days: row.get("grace_period_days")?,
            enforced_since: row.get("enforced_since")?,
        })
    }
}

impl FromRow for WorkspaceRoleRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            workspace: WorkspaceRow::from_row(row)?,
            role: row.get("role")?,
        })
    }
}

impl FromRow for MemberRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            account_id: row.get("account_id")?,
            email: row.get("email")?,
            role: row.get("role")?,
            has_two_factor: row.get("has_two_factor")?,
        })
    }
}

impl FromRow for InvitationRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            workspace_id: row.get("workspace_id")?,
            email: row.get("email")?,
            role: row.get("role")?,
            invited_by: row.get("invited_by")?,
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
        })
    }
}

impl FromRow for PolicyRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            require_two_factor: row.get("require_two_factor")?,
            grace_period_days: row.get("grace_period_days")?,
            enforced_since: row.get("enforced_since")?,
            source: row.get("source")?,
        })
    }
}

impl FromRow for CountsRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            pending: row.get("pending")?,
            retrying: row.get("retrying")?,
            delivered: row.get("delivered")?,
            abandoned: row.get("abandoned")?,
        })
    }
}

impl FromRow for DueRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            channel: row.get("channel")?,
            attempts: row.get("attempts")?,
            event_id: row.get("event_id")?,
            account_id: row.get("account_id")?,
            actor_id: row.get("actor_id")?,
            kind: row.get("kind")?,
            at: row.get("at")?,
            ip: row.get("ip")?,
            user_agent: row.get("user_agent")?,
            details: row.get("details")?,
            account_email: row.get("account_email")?,
            recipient_email: row.get("recipient_email")?,
        })
    }
}

impl FromRow for RecordRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            channel: row.get("channel")?,
            event_id: row.get("event_id")?,
            kind: row.get("kind")?,
            account_id: row.get("account_id")?,
            recipient_email: row.get("recipient_email")?,
            attempts: row.get("attempts")?,
            last_error: row.get("last_error")?,
            created_at: row.get("created_at")?,
            next_attempt_at: row.get("next_attempt_at")?,
            delivered_at: row.get("delivered_at")?,
            abandoned_at: row.get("abandoned_at")?,
        })
    }
}
