//! Workspaces (SPEC §4), shared by the JSON API and the pages: members with roles
//! ([`members`]: invitations, role changes, removal) and two-factor enforcement with a
//! grace period ([`enforcement`]), and owners vouching for their members' lost-device
//! reset requests ([`resets`]). No HTTP and no SQL here.
//!
//! Every operation on a workspace first checks membership ([`Error::NotFound`] for
//! strangers, so ids reveal nothing) and then the caller's access: a covered member without
//! two-factor past the deadline gets [`Error::TwoFactorRequired`] with the deadline.

pub mod enforcement;
pub mod members;
pub mod resets;

use std::sync::Arc;

use crate::domain::account::Caller;
use crate::domain::event::{ClientInfo, Event, EventKind, NewEvent};
use crate::domain::ids::{new_id, AccountId};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{access, Access, Enforcement, RequiredFactor, Role, Workspace};
use crate::notify::Notifier;
use crate::store::{Store, StoreError};

/// Longest workspace name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// Why a workspace operation refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such workspace, member or invitation (or the caller may not know of it).
    #[error("not found")]
    NotFound,
    /// A member, but not allowed to do this.
    #[error("forbidden")]
    Forbidden,
    /// The workspace requires two-factor of the caller and it is missing: past the
    /// `deadline`, or (without one) before joining.
    #[error("two-factor required")]
    TwoFactorRequired {
        /// When grace ended.
        deadline: Option<UnixTime>,
    },
    /// A name that is empty, too long, or holds control characters.
    #[error("invalid name")]
    InvalidName,
    /// Not an acceptable e-mail address.
    #[error("invalid e-mail address")]
    InvalidEmail,
    /// Not `owner`, `admin` or `member`.
    #[error("invalid role")]
    InvalidRole,
    /// Not `off`, `all` or `admins`.
    #[error("invalid enforcement")]
    InvalidEnforcement,
    /// A grace period other than 0, 3, 7, 14 or 30 days.
    #[error("invalid grace period")]
    InvalidGracePeriod,
    /// Not `any` or `phishing_resistant`.
    #[error("invalid required factor")]
    InvalidRequiredFactor,
    /// Turning enforcement on needs the factor it asks for on the caller's own account
    /// first.
    #[error("enable two-factor first")]
    EnableTwoFactorFirst(RequiredFactor),
    /// The change would leave the workspace without an owner.
    #[error("last owner")]
    LastOwner,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The workspace operations over these parts; cheap to clone.
#[derive(Clone)]
pub struct Workspaces {
    store: Arc<dyn Store>,
    notifier: Notifier,
}

/// A workspace as one member sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The workspace.
    pub workspace: Workspace,
    /// The member's role.
    pub role: Role,
    /// The member's access under its enforcement.
    pub access: Access,
}

impl Workspaces {
    /// The operations over these parts.
    pub fn new(store: Arc<dyn Store>, notifier: Notifier) -> Workspaces {
        Workspaces { store, notifier }
    }

    /// Creates a workspace named `name` (trimmed, 1–100 characters); the caller owns it.
    pub async fn create(&self, caller: Caller<'_>, name: &str) -> Result<Membership, Error> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(Error::InvalidName);
        }
        let workspace = Workspace {
            id: new_id(),
            name: name.to_owned(),
            created_at: caller.now,
            enforcement: Enforcement::Off,
            grace_period_days: 0,
            enforced_since: None,
            required_factor: RequiredFactor::Any,
        };
        self.store
            .create_workspace(&workspace, &caller.account.id)
            .await?;
        Ok(Membership {
            workspace,
            role: Role::Owner,
            access: Access::Ok,
        })
    }

    /// The caller's workspaces, each with the caller's role and access.
    pub async fn list(&self, caller: Caller<'_>) -> Result<Vec<Membership>, Error> {
        Ok(self
            .store
            .account_workspaces(&caller.account.id)
            .await?
            .into_iter()
            .map(|(workspace, role)| {
                let access = access(workspace.requirement_for(role), caller.factors, caller.now);
                Membership {
                    workspace,
                    role,
                    access,
                }
            })
            .collect())
    }

    /// One workspace of the caller's, unless the caller is blocked in it.
    pub async fn get(&self, caller: Caller<'_>, id: &str) -> Result<Membership, Error> {
        self.unblocked_member_of(caller, id).await
    }

    /// The workspace's security events, newest first, for its owners and admins: at most
    /// `limit + 1`, the one past `limit` telling that more follow.
    pub async fn events(
        &self,
        caller: Caller<'_>,
        id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, Error> {
        let (workspace, _) = self.manager_of(caller, id).await?;
        let events = self
            .store
            .workspace_events(&workspace.id, before, limit + 1)
            .await?;
        Ok(events)
    }

    /// The workspace, the caller's role and access; [`Error::NotFound`] for non-members.
    async fn member_of(&self, caller: Caller<'_>, id: &str) -> Result<Membership, Error> {
        let (workspace, role) = self
            .store
            .membership(id, &caller.account.id)
            .await?
            .ok_or(Error::NotFound)?;
        let access = access(workspace.requirement_for(role), caller.factors, caller.now);
        Ok(Membership {
            workspace,
            role,
            access,
        })
    }

    /// Like [`Self::member_of`], refusing blocked members.
    async fn unblocked_member_of(&self, caller: Caller<'_>, id: &str) -> Result<Membership, Error> {
        let membership = self.member_of(caller, id).await?;
        if let Access::Blocked { deadline } = membership.access {
            return Err(Error::TwoFactorRequired {
                deadline: Some(deadline),
            });
        }
        Ok(membership)
    }

    /// Like [`Self::unblocked_member_of`], for owners and admins only.
    async fn manager_of(&self, caller: Caller<'_>, id: &str) -> Result<(Workspace, Role), Error> {
        let membership = self.unblocked_member_of(caller, id).await?;
        if !membership.role.manages() {
            return Err(Error::Forbidden);
        }
        Ok((membership.workspace, membership.role))
    }

    /// Records an event in `workspace`, done by the caller, about `subject` (by default
    /// the caller).
    async fn record(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        workspace: &Workspace,
        kind: EventKind,
        subject: Option<&AccountId>,
        details: serde_json::Value,
    ) -> Result<(), Error> {
        let event = NewEvent {
            account_id: Some(subject.unwrap_or(&caller.account.id).clone()),
            actor_id: Some(caller.account.id.clone()),
            workspace_id: Some(workspace.id.clone()),
            kind,
            at: caller.now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details,
        };
        self.notifier.record(self.store.as_ref(), &event).await?;
        Ok(())
    }
}
