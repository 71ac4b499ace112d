//! Two-factor enforcement: who a requirement covers, how long its grace lasts, and whether a
//! person who lacks two-factor is still in grace or blocked. A workspace's enforcement and
//! the instance-wide requirement both end in a [`Requirement`] decided by [`access`].

use super::Role;
use crate::domain::time::UnixTime;

/// Grace periods a requirement may give, in days (SPEC §4).
pub const GRACE_PERIOD_DAYS: [u32; 5] = [0, 3, 7, 14, 30];
/// Seconds in a day.
const DAY_SECONDS: i64 = 86_400;

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
}
