//! A workspace's two-factor enforcement: who it covers, the grace period, and how far the
//! team is. Owners and admins read and set it; turning it on needs two-factor on their own
//! account first.

use serde_json::json;

use super::{Error, Workspaces};
use crate::domain::account::Caller;
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::workspace::{valid_grace_period, Enforcement, Workspace};

/// A workspace's enforcement and how many members have two-factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// The workspace with its enforcement settings.
    pub workspace: Workspace,
    /// Members with two-factor enabled.
    pub enrolled_count: usize,
    /// Members.
    pub member_count: usize,
}

impl Workspaces {
    /// The workspace's enforcement and enrolment count (owners and admins).
    pub async fn security(&self, caller: Caller<'_>, id: &str) -> Result<Security, Error> {
        let (workspace, _) = self.manager_of(caller, id).await?;
        self.security_of(workspace).await
    }

    /// Sets the enforcement (`off`, `all` or `admins`) and the grace period (owners and
    /// admins, who need two-factor themselves to turn it on).
    pub async fn set_enforcement(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        enforcement: &str,
        grace_period_days: u32,
    ) -> Result<Security, Error> {
        let (workspace, _) = self.manager_of(caller, id).await?;
        let enforcement = Enforcement::parse(enforcement).ok_or(Error::InvalidEnforcement)?;
        if !valid_grace_period(grace_period_days) {
            return Err(Error::InvalidGracePeriod);
        }
        if enforcement != Enforcement::Off && !caller.has_two_factor {
            return Err(Error::EnableTwoFactorFirst);
        }
        let updated = workspace.with_enforcement(enforcement, grace_period_days, caller.now);
        self.store.set_enforcement(&updated).await?;
        let details = json!({
            "from": {"enforcement": workspace.enforcement.as_str(), "grace_period_days": workspace.grace_period_days},
            "to": {"enforcement": enforcement.as_str(), "grace_period_days": grace_period_days},
        });
        let kind = EventKind::EnforcementChanged;
        self.record(caller, client, &updated, kind, None, details)
            .await?;
        self.security_of(updated).await
    }

    async fn security_of(&self, workspace: Workspace) -> Result<Security, Error> {
        let members = self.store.members(&workspace.id).await?;
        Ok(Security {
            enrolled_count: members.iter().filter(|m| m.has_two_factor).count(),
            member_count: members.len(),
            workspace,
        })
    }
}
