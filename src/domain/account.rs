//! Accounts and sessions as the rest of the server sees them, and the rules for how long a
//! session lives.

use crate::domain::email::Email;
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::password::{check_strength, Password, WeakPassword};
use crate::domain::time::UnixTime;
use crate::domain::workspace::SecondFactors;
use std::time::Duration;

/// A person who can sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable id.
    pub id: AccountId,
    /// Normalized e-mail address; unique.
    pub email: Email,
    /// Display name, if given.
    pub name: Option<String>,
    /// argon2id PHC string; `None` for an account without a password, which signs in by
    /// e-mail (SPEC §11).
    pub password_hash: Option<String>,
    /// Instance administrator.
    pub is_admin: bool,
    /// When the account was created.
    pub created_at: UnixTime,
    /// When the address was last proven by a message sent to it.
    pub email_verified_at: Option<UnixTime>,
    /// When an instance admin suspended it; `None` while it is not suspended.
    pub suspended_at: Option<UnixTime>,
}

impl Account {
    /// Whether the account has a password (otherwise it signs in by e-mail).
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// A suspended account cannot sign in, and no session of it is honoured.
    pub fn is_suspended(&self) -> bool {
        self.suspended_at.is_some()
    }
}

/// The signed-in person an operation is done for: their account, whether it has
/// two-factor enabled, and the time the request was authenticated at.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The account.
    pub account: &'a Account,
    /// Its second factors (two-factor is on when it has any).
    pub factors: SecondFactors,
    /// The time of the request.
    pub now: UnixTime,
}

/// Whether a new account administers the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An ordinary account.
    User,
    /// An instance administrator.
    Admin,
}

/// A signed-in session. The bearer token itself is never kept; only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public id, used to list and revoke.
    pub id: SessionId,
    /// Whose session.
    pub account_id: AccountId,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it was last used (written at most once per [`TOUCH_INTERVAL_SECONDS`]).
    pub last_seen_at: UnixTime,
    /// Absolute end of life, whatever the activity.
    pub expires_at: UnixTime,
    /// Client address at creation.
    pub ip: Option<String>,
    /// User agent at creation.
    pub user_agent: Option<String>,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after creation, however active.
    pub absolute: Duration,
}

/// `last_seen_at` is rewritten at most this often, so that reads stay reads.
pub const TOUCH_INTERVAL_SECONDS: i64 = 60;

impl SessionLifetimes {
    /// When a session created now must end at the latest.
    pub fn absolute_end(&self, now: UnixTime) -> UnixTime {
        now.plus(self.absolute)
    }

    /// The moment the session ends if it is not used again.
    pub fn ends_at(&self, session: &Session) -> UnixTime {
        session.last_seen_at.plus(self.idle).min(session.expires_at)
    }

    /// Whether the session may still be used at `now`.
    pub fn is_live(&self, session: &Session, now: UnixTime) -> bool {
        now < self.ends_at(session)
    }
}

/// Whether using a session at `now` should be written back as its `last_seen_at`.
pub fn needs_touch(session: &Session, now: UnixTime) -> bool {
    now.0 - session.last_seen_at.0 >= TOUCH_INTERVAL_SECONDS
}

/// Longest display name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Longest note a person writes for an administrator (a reset request's message, an
/// admin reset's reason), in characters.
pub const MAX_NOTE_CHARS: usize = 1_000;

/// `text` trimmed, when it is a note of 1 to [`MAX_NOTE_CHARS`] characters.
pub fn note(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty() && text.chars().count() <= MAX_NOTE_CHARS).then_some(text)
}

/// Whether an instance admin may suspend or delete `target` through the admin area: never
/// their own account (they would lock themselves out mid-action, and could leave the
/// instance with no admin; their own account is deleted through `DELETE /me`).
pub fn admin_may_act_on(admin: &AccountId, target: &AccountId) -> bool {
    admin != target
}

/// Why a new account's details are refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NewAccountError {
    /// The e-mail address is not valid.
    #[error("invalid e-mail address")]
    InvalidEmail,
    /// The name is too long or holds control characters.
    #[error("invalid name")]
    InvalidName,
    /// The password is too weak.
    #[error("weak password: {0}")]
    WeakPassword(WeakPassword),
}

/// A new account's details, checked: normalized e-mail, tidy name, strong password.
#[derive(Debug, Clone)]
pub struct ValidNewAccount {
    /// Normalized e-mail.
    pub email: Email,
    /// Trimmed name; `None` when blank.
    pub name: Option<String>,
}

/// Checks the details someone gives for a new account.
pub fn validate_new_account(
    email: &str,
    name: Option<&str>,
    password: &Password,
) -> Result<ValidNewAccount, NewAccountError> {
    let valid = validate_passwordless_account(email, name)?;
    check_new_password(&valid.email, valid.name.as_deref(), password)?;
    Ok(valid)
}

/// The details of a new account without a password (SPEC §11), normalized, or why they are
/// refused.
pub fn validate_passwordless_account(
    email: &str,
    name: Option<&str>,
) -> Result<ValidNewAccount, NewAccountError> {
    let email = Email::parse(email).map_err(|_| NewAccountError::InvalidEmail)?;
    let name = name.map(str::trim).filter(|name| !name.is_empty());
    if let Some(name) = name {
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(NewAccountError::InvalidName);
        }
    }
    Ok(ValidNewAccount {
        email,
        name: name.map(str::to_owned),
    })
}

/// Whether `password` is strong enough for the account with `email` and `name` (the rules
/// of sign-up, for a password set or changed later too).
pub fn check_new_password(
    email: &Email,
    name: Option<&str>,
    password: &Password,
) -> Result<(), NewAccountError> {
    let local_part = email.as_str().split('@').next().unwrap_or_default();
    let mut context = vec![email.as_str(), local_part];
    context.extend(name);
    check_strength(password, &context).map_err(NewAccountError::WeakPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_account_details_are_normalized_and_checked() {
        let strong = Password::new("violet anchor drifts seven lanterns");
        let valid = validate_new_account(" Ada@Example.com ", Some("  Ada  "), &strong).unwrap();
        assert_eq!(valid.email.as_str(), "ada@example.com");
        assert_eq!(valid.name.as_deref(), Some("Ada"));
        let blank = validate_new_account("ada@example.com", Some("   "), &strong).unwrap();
        assert_eq!(blank.name, None);
        assert_eq!(
            validate_new_account("nope", None, &strong).unwrap_err(),
            NewAccountError::InvalidEmail
        );
        assert_eq!(
            validate_new_account("ada@example.com", Some(&"x".repeat(101)), &strong).unwrap_err(),
            NewAccountError::InvalidName
        );
        assert!(matches!(
            validate_new_account("ada@example.com", None, &Password::new("ada@example.com1")),
            Err(NewAccountError::WeakPassword(_))
        ));
    }

    fn session(created: i64, last_seen: i64, expires: i64) -> Session {
        Session {
            id: SessionId("s".into()),
            account_id: AccountId("a".into()),
            created_at: UnixTime(created),
            last_seen_at: UnixTime(last_seen),
            expires_at: UnixTime(expires),
            ip: None,
            user_agent: None,
        }
    }

    const LIFETIMES: SessionLifetimes = SessionLifetimes {
        idle: Duration::from_secs(100),
        absolute: Duration::from_secs(1_000),
    };

    #[test]
    fn an_admin_may_not_suspend_or_delete_their_own_account() {
        let (admin, other) = (AccountId("a".into()), AccountId("b".into()));
        assert!(!admin_may_act_on(&admin, &admin));
        assert!(admin_may_act_on(&admin, &other));
    }

    #[test]
    fn idle_session_ends_after_the_idle_timeout() {
        let s = session(0, 50, 1_000);
        assert!(LIFETIMES.is_live(&s, UnixTime(149)));
        assert!(!LIFETIMES.is_live(&s, UnixTime(150)));
    }

    #[test]
    fn active_session_still_ends_at_the_absolute_lifetime() {
        let s = session(0, 990, 1_000);
        assert_eq!(LIFETIMES.ends_at(&s), UnixTime(1_000));
        assert!(!LIFETIMES.is_live(&s, UnixTime(1_000)));
        assert_eq!(LIFETIMES.absolute_end(UnixTime(7)), UnixTime(1_007));
    }

    #[test]
    fn last_seen_is_written_at_most_once_a_minute() {
        let s = session(0, 100, 1_000);
        assert!(!needs_touch(&s, UnixTime(159)));
        assert!(needs_touch(&s, UnixTime(160)));
    }
}
