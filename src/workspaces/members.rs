//! A workspace's members: the list with each one's two-factor status, invitations by
//! e-mail (created by owners and admins, accepted by the person invited), role changes and
//! removal. Only owners touch owners, and a workspace always keeps an owner.

use serde_json::json;

use super::{Error, Workspaces};
use crate::domain::account::Caller;
use crate::domain::email::Email;
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::{new_id, AccountId, Token, TokenHash};
use crate::domain::workspace::{access, Access, Invitation, Member, Role, Workspace};
use crate::store::MemberChange;

/// How long an invitation stays valid.
const INVITATION_TTL_SECONDS: i64 = 7 * 86_400;

/// A member and their access under the workspace's enforcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// The member.
    pub member: Member,
    /// `ok`, `grace` or `blocked`.
    pub access: Access,
}

/// A new invitation and its single-use token (shown once, in the link sent).
#[derive(Debug)]
pub struct NewInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// Its token.
    pub token: Token,
}

/// What stands between the caller and joining a workspace they are invited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Nothing: they may accept.
    Open,
    /// The invitation names another e-mail address.
    OtherAccount,
    /// The workspace requires two-factor of the role, and the caller has none.
    TwoFactorFirst,
}

/// A live invitation as its addressee sees it.
#[derive(Debug, Clone)]
pub struct InvitationView {
    /// The invitation.
    pub invitation: Invitation,
    /// The workspace it is to.
    pub workspace: Workspace,
    /// Whether the caller may accept it.
    pub admission: Admission,
}

/// Parses a role name.
fn parse_role(text: &str) -> Result<Role, Error> {
    Role::parse(text).ok_or(Error::InvalidRole)
}

/// An invitation addressed to another e-mail than the caller's.
fn for_another(caller: Caller<'_>, invitation: &Invitation) -> bool {
    invitation.email != caller.account.email.as_str()
}

/// The workspace requires two-factor of the invited role, and the caller has not the
/// factor it asks for.
fn needs_two_factor_first(
    caller: Caller<'_>,
    invitation: &Invitation,
    workspace: &Workspace,
) -> bool {
    workspace.enforcement.covers(invitation.role)
        && !workspace.required_factor.satisfied_by(caller.factors)
}

fn member_change(outcome: MemberChange) -> Result<(), Error> {
    match outcome {
        MemberChange::Done => Ok(()),
        MemberChange::NotMember => Err(Error::NotFound),
        MemberChange::LastOwner => Err(Error::LastOwner),
    }
}

impl Workspaces {
    /// The members and their two-factor status, for owners and admins.
    pub async fn members(&self, caller: Caller<'_>, id: &str) -> Result<Vec<MemberStatus>, Error> {
        let (workspace, _) = self.manager_of(caller, id).await?;
        Ok(self
            .store
            .members(&workspace.id)
            .await?
            .into_iter()
            .map(|member| {
                let requirement = workspace.requirement_for(member.role);
                MemberStatus {
                    access: access(requirement, member.factors, caller.now),
                    member,
                }
            })
            .collect())
    }

    /// Invites `email` with `role` (owners and admins; only owners invite owners).
    pub async fn invite(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        email: &str,
        role: &str,
    ) -> Result<NewInvitation, Error> {
        let (workspace, caller_role) = self.manager_of(caller, id).await?;
        let email = Email::parse(email).map_err(|_| Error::InvalidEmail)?;
        let role = parse_role(role)?;
        if role == Role::Owner && caller_role != Role::Owner {
            return Err(Error::Forbidden);
        }
        let token = Token::generate();
        let invitation = Invitation {
            id: new_id(),
            workspace_id: workspace.id.clone(),
            email: email.as_str().to_owned(),
            role,
            invited_by: caller.account.id.clone(),
            created_at: caller.now,
            expires_at: caller.now.plus_seconds(INVITATION_TTL_SECONDS),
        };
        self.store
            .create_invitation(&invitation, &token.hash())
            .await?;
        let details = json!({"email": invitation.email, "role": role.as_str()});
        let kind = EventKind::InvitationCreated;
        self.record(caller, client, &workspace, kind, None, details)
            .await?;
        Ok(NewInvitation { invitation, token })
    }

    /// The live invitation behind `token` with its workspace and whether the caller may
    /// accept it; `None` when unknown, used or expired.
    pub async fn invitation(
        &self,
        caller: Caller<'_>,
        token: &str,
    ) -> Result<Option<InvitationView>, Error> {
        let hash = Token::from_presented(token).hash();
        let Some(invitation) = self.live_invitation(&hash, caller).await? else {
            return Ok(None);
        };
        let Some(workspace) = self.inviting_workspace(&invitation).await? else {
            return Ok(None);
        };
        let admission = if for_another(caller, &invitation) {
            Admission::OtherAccount
        } else if needs_two_factor_first(caller, &invitation, &workspace) {
            Admission::TwoFactorFirst
        } else {
            Admission::Open
        };
        Ok(Some(InvitationView {
            invitation,
            workspace,
            admission,
        }))
    }

    /// Accepts an invitation addressed to the caller's e-mail. While the workspace enforces
    /// two-factor for the invited role, the caller must have it first. Answers the
    /// invitation as accepted.
    pub async fn accept_invitation(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        token: &str,
    ) -> Result<Invitation, Error> {
        let token = Token::from_presented(token).hash();
        let invitation = self
            .live_invitation(&token, caller)
            .await?
            .ok_or(Error::NotFound)?;
        if for_another(caller, &invitation) {
            return Err(Error::Forbidden);
        }
        let workspace = self
            .inviting_workspace(&invitation)
            .await?
            .ok_or(Error::NotFound)?;
        if needs_two_factor_first(caller, &invitation, &workspace) {
            return Err(Error::TwoFactorRequired { deadline: None });
        }
        let accepted = self
            .store
            .accept_invitation(&token, &caller.account.id, caller.now)
            .await?
            .ok_or(Error::NotFound)?;
        let details = json!({"role": accepted.role.as_str()});
        let kind = EventKind::MemberJoined;
        self.record(caller, client, &workspace, kind, None, details)
            .await?;
        Ok(accepted)
    }

    /// Changes a member's role (owners and admins; only owners touch owners). Answers the
    /// new role.
    pub async fn change_role(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        member: &AccountId,
        role: &str,
    ) -> Result<Role, Error> {
        let (workspace, caller_role) = self.manager_of(caller, id).await?;
        let role = parse_role(role)?;
        let current = self.role_of(&workspace, member).await?;
        if caller_role != Role::Owner && (role == Role::Owner || current == Role::Owner) {
            return Err(Error::Forbidden);
        }
        member_change(self.store.change_role(&workspace.id, member, role).await?)?;
        let details = json!({"from": current.as_str(), "to": role.as_str()});
        let kind = EventKind::MemberRoleChanged;
        self.record(caller, client, &workspace, kind, Some(member), details)
            .await?;
        Ok(role)
    }

    /// Removes a member (owners and admins; only owners remove owners; anyone may leave).
    pub async fn remove_member(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        member: &AccountId,
    ) -> Result<(), Error> {
        let leaving = *member == caller.account.id;
        let membership = self.member_of(caller, id).await?;
        let workspace = membership.workspace;
        if !leaving {
            let (_, caller_role) = self.manager_of(caller, id).await?;
            let current = self.role_of(&workspace, member).await?;
            if current == Role::Owner && caller_role != Role::Owner {
                return Err(Error::Forbidden);
            }
        }
        member_change(self.store.remove_member(&workspace.id, member).await?)?;
        let details = json!({"left": leaving, "by_role": membership.role.as_str()});
        let kind = EventKind::MemberRemoved;
        self.record(caller, client, &workspace, kind, Some(member), details)
            .await?;
        Ok(())
    }

    /// The invitation stored under `token`, unless it has lapsed.
    async fn live_invitation(
        &self,
        token: &TokenHash,
        caller: Caller<'_>,
    ) -> Result<Option<Invitation>, Error> {
        Ok(self
            .store
            .invitation(token)
            .await?
            .filter(|invitation| caller.now < invitation.expires_at))
    }

    /// The workspace an invitation is to, found through the inviter's membership.
    async fn inviting_workspace(
        &self,
        invitation: &Invitation,
    ) -> Result<Option<Workspace>, Error> {
        Ok(self
            .store
            .membership(&invitation.workspace_id, &invitation.invited_by)
            .await?
            .map(|(workspace, _)| workspace))
    }

    /// Another member's role; [`Error::NotFound`] when not a member.
    async fn role_of(&self, workspace: &Workspace, member: &AccountId) -> Result<Role, Error> {
        self.store
            .membership(&workspace.id, member)
            .await?
            .map(|(_, role)| role)
            .ok_or(Error::NotFound)
    }
}
