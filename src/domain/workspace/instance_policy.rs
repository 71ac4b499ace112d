//! The instance-wide two-factor requirement: whom it covers, who set it, and how it changes.

use super::{RequiredFactor, Requirement};
use crate::domain::time::UnixTime;

/// Who the instance-wide requirement covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceScope {
    /// Nobody.
    Off,
    /// Every account.
    Everyone,
    /// Instance admins.
    Admins,
}

impl InstanceScope {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceScope::Off => "off",
            InstanceScope::Everyone => "everyone",
            InstanceScope::Admins => "admins",
        }
    }

    /// Parses the API name.
    pub fn parse(text: &str) -> Option<InstanceScope> {
        match text {
            "off" => Some(InstanceScope::Off),
            "everyone" => Some(InstanceScope::Everyone),
            "admins" => Some(InstanceScope::Admins),
            _ => None,
        }
    }
}

/// Where the instance policy in force was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// The configuration file (replaced when the file changes).
    Config,
    /// An instance admin at run time (kept until an admin changes it).
    Admin,
}

impl PolicySource {
    /// The stable name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Config => "config",
            PolicySource::Admin => "admin",
        }
    }
}

/// The instance-wide two-factor requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstancePolicy {
    /// Who it covers.
    pub scope: InstanceScope,
    /// Days of grace.
    pub grace_period_days: u32,
    /// When it was turned on.
    pub enforced_since: Option<UnixTime>,
    /// Who set it.
    pub source: PolicySource,
    /// Which second factors meet it.
    pub required_factor: RequiredFactor,
}

impl InstancePolicy {
    /// Nothing required: the policy before any is set.
    pub const OFF: InstancePolicy = InstancePolicy {
        scope: InstanceScope::Off,
        grace_period_days: 0,
        enforced_since: None,
        source: PolicySource::Config,
        required_factor: RequiredFactor::Any,
    };

    /// When grace ends (or ended) for the accounts it covers; `None` while off.
    pub fn deadline(&self) -> Option<UnixTime> {
        // Admins are covered by every scope but `off`.
        self.requirement_for(true).map(|r| r.deadline())
    }

    /// The requirement that applies to an account.
    pub fn requirement_for(&self, is_admin: bool) -> Option<Requirement> {
        let since = self.enforced_since?;
        let covered = match self.scope {
            InstanceScope::Off => false,
            InstanceScope::Everyone => true,
            InstanceScope::Admins => is_admin,
        };
        covered.then_some(Requirement {
            since,
            grace_period_days: self.grace_period_days,
            factor: self.required_factor,
        })
    }

    /// The policy after it is set to `scope`/`grace`/`required_factor` at `now` by
    /// `source`: turning it on records when; a change while on keeps that time, except
    /// asking for a phishing-resistant factor where any was enough, which restarts it (as
    /// [`super::Workspace::with_enforcement`]); off clears it.
    pub fn changed(
        current: Option<&InstancePolicy>,
        scope: InstanceScope,
        grace_period_days: u32,
        required_factor: RequiredFactor,
        source: PolicySource,
        now: UnixTime,
    ) -> InstancePolicy {
        let before = current.map_or(RequiredFactor::Any, |p| p.required_factor);
        let tightened = required_factor.stricter_than(before);
        let enforced_since = match (scope, current.and_then(|p| p.enforced_since)) {
            (InstanceScope::Off, _) => None,
            (_, Some(since)) if !tightened => Some(since),
            (_, _) => Some(now),
        };
        InstancePolicy {
            scope,
            grace_period_days,
            enforced_since,
            source,
            required_factor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINCE: UnixTime = UnixTime(1_700_000_000);

    #[test]
    fn an_instance_policy_has_a_deadline_only_while_on() {
        let (any, admin) = (RequiredFactor::Any, PolicySource::Admin);
        assert_eq!(InstancePolicy::OFF.deadline(), None);
        let on = InstancePolicy::changed(None, InstanceScope::Admins, 7, any, admin, SINCE);
        assert_eq!(on.deadline(), Some(SINCE.plus_seconds(7 * 86_400)));
        let off = InstancePolicy::changed(Some(&on), InstanceScope::Off, 7, any, admin, SINCE);
        assert_eq!(off.deadline(), None);
        assert_eq!(PolicySource::Config.as_str(), "config");
        assert_eq!(PolicySource::Admin.as_str(), "admin");
    }

    #[test]
    fn asking_for_a_phishing_resistant_factor_restarts_the_grace() {
        let (any, admin) = (RequiredFactor::Any, PolicySource::Admin);
        let strict = RequiredFactor::PhishingResistant;
        let on = InstancePolicy::changed(None, InstanceScope::Everyone, 7, any, admin, SINCE);
        let later = SINCE.plus_seconds(100);
        let tightened =
            InstancePolicy::changed(Some(&on), InstanceScope::Everyone, 7, strict, admin, later);
        assert_eq!(tightened.enforced_since, Some(later));
        assert_eq!(tightened.requirement_for(false).unwrap().factor, strict);
        let relaxed = InstancePolicy::changed(
            Some(&tightened),
            InstanceScope::Everyone,
            7,
            any,
            admin,
            later.plus_seconds(5),
        );
        assert_eq!(relaxed.enforced_since, Some(later));
    }
}
