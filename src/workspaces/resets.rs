//! Owners vouching for their members' lost-device reset requests (SPEC §11, "Lost
//! everything, confirmed"): the seed's organisation owner "verifies that your request is
//! legitimate".
//!
//! Invariants:
//! - Only an owner (not blocked by the workspace's enforcement) sees or vouches, and only
//!   for the open requests of the workspace's members; strangers get
//!   [`Error::NotFound`], other members [`Error::Forbidden`].
//! - Nobody vouches for their own request (it is not listed to them either).
//! - An owner vouches once per request, whichever of their workspaces they vouch through: a
//!   repeat answers the first vouch and records nothing. The store checks membership,
//!   ownership and that the request is open again in the vouch's transaction.

use serde_json::json;

use super::{Error, Workspaces};
use crate::domain::account::Caller;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{Role, Workspace};
use crate::store::{NewVouch, ResetRequest, VouchOutcome};

/// A member's open reset request as an owner of the workspace sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRequest {
    /// The request with its marks.
    pub request: ResetRequest,
    /// Whether a present owner of this workspace vouched for it.
    pub vouched: bool,
    /// Whether the caller vouched for it.
    pub vouched_by_caller: bool,
}

/// A vouch as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    /// The request vouched for.
    pub request_id: String,
    /// Whose request.
    pub account_id: String,
    /// When the caller vouched (the first time, for a repeat).
    pub at: UnixTime,
    /// False for a repeat, which changed nothing.
    pub recorded: bool,
}

impl Workspaces {
    /// The open reset requests of the workspace's members but the caller's own, oldest
    /// first (owners only).
    pub async fn reset_requests(
        &self,
        caller: Caller<'_>,
        id: &str,
    ) -> Result<Vec<MemberRequest>, Error> {
        let workspace = self.owner_of(caller, id).await?;
        let owners: Vec<_> = self
            .store
            .members(&workspace.id)
            .await?
            .into_iter()
            .filter(|member| member.role == Role::Owner)
            .map(|member| member.account_id)
            .collect();
        let requests = self.store.member_reset_requests(&workspace.id).await?;
        Ok(requests
            .into_iter()
            .filter(|request| request.account_id != caller.account.id)
            .map(|request| {
                let vouchers = || request.vouches.iter().map(|vouch| &vouch.account_id);
                let vouched = vouchers().any(|account| owners.contains(account));
                let vouched_by_caller = vouchers().any(|account| *account == caller.account.id);
                MemberRequest {
                    request,
                    vouched,
                    vouched_by_caller,
                }
            })
            .collect())
    }

    /// Vouches, as an owner of the workspace, for a member's open reset request: recorded
    /// as `reset_request_vouched` (notifying the instance admins), once per owner.
    pub async fn vouch(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        request_id: &str,
    ) -> Result<Vouched, Error> {
        let workspace = self.owner_of(caller, id).await?;
        let request = self
            .store
            .member_reset_requests(&workspace.id)
            .await?
            .into_iter()
            .find(|request| request.id == request_id)
            .ok_or(Error::NotFound)?;
        if request.account_id == caller.account.id {
            return Err(Error::Forbidden);
        }
        let event = NewEvent {
            account_id: Some(request.account_id.clone()),
            actor_id: Some(caller.account.id.clone()),
            workspace_id: Some(workspace.id.clone()),
            kind: EventKind::ResetRequestVouched,
            at: caller.now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details: json!({
                "request_id": request.id,
                "owner_email": caller.account.email.as_str(),
            }),
        };
        let vouch = NewVouch {
            request_id: &request.id,
            workspace_id: &workspace.id,
            owner: &caller.account.id,
            at: caller.now,
        };
        let channels = self.notifier.channels();
        let outcome = self
            .store
            .vouch_reset_request(&vouch, &event, channels)
            .await?;
        let (at, recorded) = match outcome {
            VouchOutcome::Vouched => {
                self.notifier.wake_for(std::slice::from_ref(&event));
                (caller.now, true)
            }
            VouchOutcome::Already(at) => (at, false),
            // Closed, or the member or the caller's ownership left, since it was read.
            VouchOutcome::Refused => return Err(Error::NotFound),
        };
        Ok(Vouched {
            request_id: request.id,
            account_id: request.account_id.0,
            at,
            recorded,
        })
    }

    /// The workspace, for an unblocked owner of it; [`Error::Forbidden`] for its other
    /// members.
    async fn owner_of(&self, caller: Caller<'_>, id: &str) -> Result<Workspace, Error> {
        let membership = self.unblocked_member_of(caller, id).await?;
        if membership.role != Role::Owner {
            return Err(Error::Forbidden);
        }
        Ok(membership.workspace)
    }
}
