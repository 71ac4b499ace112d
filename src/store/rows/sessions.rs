//! Session rows: a session, and the per-request lookups joining it with its account, its
//! two-factor summary and (for forward-auth) a membership.

use super::{WorkspaceRoleRow, WorkspaceRow};
use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorSummary;
use crate::store::{SessionLookup, WorkspaceSessionLookup};

#[derive(sqlx::FromRow)]
pub(in crate::store) struct SessionRow {
    pub id: String,
    pub account_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: SessionId(row.id),
            account_id: AccountId(row.account_id),
            created_at: UnixTime(row.created_at),
            last_seen_at: UnixTime(row.last_seen_at),
            expires_at: UnixTime(row.expires_at),
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

/// A session joined with its account (columns of the account prefixed `a_`).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct SessionAccountRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub a_email: String,
    pub a_name: Option<String>,
    pub a_password_hash: String,
    pub a_is_admin: bool,
    pub a_created_at: i64,
    pub a_last_sign_in_at: Option<i64>,
    pub a_email_verified_at: Option<i64>,
    pub a_suspended_at: Option<i64>,
    pub a_has_two_factor: bool,
    pub t_enabled_at: Option<i64>,
    pub t_pending_until: Option<i64>,
    pub t_recovery_codes: Option<i64>,
}

/// A session lookup with a membership (`w_` and `m_role` columns, NULL when none).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct WorkspaceSessionRow {
    #[sqlx(flatten)]
    pub found: SessionAccountRow,
    pub w_id: Option<String>,
    pub w_name: Option<String>,
    pub w_created_at: Option<i64>,
    pub w_enforcement: Option<String>,
    pub w_grace_period_days: Option<i64>,
    pub w_enforced_since: Option<i64>,
    pub m_role: Option<String>,
}

impl From<WorkspaceSessionRow> for WorkspaceSessionLookup {
    fn from(row: WorkspaceSessionRow) -> Self {
        let membership = match (row.w_id, row.w_name, row.w_created_at, row.w_enforcement) {
            (Some(id), Some(name), Some(created_at), Some(enforcement)) => {
                let workspace = WorkspaceRow {
                    id,
                    name,
                    created_at,
                    enforcement,
                    grace_period_days: row.w_grace_period_days.unwrap_or(0),
                    enforced_since: row.w_enforced_since,
                };
                Some(
                    WorkspaceRoleRow {
                        workspace,
                        role: row.m_role.unwrap_or_default(),
                    }
                    .into(),
                )
            }
            _ => None,
        };
        WorkspaceSessionLookup {
            found: row.found.into(),
            membership,
        }
    }
}

impl From<SessionAccountRow> for SessionLookup {
    fn from(row: SessionAccountRow) -> Self {
        let account = Account {
            id: AccountId(row.session.account_id.clone()),
            email: Email::from_stored(row.a_email),
            name: row.a_name,
            password_hash: super::accounts::password_hash(row.a_password_hash),
            is_admin: row.a_is_admin,
            created_at: UnixTime(row.a_created_at),
            last_sign_in_at: row.a_last_sign_in_at.map(UnixTime),
            email_verified_at: row.a_email_verified_at.map(UnixTime),
            suspended_at: row.a_suspended_at.map(UnixTime),
        };
        SessionLookup {
            session: row.session.into(),
            account,
            has_two_factor: row.a_has_two_factor,
            two_factor: TwoFactorSummary {
                enabled_at: row.t_enabled_at.map(UnixTime),
                pending_until: row.t_pending_until.map(UnixTime),
                recovery_codes_remaining: row
                    .t_recovery_codes
                    .map(|count| u32::try_from(count).unwrap_or(0)),
            },
        }
    }
}
