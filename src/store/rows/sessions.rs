//! Session rows: a session, and the per-request lookups joining it with its account, its
//! two-factor summary and (for forward-auth) a membership.

use super::{WorkspaceRoleRow, WorkspaceRow};
use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorSummary;
use crate::domain::workspace::{Role, SecondFactors, Workspace};
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

/// The account behind a credential, with its two-factor summary (columns prefixed `a_` and
/// `t_`: [`crate::store::OWNER_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct OwnerRow {
    pub a_id: String,
    pub a_email: String,
    pub a_name: Option<String>,
    pub a_password_hash: String,
    pub a_is_admin: bool,
    pub a_created_at: i64,
    pub a_email_verified_at: Option<i64>,
    pub a_suspended_at: Option<i64>,
    pub a_has_totp: bool,
    pub a_has_webauthn: bool,
    pub t_enabled_at: Option<i64>,
    pub t_pending_until: Option<i64>,
    pub t_recovery_codes: Option<i64>,
}

impl OwnerRow {
    /// The account, its second factors, and its two-factor summary.
    pub fn into_parts(self) -> (Account, SecondFactors, TwoFactorSummary) {
        let account = Account {
            id: AccountId(self.a_id),
            email: Email::from_stored(self.a_email),
            name: self.a_name,
            password_hash: super::accounts::password_hash(self.a_password_hash),
            is_admin: self.a_is_admin,
            created_at: UnixTime(self.a_created_at),
            email_verified_at: self.a_email_verified_at.map(UnixTime),
            suspended_at: self.a_suspended_at.map(UnixTime),
        };
        let two_factor = TwoFactorSummary {
            enabled_at: self.t_enabled_at.map(UnixTime),
            pending_until: self.t_pending_until.map(UnixTime),
            recovery_codes_remaining: self
                .t_recovery_codes
                .map(|count| u32::try_from(count).unwrap_or(0)),
        };
        let factors = SecondFactors {
            totp: self.a_has_totp,
            webauthn: self.a_has_webauthn,
        };
        (account, factors, two_factor)
    }
}

/// A session joined with its account.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct SessionAccountRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    #[sqlx(flatten)]
    pub owner: OwnerRow,
}

/// A membership of one workspace, for forward-auth (`w_` and `m_role` columns, NULL when
/// none: [`crate::store::MEMBERSHIP_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct MembershipRow {
    pub w_id: Option<String>,
    pub w_name: Option<String>,
    pub w_created_at: Option<i64>,
    pub w_enforcement: Option<String>,
    pub w_grace_period_days: Option<i64>,
    pub w_enforced_since: Option<i64>,
    pub w_required_factor: Option<String>,
    pub m_role: Option<String>,
}

impl From<MembershipRow> for Option<(Workspace, Role)> {
    fn from(row: MembershipRow) -> Self {
        let (Some(id), Some(name), Some(created_at), Some(enforcement)) =
            (row.w_id, row.w_name, row.w_created_at, row.w_enforcement)
        else {
            return None;
        };
        let workspace = WorkspaceRow {
            id,
            name,
            created_at,
            enforcement,
            grace_period_days: row.w_grace_period_days.unwrap_or(0),
            enforced_since: row.w_enforced_since,
            required_factor: row.w_required_factor.unwrap_or_default(),
        };
        Some(
            WorkspaceRoleRow {
                workspace,
                role: row.m_role.unwrap_or_default(),
            }
            .into(),
        )
    }
}

/// A session lookup with a membership.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct WorkspaceSessionRow {
    #[sqlx(flatten)]
    pub found: SessionAccountRow,
    #[sqlx(flatten)]
    pub membership: MembershipRow,
}

impl From<WorkspaceSessionRow> for WorkspaceSessionLookup {
    fn from(row: WorkspaceSessionRow) -> Self {
        WorkspaceSessionLookup {
            found: row.found.into(),
            membership: row.membership.into(),
        }
    }
}

impl From<SessionAccountRow> for SessionLookup {
    fn from(row: SessionAccountRow) -> Self {
        let (account, factors, two_factor) = row.owner.into_parts();
        SessionLookup {
            session: row.session.into(),
            account,
            factors,
            two_factor,
        }
    }
}
