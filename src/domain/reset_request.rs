//! Lost everything, confirmed (SPEC §11): the marks a lost-device reset request can carry
//! and the instance's rule on which of them an admin reset waits for
//! (`[recovery] reset_requires`).
//!
//! Invariants:
//! - The rule binds only an account with an open request: an admin who resets an account
//!   nobody asked about is not asked for marks that cannot exist.
//! - A forced reset passes whatever is missing; what was missing is recorded with it.

/// A mark a reset request can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The link e-mailed to the account's address was followed (`email_confirmed_at`).
    Email,
    /// An owner of a workspace the person belongs to vouched for it.
    Owner,
}

impl Mark {
    /// Every mark.
    pub const ALL: [Mark; 2] = [Mark::Email, Mark::Owner];

    /// The name in the configuration and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Email => "email",
            Mark::Owner => "owner",
        }
    }

    /// The mark named `name`.
    pub fn parse(name: &str) -> Option<Mark> {
        Mark::ALL.into_iter().find(|mark| mark.as_str() == name)
    }
}

/// Which marks an admin reset of an account with an open request waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetRequirement {
    /// The request must be confirmed from the mailbox.
    pub email: bool,
    /// An owner must have vouched for the request.
    pub owner: bool,
}

impl ResetRequirement {
    /// The requirement of these marks (repeats count once).
    pub fn of(marks: &[Mark]) -> ResetRequirement {
        ResetRequirement {
            email: marks.contains(&Mark::Email),
            owner: marks.contains(&Mark::Owner),
        }
    }

    /// The marks it requires, in a fixed order.
    pub fn marks(self) -> Vec<Mark> {
        Mark::ALL
            .into_iter()
            .filter(|mark| match mark {
                Mark::Email => self.email,
                Mark::Owner => self.owner,
            })
            .collect()
    }

    /// What an open request still lacks: it is confirmed from the mailbox or not, and
    /// vouched for by some owner or not. Empty when a reset may go ahead.
    pub fn missing(self, email_confirmed: bool, vouched: bool) -> Vec<Mark> {
        self.marks()
            .into_iter()
            .filter(|mark| match mark {
                Mark::Email => !email_confirmed,
                Mark::Owner => !vouched,
            })
            .collect()
    }
}

/// Whether an admin reset waits for the marks [`ResetRequirement`] asks of an open request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    /// It waits: a request missing a required mark refuses the reset.
    AsConfigured,
    /// The admin resets anyway (recorded, with what was missing).
    Force,
}

impl ResetMode {
    /// [`ResetMode::Force`] when `force` (the API's `"force": true`, the CLI's `--force`).
    pub fn forced(force: bool) -> ResetMode {
        if force {
            ResetMode::Force
        } else {
            ResetMode::AsConfigured
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_parse_by_name_and_nothing_else() {
        for mark in Mark::ALL {
            assert_eq!(Mark::parse(mark.as_str()), Some(mark));
        }
        assert_eq!(Mark::parse("Email"), None);
        assert_eq!(Mark::parse("admin"), None);
    }

    #[test]
    fn the_default_requires_nothing() {
        let none = ResetRequirement::default();
        assert!(none.marks().is_empty());
        assert!(none.missing(false, false).is_empty());
    }

    #[test]
    fn each_required_mark_is_missing_until_the_request_carries_it() {
        let both = ResetRequirement::of(&[Mark::Owner, Mark::Email, Mark::Owner]);
        assert_eq!(both.marks(), vec![Mark::Email, Mark::Owner]);
        assert_eq!(both.missing(false, false), vec![Mark::Email, Mark::Owner]);
        assert_eq!(both.missing(true, false), vec![Mark::Owner]);
        assert_eq!(both.missing(false, true), vec![Mark::Email]);
        assert!(both.missing(true, true).is_empty());
        let email = ResetRequirement::of(&[Mark::Email]);
        assert!(email.missing(true, false).is_empty());
        assert_eq!(email.missing(false, true), vec![Mark::Email]);
    }
}
