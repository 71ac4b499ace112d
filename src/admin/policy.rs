//! The instance-wide two-factor requirement: set in `[policy]`, overridable at run time by
//! instance admins. It lives in the database so every node agrees.

use serde_json::json;

use super::{Admin, Error};
use crate::config::{PolicyConfig, RequireTwoFactor};
use crate::domain::account::Caller;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{
    valid_grace_period, InstancePolicy, InstanceScope, PolicySource, RequiredFactor,
};
use crate::store::{Store, StoreError};

fn scope_of(require: RequireTwoFactor) -> InstanceScope {
    match require {
        RequireTwoFactor::Off => InstanceScope::Off,
        RequireTwoFactor::Everyone => InstanceScope::Everyone,
        RequireTwoFactor::Admins => InstanceScope::Admins,
    }
}

/// At start: the configured policy replaces a stored one that also came from the
/// configuration (so editing `[policy]` takes effect); an admin's run-time choice stays.
pub async fn sync_instance_policy(
    store: &dyn Store,
    configured: PolicyConfig,
    now: UnixTime,
) -> Result<(), StoreError> {
    let current = store.instance_policy().await?;
    if current.is_some_and(|p| p.source == PolicySource::Admin) {
        return Ok(());
    }
    let scope = scope_of(configured.require_two_factor);
    let unchanged = current.is_some_and(|p| {
        p.scope == scope
            && p.grace_period_days == configured.grace_period_days
            && p.required_factor == configured.required_factor
    });
    if !unchanged {
        let policy = InstancePolicy::changed(
            current.as_ref(),
            scope,
            configured.grace_period_days,
            configured.required_factor,
            PolicySource::Config,
            now,
        );
        store.set_instance_policy(&policy).await?;
    }
    Ok(())
}

impl Admin {
    /// The requirement in force ([`InstancePolicy::OFF`] before any is set).
    pub async fn instance_policy(&self) -> Result<InstancePolicy, Error> {
        let policy = self.store.instance_policy().await?;
        Ok(policy.unwrap_or(InstancePolicy::OFF))
    }

    /// Sets the requirement to `scope` (`off`, `everyone` or `admins`) with a grace
    /// period, met by `required_factor` (`any` or `phishing_resistant`; `None` keeps the one
    /// in force). The admin needs that factor to turn it on. Answers the policy now in force.
    pub async fn set_instance_policy(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        scope: &str,
        grace_period_days: u32,
        required_factor: Option<&str>,
    ) -> Result<InstancePolicy, Error> {
        let scope = InstanceScope::parse(scope).ok_or(Error::InvalidScope)?;
        if !valid_grace_period(grace_period_days) {
            return Err(Error::InvalidGracePeriod);
        }
        let current = self.store.instance_policy().await?;
        let required_factor = match required_factor {
            Some(name) => RequiredFactor::parse(name).ok_or(Error::InvalidRequiredFactor)?,
            None => current.map_or(RequiredFactor::Any, |p| p.required_factor),
        };
        if scope != InstanceScope::Off && !required_factor.satisfied_by(caller.factors) {
            return Err(Error::EnableTwoFactorFirst(required_factor));
        }
        let policy = InstancePolicy::changed(
            current.as_ref(),
            scope,
            grace_period_days,
            required_factor,
            PolicySource::Admin,
            caller.now,
        );
        self.store.set_instance_policy(&policy).await?;
        let event = NewEvent {
            account_id: Some(caller.account.id.clone()),
            actor_id: Some(caller.account.id.clone()),
            workspace_id: None,
            kind: EventKind::InstancePolicyChanged,
            at: caller.now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details: json!({
                "require_two_factor": scope.as_str(),
                "grace_period_days": grace_period_days,
                "required_factor": required_factor.as_str(),
            }),
        };
        self.notifier.record(self.store.as_ref(), &event).await?;
        Ok(policy)
    }
}
