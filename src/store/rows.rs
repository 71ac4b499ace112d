//! Row shapes shared by both backends (both decode `i64`, `bool`, `TEXT` and blobs alike),
//! and their conversions into domain types.
use super::*;
use crate::domain::sealed::KeyId;
use crate::domain::two_factor::PendingEnrollment;
use crate::domain::workspace::{Enforcement, InstanceScope, PolicySource};

#[derive(sqlx::FromRow)]
pub(super) struct AccountRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Account {
            id: AccountId(row.id),
            email: Email::from_stored(row.email),
            name: row.name,
            password_hash: row.password_hash,
            is_admin: row.is_admin,
            created_at: UnixTime(row.created_at),
            last_sign_in_at: row.last_sign_in_at.map(UnixTime),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
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
pub(super) struct SessionAccountRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub a_email: String,
    pub a_name: Option<String>,
    pub a_password_hash: String,
    pub a_is_admin: bool,
    pub a_created_at: i64,
    pub a_last_sign_in_at: Option<i64>,
    pub a_has_two_factor: bool,
    pub t_enabled_at: Option<i64>,
    pub t_pending_until: Option<i64>,
    pub t_recovery_codes: Option<i64>,
}

/// A session lookup with a membership (`w_` and `m_role` columns, NULL when none).
#[derive(sqlx::FromRow)]
pub(super) struct WorkspaceSessionRow {
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
            password_hash: row.a_password_hash,
            is_admin: row.a_is_admin,
            created_at: UnixTime(row.a_created_at),
            last_sign_in_at: row.a_last_sign_in_at.map(UnixTime),
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

#[derive(sqlx::FromRow)]
pub(super) struct TwoFactorRow {
    pub key_id: Option<String>,
    pub secret: Option<Vec<u8>>,
    pub enabled_at: Option<i64>,
    pub last_step: i64,
    pub pending_key_id: Option<String>,
    pub pending_secret: Option<Vec<u8>>,
    pub pending_expires_at: Option<i64>,
}

fn sealed(key_id: Option<String>, blob: Option<Vec<u8>>) -> Option<Sealed> {
    match (key_id, blob) {
        (Some(key_id), Some(blob)) => Some(Sealed {
            key_id: KeyId(key_id),
            blob,
        }),
        _ => None,
    }
}

impl From<TwoFactorRow> for TwoFactorRecord {
    fn from(row: TwoFactorRow) -> Self {
        let pending = match (
            sealed(row.pending_key_id, row.pending_secret),
            row.pending_expires_at,
        ) {
            (Some(secret), Some(expires_at)) => Some(PendingEnrollment {
                secret,
                expires_at: UnixTime(expires_at),
            }),
            _ => None,
        };
        TwoFactorRecord {
            secret: sealed(row.key_id, row.secret),
            enabled_at: row.enabled_at.map(UnixTime),
            last_step: (row.last_step >= 0).then_some(row.last_step),
            pending,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ChallengeRow {
    pub account_id: String,
    pub expires_at: i64,
    pub failures: i64,
}

impl From<ChallengeRow> for Challenge {
    fn from(row: ChallengeRow) -> Self {
        Challenge {
            account_id: AccountId(row.account_id),
            expires_at: UnixTime(row.expires_at),
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    pub id: i64,
    pub account_id: Option<String>,
    pub actor_id: Option<String>,
    pub kind: String,
    pub at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            id: row.id,
            account_id: row.account_id.map(AccountId),
            actor_id: row.actor_id.map(AccountId),
            kind: row.kind,
            at: UnixTime(row.at),
            ip: row.ip,
            user_agent: row.user_agent,
            details: serde_json::from_str(&row.details).unwrap_or_default(),
        }
    }
}

/// One row of the sealed-secret inventory: slot kind, owner or name, key id, blob.
#[derive(sqlx::FromRow)]
pub(super) struct SealedRow {
    pub slot: String,
    pub owner: String,
    pub key_id: String,
    pub blob: Vec<u8>,
}

impl SealedRow {
    pub(super) fn into_pair(self) -> Option<(SealedSlot, Sealed)> {
        let slot = match self.slot.as_str() {
            "totp" => SealedSlot::TotpSecret(AccountId(self.owner)),
            "pending" => SealedSlot::PendingSecret(AccountId(self.owner)),
            "instance" => SealedSlot::Instance(self.owner),
            _ => return None,
        };
        Some((
            slot,
            Sealed {
                key_id: KeyId(self.key_id),
                blob: self.blob,
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub enforcement: String,
    pub grace_period_days: i64,
    pub enforced_since: Option<i64>,
}

impl From<WorkspaceRow> for Workspace {
    fn from(row: WorkspaceRow) -> Self {
        Workspace {
            id: row.id,
            name: row.name,
            created_at: UnixTime(row.created_at),
            enforcement: Enforcement::parse(&row.enforcement).unwrap_or(Enforcement::Off),
            grace_period_days: u32::try_from(row.grace_period_days).unwrap_or(0),
            enforced_since: row.enforced_since.map(UnixTime),
        }
    }
}

/// A workspace with the account's role (column `role`).
#[derive(sqlx::FromRow)]
pub(super) struct WorkspaceRoleRow {
    #[sqlx(flatten)]
    pub workspace: WorkspaceRow,
    pub role: String,
}

impl From<WorkspaceRoleRow> for (Workspace, Role) {
    fn from(row: WorkspaceRoleRow) -> Self {
        (
            row.workspace.into(),
            Role::parse(&row.role).unwrap_or(Role::Member),
        )
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    pub account_id: String,
    pub email: String,
    pub role: String,
    pub has_two_factor: bool,
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        Member {
            account_id: AccountId(row.account_id),
            email: row.email,
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            has_two_factor: row.has_two_factor,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct InvitationRow {
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    pub role: String,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<InvitationRow> for Invitation {
    fn from(row: InvitationRow) -> Self {
        Invitation {
            id: row.id,
            workspace_id: row.workspace_id,
            email: row.email,
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            invited_by: AccountId(row.invited_by),
            created_at: UnixTime(row.created_at),
            expires_at: UnixTime(row.expires_at),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PolicyRow {
    pub require_two_factor: String,
    pub grace_period_days: i64,
    pub enforced_since: Option<i64>,
    pub source: String,
}

impl From<PolicyRow> for InstancePolicy {
    fn from(row: PolicyRow) -> Self {
        InstancePolicy {
            scope: InstanceScope::parse(&row.require_two_factor).unwrap_or(InstanceScope::Off),
            grace_period_days: u32::try_from(row.grace_period_days).unwrap_or(0),
            enforced_since: row.enforced_since.map(UnixTime),
            source: if row.source == "admin" {
                PolicySource::Admin
            } else {
                PolicySource::Config
            },
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ResetRequestRow {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub message: String,
    pub created_at: i64,
}

impl From<ResetRequestRow> for ResetRequest {
    fn from(row: ResetRequestRow) -> Self {
        ResetRequest {
            id: row.id,
            account_id: AccountId(row.account_id),
            email: row.email,
            message: row.message,
            created_at: UnixTime(row.created_at),
        }
    }
}

/// An account with `has_two_factor`.
#[derive(sqlx::FromRow)]
pub(super) struct AccountSummaryRow {
    #[sqlx(flatten)]
    pub account: AccountRow,
    pub has_two_factor: bool,
    pub pending_until: Option<i64>,
}

impl From<AccountSummaryRow> for AccountSummary {
    fn from(row: AccountSummaryRow) -> Self {
        AccountSummary {
            account: row.account.into(),
            two_factor_enabled: row.has_two_factor,
            pending_until: row.pending_until.map(UnixTime),
        }
    }
}

/// A challenge with its account, authenticator and failure counter (`k_` columns).
#[derive(sqlx::FromRow)]
pub(super) struct ChallengeContextRow {
    #[sqlx(flatten)]
    pub challenge: ChallengeRow,
    #[sqlx(flatten)]
    pub account: AccountRow,
    #[sqlx(flatten)]
    pub two_factor: TwoFactorRow,
    pub k_failures: Option<i64>,
    pub k_window_start: Option<i64>,
    pub k_locked_until: Option<i64>,
    pub recovery_codes_remaining: i64,
}

impl From<ChallengeContextRow> for ChallengeContext {
    fn from(row: ChallengeContextRow) -> Self {
        let counter = CounterRow::joined(row.k_failures, row.k_window_start, row.k_locked_until);
        ChallengeContext {
            challenge: row.challenge.into(),
            account: row.account.into(),
            record: row.two_factor.into(),
            counter,
            recovery_codes_remaining: u32::try_from(row.recovery_codes_remaining).unwrap_or(0),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CounterRow {
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: i64,
}

impl CounterRow {
    /// The counter of a `LEFT JOIN`: none when the join found no row.
    pub fn joined(
        failures: Option<i64>,
        window_start: Option<i64>,
        locked_until: Option<i64>,
    ) -> Option<Counter> {
        match (failures, window_start, locked_until) {
            (Some(failures), Some(window_start), Some(locked_until)) => Some(
                CounterRow {
                    failures,
                    window_start,
                    locked_until,
                }
                .into(),
            ),
            _ => None,
        }
    }
}

impl From<CounterRow> for Counter {
    fn from(row: CounterRow) -> Self {
        Counter {
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
            window_start: UnixTime(row.window_start),
            locked_until: UnixTime(row.locked_until),
        }
    }
}

/// Maps a unique violation to the named constraint the caller expected.
pub(super) fn conflict_as(error: sqlx::Error, constraint: Constraint) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(constraint),
        _ => StoreError::Backend(error),
    }
}
