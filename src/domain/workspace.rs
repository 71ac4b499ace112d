//! Workspaces: a member's role, the workspace with its enforcement settings, members as
//! listed, and invitations. Who a requirement covers and whether a member who lacks
//! two-factor is still in grace or blocked is `enforcement.rs`; the instance-wide
//! requirement is `instance_policy.rs`. The same rule serves both.

mod enforcement;
mod instance_policy;

use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;

pub use enforcement::{
    access, valid_grace_period, Access, Enforcement, RequiredFactor, Requirement, SecondFactors,
    GRACE_PERIOD_DAYS,
};
pub use instance_policy::{InstancePolicy, InstanceScope, PolicySource};

/// A member's role in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Manages members and security; at least one per workspace.
    Owner,
    /// Manages members and security.
    Admin,
    /// Uses the workspace.
    Member,
}

impl Role {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Parses the API name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// Owners and admins manage members, invitations and security.
    pub fn manages(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A workspace and its enforcement settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Who must have two-factor.
    pub enforcement: Enforcement,
    /// Days of grace.
    pub grace_period_days: u32,
    /// When enforcement was turned on (absent while off).
    pub enforced_since: Option<UnixTime>,
    /// Which second factors meet it.
    pub required_factor: RequiredFactor,
}

impl Workspace {
    /// The requirement that applies to a member with `role`, if any.
    pub fn requirement_for(&self, role: Role) -> Option<Requirement> {
        let since = self.enforced_since?;
        self.enforcement.covers(role).then_some(Requirement {
            since,
            grace_period_days: self.grace_period_days,
            factor: self.required_factor,
        })
    }

    /// When grace ends (or ended) for the members enforcement covers; `None` while off.
    pub fn deadline(&self) -> Option<UnixTime> {
        self.enforced_since.map(|since| {
            Requirement {
                since,
                grace_period_days: self.grace_period_days,
                factor: self.required_factor,
            }
            .deadline()
        })
    }

    /// The settings after an owner or admin sets them at `now`: turning enforcement on
    /// records `enforced_since`; changing scope or grace while on keeps it; off clears it.
    /// Asking for a phishing-resistant factor where any was enough restarts it, so members
    /// who had an authenticator app alone get the whole grace period to add a key.
    pub fn with_enforcement(
        &self,
        enforcement: Enforcement,
        grace_period_days: u32,
        required_factor: RequiredFactor,
        now: UnixTime,
    ) -> Workspace {
        let tightened = required_factor.stricter_than(self.required_factor);
        let enforced_since = match (enforcement, self.enforced_since) {
            (Enforcement::Off, _) => None,
            (_, Some(since)) if !tightened => Some(since),
            (_, _) => Some(now),
        };
        Workspace {
            enforcement,
            grace_period_days,
            enforced_since,
            required_factor,
            ..self.clone()
        }
    }
}

/// A member as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The account.
    pub account_id: AccountId,
    /// Its e-mail.
    pub email: String,
    /// Its role.
    pub role: Role,
    /// Its second factors.
    pub factors: SecondFactors,
}

/// An invitation to join a workspace (its token is stored only as a digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Its id.
    pub id: String,
    /// The workspace.
    pub workspace_id: String,
    /// Normalized e-mail it was sent to.
    pub email: String,
    /// The role it grants.
    pub role: Role,
    /// Who invited.
    pub invited_by: AccountId,
    /// When it was made.
    pub created_at: UnixTime,
    /// When it lapses.
    pub expires_at: UnixTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINCE: UnixTime = UnixTime(1_800_000_000);

    #[test]
    fn turning_enforcement_on_records_when_and_changes_keep_it() {
        let workspace = Workspace {
            id: "w".into(),
            name: "W".into(),
            created_at: UnixTime(0),
            enforcement: Enforcement::Off,
            grace_period_days: 0,
            enforced_since: None,
            required_factor: RequiredFactor::Any,
        };
        let any = RequiredFactor::Any;
        let on = workspace.with_enforcement(Enforcement::All, 7, any, SINCE);
        assert_eq!(on.enforced_since, Some(SINCE));
        let narrowed = on.with_enforcement(Enforcement::Admins, 3, any, SINCE.plus_seconds(100));
        assert_eq!(narrowed.enforced_since, Some(SINCE));
        assert_eq!(
            narrowed.requirement_for(Role::Admin).map(|r| r.deadline()),
            Some(SINCE.plus_seconds(3 * 86_400))
        );
        assert_eq!(narrowed.requirement_for(Role::Member), None);
        assert_eq!(narrowed.deadline(), Some(SINCE.plus_seconds(3 * 86_400)));
        let off = narrowed.with_enforcement(Enforcement::Off, 3, any, SINCE.plus_seconds(200));
        assert_eq!(off.enforced_since, None);
        assert_eq!(off.requirement_for(Role::Owner), None);
        assert_eq!(off.deadline(), None);
    }

    #[test]
    fn asking_for_a_phishing_resistant_factor_restarts_the_grace_and_relaxing_does_not() {
        let workspace = Workspace {
            id: "w".into(),
            name: "W".into(),
            created_at: UnixTime(0),
            enforcement: Enforcement::All,
            grace_period_days: 7,
            enforced_since: Some(SINCE),
            required_factor: RequiredFactor::Any,
        };
        let later = SINCE.plus_seconds(30 * 86_400);
        let strict = RequiredFactor::PhishingResistant;
        let tightened = workspace.with_enforcement(Enforcement::All, 7, strict, later);
        assert_eq!(tightened.enforced_since, Some(later));
        let requirement = tightened.requirement_for(Role::Member).unwrap();
        assert_eq!(requirement.factor, strict);
        let kept = tightened.with_enforcement(Enforcement::All, 3, strict, later.plus_seconds(9));
        assert_eq!(kept.enforced_since, Some(later));
        let relaxed = kept.with_enforcement(Enforcement::All, 3, RequiredFactor::Any, later);
        assert_eq!(relaxed.enforced_since, Some(later));
        assert_eq!(relaxed.required_factor, RequiredFactor::Any);
    }

    #[test]
    fn names_round_trip() {
        for role in [Role::Owner, Role::Admin, Role::Member] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for enforcement in [Enforcement::Off, Enforcement::All, Enforcement::Admins] {
            assert_eq!(Enforcement::parse(enforcement.as_str()), Some(enforcement));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Enforcement::parse("some"), None);
    }
}
