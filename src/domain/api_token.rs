//! API tokens (SPEC §14): bearer credentials for scripts and command-line tools, which
//! cannot answer a two-factor challenge.
//!
//! A token is `dbt_` followed by 256 bits from the OS CSPRNG (base64url, 43 characters). It
//! is shown once, at creation; the database keeps only its keyed hash (HMAC-SHA256 under the
//! instance key that also keys recovery codes and e-mail tokens, bound to the purpose
//! "api-token"), so the database alone can neither reveal nor test one. A token is the
//! credential of its owner for the API and forward-auth, under the same workspace and
//! instance enforcement; it never changes security settings (`http/extract.rs`).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use super::account::TOUCH_INTERVAL_SECONDS;
use super::email_token::keyed;
use super::event::{EventKind, NewEvent};
use super::ids::{random_bytes, AccountId};
use super::time::UnixTime;

/// What every token starts with, so that a leaked one is recognised (by a person or a
/// secret scanner) and told from a session token.
pub const PREFIX: &str = "dbt_";

/// Shortest and longest lifetime a token may be given, in days.
pub const EXPIRY_DAYS: std::ops::RangeInclusive<u32> = 1..=365;

/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Identifies a token (public; not the secret).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiTokenId(pub String);

impl ApiTokenId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(super::ids::new_id())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The secret of a token: shown once, never stored. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiTokenSecret(String);

impl ApiTokenSecret {
    /// A fresh secret: the prefix and 32 bytes from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(random_bytes::<32>())
        ))
    }

    /// A presented bearer credential that has the token prefix (anything else is a session
    /// token).
    pub fn recognise(presented: &str) -> Option<Self> {
        presented
            .starts_with(PREFIX)
            .then(|| Self(presented.to_owned()))
    }

    /// The token text, to hand to its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The keyed hash stored for this token and looked up by.
    pub fn hash(&self, key: &[u8; 32]) -> Vec<u8> {
        keyed(key, &[b"api-token", self.0.as_bytes()])
    }
}

impl fmt::Debug for ApiTokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiTokenSecret(<redacted>)")
    }
}

/// A token as its owner lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Public id, used to revoke it.
    pub id: ApiTokenId,
    /// Whose token.
    pub account_id: AccountId,
    /// What its owner called it.
    pub name: String,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// When it was last used (written at most once per [`TOUCH_INTERVAL_SECONDS`]); `None`
    /// before its first use.
    pub last_used_at: Option<UnixTime>,
}

impl ApiToken {
    /// Whether the token still works at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.expires_at
    }

    /// Whether using the token at `now` must be recorded: its first use, or a use a
    /// minute or more after the last one recorded.
    pub fn needs_touch(&self, now: UnixTime) -> bool {
        self.last_used_at
            .is_none_or(|last| now.0 - last.0 >= TOUCH_INTERVAL_SECONDS)
    }
}

/// Why a token was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRequestError {
    /// The name is empty or too long.
    #[error("a token needs a name of 1 to {MAX_NAME_CHARS} characters")]
    InvalidName,
    /// The lifetime is outside [`EXPIRY_DAYS`].
    #[error("a token expires in 1 to 365 days")]
    InvalidExpiry,
}

/// A valid request for a token: its trimmed name and when it expires, if created at `now`.
pub fn check_request(
    name: &str,
    expires_in_days: u32,
    now: UnixTime,
) -> Result<(String, UnixTime), TokenRequestError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(TokenRequestError::InvalidName);
    }
    if !EXPIRY_DAYS.contains(&expires_in_days) {
        return Err(TokenRequestError::InvalidExpiry);
    }
    Ok((
        name.to_owned(),
        UnixTime(now.0 + i64::from(expires_in_days) * 86_400),
    ))
}

/// The `api_token_revoked` event of `token`, revoked as part of the change `cause` records
/// (an admin reset, a password reset, two-factor turned off, a suspension): at the same
/// time, from the same place, by the same actor.
pub fn revoked_with(cause: &NewEvent, token: &ApiTokenId, name: &str) -> NewEvent {
    NewEvent {
        account_id: cause.account_id.clone(),
        actor_id: cause.actor_id.clone(),
        workspace_id: None,
        kind: EventKind::ApiTokenRevoked,
        at: cause.at,
        ip: cause.ip.clone(),
        user_agent: cause.user_agent.clone(),
        details: json!({"token_id": token.as_str(), "name": name, "because": cause.kind.as_str()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::ClientInfo;

    #[test]
    fn a_secret_has_the_prefix_and_256_random_bits_and_is_never_shown_in_debug() {
        let secret = ApiTokenSecret::generate();
        let text = secret.expose();
        assert!(text.starts_with("dbt_"));
        let random = URL_SAFE_NO_PAD.decode(&text[4..]).unwrap();
        assert_eq!(random.len(), 32);
        assert_ne!(secret, ApiTokenSecret::generate());
        assert!(!format!("{secret:?}").contains(&text[4..]));
    }

    #[test]
    fn only_prefixed_credentials_are_tokens_and_the_hash_needs_the_key() {
        let secret = ApiTokenSecret::generate();
        assert_eq!(
            ApiTokenSecret::recognise(secret.expose()).as_ref(),
            Some(&secret)
        );
        assert_eq!(ApiTokenSecret::recognise("abcdef"), None);
        let key = [7u8; 32];
        assert_eq!(secret.hash(&key), secret.hash(&key));
        assert_ne!(secret.hash(&key), secret.hash(&[8u8; 32]));
        assert_eq!(secret.hash(&key).len(), 32);
    }

    #[test]
    fn names_and_lifetimes_are_checked() {
        let now = UnixTime(1_000);
        assert_eq!(
            check_request("  deploy  ", 1, now),
            Ok(("deploy".to_owned(), UnixTime(1_000 + 86_400)))
        );
        assert_eq!(
            check_request("ci", 365, now).map(|(_, at)| at),
            Ok(UnixTime(1_000 + 365 * 86_400))
        );
        assert_eq!(
            check_request("ci", 0, now),
            Err(TokenRequestError::InvalidExpiry)
        );
        assert_eq!(
            check_request("ci", 366, now),
            Err(TokenRequestError::InvalidExpiry)
        );
        assert_eq!(
            check_request("   ", 30, now),
            Err(TokenRequestError::InvalidName)
        );
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            check_request(&long, 30, now),
            Err(TokenRequestError::InvalidName)
        );
    }

    #[test]
    fn a_token_works_until_it_expires_and_its_use_is_recorded_once_a_minute() {
        let mut token = ApiToken {
            id: ApiTokenId::generate(),
            account_id: AccountId::generate(),
            name: "ci".to_owned(),
            created_at: UnixTime(100),
            expires_at: UnixTime(200),
            last_used_at: None,
        };
        assert!(token.is_live(UnixTime(199)));
        assert!(!token.is_live(UnixTime(200)));
        assert!(token.needs_touch(UnixTime(101)));
        token.last_used_at = Some(UnixTime(101));
        assert!(!token.needs_touch(UnixTime(160)));
        assert!(token.needs_touch(UnixTime(161)));
    }

    #[test]
    fn a_revocation_by_another_change_says_which() {
        let account = AccountId::generate();
        let client = ClientInfo {
            ip: Some("192.0.2.1".to_owned()),
            user_agent: None,
        };
        let cause = NewEvent::by_owner(
            &account,
            EventKind::TwoFactorDisabled,
            &client,
            UnixTime(5),
            json!({}),
        );
        let id = ApiTokenId::generate();
        let event = revoked_with(&cause, &id, "ci");
        assert_eq!(event.kind, EventKind::ApiTokenRevoked);
        assert_eq!(event.at, UnixTime(5));
        assert_eq!(event.ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(event.details["because"], "two_factor_disabled");
        assert_eq!(event.details["token_id"], id.as_str());
    }
}
