//! Suspending, lifting a suspension and deleting accounts, by an instance admin (API or
//! admin page), each with a mandatory reason, audited with the admin as actor and (for a
//! suspension and its end) notified to the account. The store does each in one transaction
//! (`store/lifecycle.rs`).

use serde_json::json;

use super::{Admin, Error};
use crate::domain::account::{admin_may_act_on, note, Account, Caller};
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::store::Deletion;

/// What an admin's deletion of an account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The account's id (kept by the audit trail).
    pub account_id: AccountId,
    /// Sessions ended.
    pub sessions_ended: u64,
    /// Workspaces it was the only member of, deleted with it.
    pub workspaces_deleted: u64,
}

impl Admin {
    /// Suspends the account `id` for the admin `caller` with a `reason` (1–1000
    /// characters): it cannot sign in, its sessions and challenges end at once. Answers the
    /// account as it was and how many sessions ended.
    pub async fn suspend(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        reason: Option<&str>,
    ) -> Result<(Account, u64), Error> {
        let (account, event) = self
            .lifecycle_event(caller, client, id, reason, EventKind::AccountSuspended)
            .await?;
        let channels = self.notifier.channels();
        let ended = self
            .store
            .suspend_account(&account.id, caller.now, &event, channels)
            .await?
            .ok_or(Error::AlreadySuspended)?;
        self.notifier.wake_for(std::slice::from_ref(&event));
        Ok((account, ended))
    }

    /// Lifts the suspension of the account `id`, with a `reason`.
    pub async fn unsuspend(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        reason: Option<&str>,
    ) -> Result<Account, Error> {
        let (account, event) = self
            .lifecycle_event(caller, client, id, reason, EventKind::AccountUnsuspended)
            .await?;
        let channels = self.notifier.channels();
        if !self
            .store
            .unsuspend_account(&account.id, &event, channels)
            .await?
        {
            return Err(Error::NotSuspended);
        }
        self.notifier.wake_for(std::slice::from_ref(&event));
        Ok(account)
    }

    /// Deletes the account `id`, with a `reason`: refused while it is the last owner of a
    /// workspace that has other members.
    pub async fn delete_account(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        reason: Option<&str>,
    ) -> Result<Deleted, Error> {
        let (account, event) = self
            .lifecycle_event(caller, client, id, reason, EventKind::AccountDeleted)
            .await?;
        let channels = self.notifier.channels();
        match self
            .store
            .delete_account(&account.id, &event, channels)
            .await?
        {
            Deletion::Deleted {
                sessions_ended,
                workspaces_deleted,
            } => {
                self.notifier.wake_for(std::slice::from_ref(&event));
                Ok(Deleted {
                    account_id: account.id,
                    sessions_ended,
                    workspaces_deleted,
                })
            }
            Deletion::LastOwner { .. } => Err(Error::LastOwner),
            Deletion::Gone => Err(Error::NotFound),
        }
    }

    /// Checks the reason and the target, and makes the event of `kind` about it.
    async fn lifecycle_event(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        reason: Option<&str>,
        kind: EventKind,
    ) -> Result<(Account, NewEvent), Error> {
        let reason = note(reason.unwrap_or_default()).ok_or(Error::ReasonRequired)?;
        let account = self
            .store
            .account_by_id(&AccountId(id.to_owned()))
            .await?
            .ok_or(Error::NotFound)?;
        if !admin_may_act_on(&caller.account.id, &account.id) {
            return Err(Error::OwnAccount);
        }
        let event = NewEvent {
            account_id: Some(account.id.clone()),
            actor_id: Some(caller.account.id.clone()),
            workspace_id: None,
            kind,
            at: caller.now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details: json!({"reason": reason, "by": "admin"}),
        };
        Ok((account, event))
    }
}
