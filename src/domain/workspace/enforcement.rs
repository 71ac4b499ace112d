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

/// Which second factors satisfy a workspace's or the instance's requirement
/// (`required_factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequiredFactor {
    /// Any second factor: an authenticator app or a WebAuthn credential.
    #[default]
    Any,
    /// Only a WebAuthn credential, which a phishing site cannot relay.
    PhishingResistant,
}

impl RequiredFactor {
    /// The stable name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RequiredFactor::Any => "any",
            RequiredFactor::PhishingResistant => "phishing_resistant",
        }
    }

    /// From its stable name.
    pub fn parse(name: &str) -> Option<RequiredFactor> {
        match name {
            "any" => Some(RequiredFactor::Any),
            "phishing_resistant" => Some(RequiredFactor::PhishingResistant),
            _ => None,
        }
    }

    /// Whether this asks for more than `other` does.
    pub fn stricter_than(self, other: RequiredFactor) -> bool {
        self == RequiredFactor::PhishingResistant && other == RequiredFactor::Any
    }

    /// Whether an account with these second factors satisfies the requirement.
    pub fn satisfied_by(self, factors: SecondFactors) -> bool {
        match self {
            RequiredFactor::Any => factors.totp || factors.webauthn,
            RequiredFactor::PhishingResistant => factors.webauthn,
        }
    }
}

/// The second factors an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecondFactors {
    /// An enabled authenticator app (TOTP).
    pub totp: bool,
    /// At least one WebAuthn credential.
    pub webauthn: bool,
}

impl SecondFactors {
    /// Whether the account has any second factor (two-factor is on).
    pub fn any(self) -> bool {
        self.totp || self.webauthn
    }
}

/// A requirement in force: since when, with how much grace, met by which factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// When it was turned on.
    pub since: UnixTime,
    /// Days of grace.
    pub grace_period_days: u32,
    /// Which second factors meet it.
    pub factor: RequiredFactor,
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
    /// Not covered, or has the second factor required.
    Ok,
    /// Covered without the second factor required, before the deadline.
    Grace {
        /// When grace ends.
        deadline: UnixTime,
    },
    /// Covered without the second factor required, at or after the deadline.
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

/// Decides access for a person with `factors`: `requirement` is `None` when nothing covers
/// them. A person whose factors do not meet it (none, or only an authenticator app where
/// it asks for a phishing-resistant one) is in grace until its deadline, then blocked.
pub fn access(requirement: Option<Requirement>, factors: SecondFactors, now: UnixTime) -> Access {
    let Some(requirement) = requirement else {
        return Access::Ok;
    };
    if requirement.factor.satisfied_by(factors) {
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

    const NONE: SecondFactors = SecondFactors {
        totp: false,
        webauthn: false,
    };
    const TOTP: SecondFactors = SecondFactors {
        totp: true,
        webauthn: false,
    };
    const KEY: SecondFactors = SecondFactors {
        totp: false,
        webauthn: true,
    };

    fn requirement(days: u32) -> Option<Requirement> {
        Some(Requirement {
            since: SINCE,
            grace_period_days: days,
            factor: RequiredFactor::Any,
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
            access(requirement(3), NONE, SINCE),
            Access::Grace { deadline }
        );
        assert_eq!(
            access(requirement(3), NONE, deadline.plus_seconds(-1)),
            Access::Grace { deadline }
        );
        assert_eq!(
            access(requirement(3), NONE, deadline),
            Access::Blocked { deadline }
        );
    }

    #[test]
    fn zero_grace_blocks_at_once_and_two_factor_unblocks() {
        assert_eq!(
            access(requirement(0), NONE, SINCE),
            Access::Blocked { deadline: SINCE }
        );
        assert_eq!(access(requirement(0), TOTP, SINCE), Access::Ok);
        assert_eq!(access(None, NONE, SINCE), Access::Ok);
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
    fn only_webauthn_is_phishing_resistant() {
        let (totp, key, none) = (TOTP, KEY, NONE);
        assert!(RequiredFactor::Any.satisfied_by(totp));
        assert!(RequiredFactor::Any.satisfied_by(key));
        assert!(!RequiredFactor::Any.satisfied_by(none));
        assert!(!RequiredFactor::PhishingResistant.satisfied_by(totp));
        assert!(RequiredFactor::PhishingResistant.satisfied_by(key));
        assert!(!RequiredFactor::PhishingResistant.satisfied_by(none));
        for required in [RequiredFactor::Any, RequiredFactor::PhishingResistant] {
            assert_eq!(RequiredFactor::parse(required.as_str()), Some(required));
        }
        assert_eq!(RequiredFactor::parse("strong"), None);
    }

    #[test]
    fn a_phishing_resistant_requirement_blocks_an_app_alone_after_its_grace() {
        let required = Some(Requirement {
            since: SINCE,
            grace_period_days: 7,
            factor: RequiredFactor::PhishingResistant,
        });
        let deadline = SINCE.plus_seconds(7 * 86_400);
        assert_eq!(access(required, TOTP, SINCE), Access::Grace { deadline });
        assert_eq!(
            access(required, TOTP, deadline),
            Access::Blocked { deadline }
        );
        assert_eq!(access(required, KEY, deadline), Access::Ok);
        let both = SecondFactors {
            totp: true,
            webauthn: true,
        };
        assert_eq!(access(required, both, deadline), Access::Ok);
        assert!(both.any() && TOTP.any() && KEY.any() && !NONE.any());
    }
}
