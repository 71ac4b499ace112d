//! A workspace's two-factor enforcement: who it covers, the grace period, and how far the
//! team is. Owners and admins read and set it; turning it on needs the factor it asks for on
//! their own account first.

use serde_json::json;

use super::{Error, Workspaces};
use crate::domain::account::Caller;
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::workspace::{valid_grace_period, Enforcement, RequiredFactor, Workspace};

/// A workspace's enforcement and how many members meet it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// The workspace with its enforcement settings.
    pub workspace: Workspace,
    /// Members with a second factor that meets the required factor.
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

    /// Sets the enforcement (`off`, `all` or `admins`), the grace period and the factor that
    /// meets it (`any` or `phishing_resistant`; `None` keeps the one set). Owners and admins,
    /// who need that factor themselves to turn it on.
    pub async fn set_enforcement(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        enforcement: &str,
        grace_period_days: u32,
        required_factor: Option<&str>,
    ) -> Result<Security, Error> {
        let (workspace, _) = self.manager_of(caller, id).await?;
        let enforcement = Enforcement::parse(enforcement).ok_or(Error::InvalidEnforcement)?;
        if !valid_grace_period(grace_period_days) {
            return Err(Error::InvalidGracePeriod);
        }
        let required_factor = match required_factor {
            Some(name) => RequiredFactor::parse(name).ok_or(Error::InvalidRequiredFactor)?,
            None => workspace.required_factor,
        };
        if enforcement != Enforcement::Off && !required_factor.satisfied_by(caller.factors) {
            return Err(Error::EnableTwoFactorFirst(required_factor));
        }
        let updated =
            workspace.with_enforcement(enforcement, grace_period_days, required_factor, caller.now);
        self.store.set_enforcement(&updated).await?;
        let settings = |w: &Workspace| {
            json!({
                "enforcement": w.enforcement.as_str(),
                "grace_period_days": w.grace_period_days,
                "required_factor": w.required_factor.as_str(),
            })
        };
        let details = json!({"from": settings(&workspace), "to": settings(&updated)});
        let kind = EventKind::EnforcementChanged;
        self.record(caller, client, &updated, kind, None, details)
            .await?;
        self.security_of(updated).await
    }

    async fn security_of(&self, workspace: Workspace) -> Result<Security, Error> {
        let members = self.store.members(&workspace.id).await?;
        let required = workspace.required_factor;
        Ok(Security {
            enrolled_count: members
                .iter()
                .filter(|m| required.satisfied_by(m.factors))
                .count(),
            member_count: members.len(),
            workspace,
        })
    }
}
