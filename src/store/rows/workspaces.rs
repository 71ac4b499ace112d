//! Workspace rows: a workspace with its enforcement, a membership, a member as listed, an
//! invitation, and the instance-wide policy.

use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::domain::workspace::{
    Enforcement, InstancePolicy, InstanceScope, Invitation, Member, PolicySource, RequiredFactor,
    Role, SecondFactors, Workspace,
};

/// A stored `required_factor`; anything unknown reads as the stricter one.
fn required_factor(name: &str) -> RequiredFactor {
    RequiredFactor::parse(name).unwrap_or(RequiredFactor::PhishingResistant)
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub enforcement: String,
    pub grace_period_days: i64,
    pub enforced_since: Option<i64>,
    pub required_factor: String,
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
            required_factor: required_factor(&row.required_factor),
        }
    }
}

/// A workspace with the account's role (column `role`).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct WorkspaceRoleRow {
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
pub(in crate::store) struct MemberRow {
    pub account_id: String,
    pub email: String,
    pub role: String,
    pub has_totp: bool,
    pub has_webauthn: bool,
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        Member {
            account_id: AccountId(row.account_id),
            email: row.email,
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            factors: SecondFactors {
                totp: row.has_totp,
                webauthn: row.has_webauthn,
            },
        }
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct InvitationRow {
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
pub(in crate::store) struct PolicyRow {
    pub require_two_factor: String,
    pub grace_period_days: i64,
    pub enforced_since: Option<i64>,
    pub source: String,
    pub required_factor: String,
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
            required_factor: required_factor(&row.required_factor),
        }
    }
}
