//! Workspaces and two-factor enforcement: who a policy covers, and whether a member who
//! lacks two-factor is still in grace or blocked. The same rule serves a workspace's
//! enforcement and the instance-wide requirement.

use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;

/// Grace periods a requirement may give, in days (SPEC §4).
pub const GRACE_PERIOD_DAYS: [u32; 5] = [0, 3, 7, 14, 30];
/// Seconds in a day.
const DAY_SECONDS: i64 = 86_400;

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

/// Who a workspace's enforcement covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Nobody.
    Off,
    /// Every member.
    All,
    /// Owners and admins.
    Admins,
}

impl Enforcement {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Off => "off",
            Enforcement::All => "all",
            Enforcement::Admins => "admins",
        }
    }

    /// Parses the API name.
    pub fn parse(text: &str) -> Option<Enforcement> {
        match text {
            "off" => Some(Enforcement::Off),
            "all" => Some(Enforcement::All),
            "admins" => Some(Enforcement::Admins),
            _ => None,
        }
    }

    /// Whether a member with `role` must have two-factor.
    pub fn covers(self, role: Role) -> bool {
        match self {
            Enforcement::Off => false,
            Enforcement::All => true,
            Enforcement::Admins => role.manages(),
        }
    }
}

/// Whether a grace period is one of the allowed choices.
pub fn valid_grace_period(days: u32) -> bool {
    GRACE_PERIOD_DAYS.contains(&days)
}

/// A requirement in force: since when, with how much grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// When it was turned on.
    pub since: UnixTime,
    /// Days of grace.
    pub grace_period_days: u32,
}

impl Requirement {
    /// `since + grace`: from then on, a covered person without two-factor is blocked.
    pub fn deadline(&self) -> UnixTime {
        self.since
            .plus_seconds(i64::from(self.grace_period_days) * DAY_SECONDS)
    }
}

/// What a person may do under a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Not covered, or has two-factor.
    Ok,
    /// Covered without two-factor, before the deadline.
    Grace {
        /// When grace ends.
        deadline: UnixTime,
    },
    /// Covered without two-factor, at or after the deadline.
    Blocked {
        /// When grace ended.
        deadline: UnixTime,
    },
}

impl Access {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Ok => "ok",
            Access::Grace { .. } => "grace",
            Access::Blocked { .. } => "blocked",
        }
    }

    /// The deadline, when grace applies or applied.
    pub fn deadline(self) -> Option<UnixTime> {
        match self {
            Access::Ok => None,
            Access::Grace { deadline } | Access::Blocked { deadline } => Some(deadline),
        }
    }

    /// The stricter of two (blocked beats grace beats ok; the earlier deadline wins).
    pub fn stricter(self, other: Access) -> Access {
        let rank = |a: Access| match a {
            Access::Ok => 0,
            Access::Grace { .. } => 1,
            Access::Blocked { .. } => 2,
        };
        match rank(self).cmp(&rank(other)) {
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Equal => match (self.deadline(), other.deadline()) {
                (Some(a), Some(b)) if b < a => other,
                _ => self,
            },
        }
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
}

impl Workspace {
    /// The requirement that applies to a member with `role`, if any.
    pub fn requirement_for(&self, role: Role) -> Option<Requirement> {
        let since = self.enforced_since?;
        self.enforcement.covers(role).then_some(Requirement {
            since,
            grace_period_days: self.grace_period_days,
        })
    }

    /// When grace ends (or ended) for the members enforcement covers; `None` while off.
    pub fn deadline(&self) -> Option<UnixTime> {
        self.enforced_since.map(|since| {
            Requirement {
                since,
                grace_period_days: self.grace_period_days,
            }
            .deadline()
        })
    }

    /// The settings after an owner or admin sets them at `now`: turning enforcement on
    /// records `enforced_since`; changing scope or grace while on keeps it; off clears it.
    pub fn with_enforcement(
        &self,
        enforcement: Enforcement,
        grace_period_days: u32,
        now: UnixTime,
    ) -> Workspace {
        let enforced_since = match (enforcement, self.enforced_since) {
            (Enforcement::Off, _) => None,
            (_, Some(since)) => Some(since),
            (_, None) => Some(now),
        };
        Workspace {
            enforcement,
            grace_period_days,
            enforced_since,
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
    /// Whether it has two-factor enabled.
    pub has_two_factor: bool,
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
}

impl InstancePolicy {
    /// Nothing required: the policy before any is set.
    pub const OFF: InstancePolicy = InstancePolicy {
        scope: InstanceScope::Off,
        grace_period_days: 0,
        enforced_since: None,
        source: PolicySource::Config,
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
        })
    }

    /// The policy after it is set to `scope`/`grace` at `now` by `source`: turning it on
    /// records when; a change while on keeps that time; off clears it.
    pub fn changed(
        current: Option<&InstancePolicy>,
        scope: InstanceScope,
        grace_period_days: u32,
        source: PolicySource,
        now: UnixTime,
    ) -> InstancePolicy {
        let enforced_since = match (scope, current.and_then(|p| p.enforced_since)) {
            (InstanceScope::Off, _) => None,
            (_, Some(since)) => Some(since),
            (_, None) => Some(now),
        };
        InstancePolicy {
            scope,
            grace_period_days,
            enforced_since,
            source,
        }
    }
}

/// Decides access: `requirement` is `None` when nothing covers the person.
pub fn access(requirement: Option<Requirement>, has_two_factor: bool, now: UnixTime) -> Access {
    let Some(requirement) = requirement else {
        return Access::Ok;
    };
    if has_two_factor {
        return Access::Ok;
    }
    let deadline = requirement.deadline();
    if now < deadline {
        Access::Grace { deadline }
    } else {
        Access::Blocked { deadline }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINCE: UnixTime = UnixTime(1_800_000_000);

    fn requirement(days: u32) -> Option<Requirement> {
        Some(Requirement {
            since: SINCE,
            grace_period_days: days,
        })
    }

    #[test]
    fn enforcement_covers_the_right_roles() {
        assert!(!Enforcement::Off.covers(Role::Owner));
        assert!(Enforcement::All.covers(Role::Member));
        assert!(Enforcement::Admins.covers(Role::Owner));
        assert!(Enforcement::Admins.covers(Role::Admin));
        assert!(!Enforcement::Admins.covers(Role::Member));
    }

    #[test]
    fn grace_ends_exactly_at_the_deadline() {
        let deadline = SINCE.plus_seconds(3 * 86_400);
        assert_eq!(
            access(requirement(3), false, SINCE),
            Access::Grace { deadline }
        );
        assert_eq!(
            access(requirement(3), false, deadline.plus_seconds(-1)),
            Access::Grace { deadline }
        );
        assert_eq!(
            access(requirement(3), false, deadline),
            Access::Blocked { deadline }
        );
    }

    #[test]
    fn zero_grace_blocks_at_once_and_two_factor_unblocks() {
        assert_eq!(
            access(requirement(0), false, SINCE),
            Access::Blocked { deadline: SINCE }
        );
        assert_eq!(access(requirement(0), true, SINCE), Access::Ok);
        assert_eq!(access(None, false, SINCE), Access::Ok);
    }

    #[test]
    fn only_the_listed_grace_periods_are_valid() {
        for days in [0, 3, 7, 14, 30] {
            assert!(valid_grace_period(days));
        }
        for days in [1, 2, 5, 31, 365] {
            assert!(!valid_grace_period(days));
        }
    }

    #[test]
    fn the_stricter_access_wins() {
        let grace = Access::Grace {
            deadline: UnixTime(10),
        };
        let blocked = Access::Blocked {
            deadline: UnixTime(20),
        };
        assert_eq!(Access::Ok.stricter(grace), grace);
        assert_eq!(grace.stricter(blocked), blocked);
        assert_eq!(blocked.stricter(Access::Ok), blocked);
        let earlier = Access::Grace {
            deadline: UnixTime(5),
        };
        assert_eq!(grace.stricter(earlier), earlier);
    }

    #[test]
    fn turning_enforcement_on_records_when_and_changes_keep_it() {
        let workspace = Workspace {
            id: "w".into(),
            name: "W".into(),
            created_at: UnixTime(0),
            enforcement: Enforcement::Off,
            grace_period_days: 0,
            enforced_since: None,
        };
        let on = workspace.with_enforcement(Enforcement::All, 7, SINCE);
        assert_eq!(on.enforced_since, Some(SINCE));
        let narrowed = on.with_enforcement(Enforcement::Admins, 3, SINCE.plus_seconds(100));
        assert_eq!(narrowed.enforced_since, Some(SINCE));
        assert_eq!(
            narrowed.requirement_for(Role::Admin).map(|r| r.deadline()),
            Some(SINCE.plus_seconds(3 * 86_400))
        );
        assert_eq!(narrowed.requirement_for(Role::Member), None);
        assert_eq!(narrowed.deadline(), Some(SINCE.plus_seconds(3 * 86_400)));
        let off = narrowed.with_enforcement(Enforcement::Off, 3, SINCE.plus_seconds(200));
        assert_eq!(off.enforced_since, None);
        assert_eq!(off.requirement_for(Role::Owner), None);
        assert_eq!(off.deadline(), None);
    }

    #[test]
    fn an_instance_policy_has_a_deadline_only_while_on() {
        assert_eq!(InstancePolicy::OFF.deadline(), None);
        let on =
            InstancePolicy::changed(None, InstanceScope::Admins, 7, PolicySource::Admin, SINCE);
        assert_eq!(on.deadline(), Some(SINCE.plus_seconds(7 * 86_400)));
        let off =
            InstancePolicy::changed(Some(&on), InstanceScope::Off, 7, PolicySource::Admin, SINCE);
        assert_eq!(off.deadline(), None);
        assert_eq!(PolicySource::Config.as_str(), "config");
        assert_eq!(PolicySource::Admin.as_str(), "admin");
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
