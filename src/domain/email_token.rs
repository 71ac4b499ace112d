//! One-time e-mail tokens (SPEC §11): one mechanism for every message that proves a mailbox,
//! whatever it is for ([`Purpose`]).
//!
//! A message carries a link token (256 bits from the OS CSPRNG) and, where a person may type
//! it instead, a code of eight symbols of the recovery-code alphabet, bound to the address it
//! was sent to. Both are stored only as keyed hashes (HMAC-SHA256 under the instance key that
//! also keys recovery codes), each hash bound to its purpose, so the database alone can
//! neither reveal nor test one, and a token issued for one purpose is worth nothing for
//! another. At most one token lives per account and purpose: issuing one voids the one before.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::email::Email;
use super::ids::random_bytes;
use super::recovery::RecoveryCode;
use super::time::UnixTime;

/// Wrong codes after which a token is void.
pub const MAX_CODE_FAILURES: u32 = 5;

/// What a token proves the mailbox for; each has its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Verifying the account's address.
    Verify,
    /// Signing in a passwordless account.
    SignIn,
    /// Setting a forgotten password.
    PasswordReset,
    /// Proving the mailbox in place of a password (`email_code`).
    Proof,
    /// Confirming a lost-device reset request from the account's address.
    ResetConfirm,
    /// Moving the account to a new address (the token goes to the new one).
    ChangeAddress,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 6] = [
        Purpose::Verify,
        Purpose::SignIn,
        Purpose::PasswordReset,
        Purpose::Proof,
        Purpose::ResetConfirm,
        Purpose::ChangeAddress,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::SignIn => "sign_in",
            Purpose::PasswordReset => "password_reset",
            Purpose::Proof => "proof",
            Purpose::ResetConfirm => "reset_confirm",
            Purpose::ChangeAddress => "change_address",
        }
    }

    /// How long a token lives, in seconds: 24 h for what verifies an address (SPEC §11;
    /// confirming a reset request and a new address are verifications too), 15 min to sign
    /// in or reset a password, 10 min for a proof.
    pub fn lifetime(self) -> i64 {
        match self {
            Purpose::Verify | Purpose::ResetConfirm | Purpose::ChangeAddress => 24 * 3600,
            Purpose::SignIn | Purpose::PasswordReset => 15 * 60,
            Purpose::Proof => 10 * 60,
        }
    }

    /// Whether a message of this purpose carries a code a person may type.
    pub fn has_code(self) -> bool {
        matches!(self, Purpose::SignIn | Purpose::Proof)
    }

    /// When a token of this purpose issued at `now` expires.
    pub fn expires_at(self, now: UnixTime) -> UnixTime {
        UnixTime(now.0 + self.lifetime())
    }
}

/// The link token of a message, in clear, to put in the link once; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl LinkToken {
    /// A fresh token: 256 bits from the OS CSPRNG, URL-safe base64.
    pub fn generate() -> Self {
        LinkToken(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
    }

    /// A token presented back (from a link's page); `None` unless it has a token's shape.
    pub fn parse(presented: &str) -> Option<Self> {
        let decoded = URL_SAFE_NO_PAD.decode(presented).ok()?;
        (decoded.len() == 32).then(|| LinkToken(presented.to_owned()))
    }

    /// The token as it goes into a link.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The keyed hash stored for this token, bound to its purpose.
    pub fn hash(&self, key: &[u8; 32], purpose: Purpose) -> Vec<u8> {
        keyed(
            key,
            &[b"link", purpose.as_str().as_bytes(), self.0.as_bytes()],
        )
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(<redacted>)")
    }
}

/// The code of a message (`XXXX-XXXX`), in clear, to show once; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailCode(RecoveryCode);

impl EmailCode {
    /// A fresh code from the OS CSPRNG.
    pub fn generate() -> Self {
        EmailCode(RecoveryCode::generate())
    }

    /// A typed code: case, spaces and dashes ignored; `None` unless eight symbols of the
    /// alphabet.
    pub fn parse(typed: &str) -> Option<Self> {
        RecoveryCode::parse(typed).map(EmailCode)
    }

    /// The code as shown: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        self.0.display()
    }

    /// The keyed hash stored for this code, bound to its purpose and to the address it was
    /// sent to: the same code typed for another address matches nothing.
    pub fn hash(&self, key: &[u8; 32], purpose: Purpose, sent_to: &Email) -> Vec<u8> {
        let code = self.0.display();
        keyed(
            key,
            &[
                b"code",
                purpose.as_str().as_bytes(),
                sent_to.as_str().as_bytes(),
                code.as_bytes(),
            ],
        )
    }
}

impl fmt::Debug for EmailCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailCode(<redacted>)")
    }
}

/// HMAC-SHA256 of `parts`, each preceded by its length, so no two lists of parts hash alike.
fn keyed(key: &[u8; 32], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => return Vec::new(),
    };
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn email(text: &str) -> Email {
        Email::parse(text).unwrap()
    }

    #[test]
    fn a_link_token_is_256_random_bits_and_never_shown_in_debug() {
        let (a, b) = (LinkToken::generate(), LinkToken::generate());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(a.as_str()).unwrap().len(), 32);
        assert_eq!(LinkToken::parse(a.as_str()), Some(a.clone()));
        assert!(!format!("{a:?}").contains(a.as_str()));
        assert_eq!(LinkToken::parse("short"), None);
        assert_eq!(
            LinkToken::parse(&"A".repeat(43)).map(|t| t.0.len()),
            Some(43)
        );
        assert_eq!(LinkToken::parse(&"A".repeat(44)), None);
    }

    #[test]
    fn a_hash_is_bound_to_its_purpose_and_a_code_to_its_address() {
        let token = LinkToken::generate();
        assert_eq!(
            token.hash(&KEY, Purpose::SignIn),
            token.hash(&KEY, Purpose::SignIn)
        );
        assert_ne!(
            token.hash(&KEY, Purpose::SignIn),
            token.hash(&KEY, Purpose::PasswordReset)
        );
        assert_ne!(
            token.hash(&KEY, Purpose::SignIn),
            token.hash(&[8; 32], Purpose::SignIn)
        );
        let code = EmailCode::generate();
        let typed = EmailCode::parse(&code.display().to_lowercase()).unwrap();
        let (ann, bob) = (email("ann@example.com"), email("bob@example.com"));
        assert_eq!(
            typed.hash(&KEY, Purpose::SignIn, &ann),
            code.hash(&KEY, Purpose::SignIn, &ann)
        );
        assert_ne!(
            code.hash(&KEY, Purpose::SignIn, &ann),
            code.hash(&KEY, Purpose::SignIn, &bob)
        );
        assert_ne!(
            code.hash(&KEY, Purpose::SignIn, &ann),
            code.hash(&KEY, Purpose::Proof, &ann)
        );
        assert!(!format!("{code:?}").contains(&code.display()));
    }

    #[test]
    fn lifetimes_follow_the_spec() {
        let now = UnixTime(1_800_000_000);
        assert_eq!(Purpose::Verify.expires_at(now), UnixTime(now.0 + 86_400));
        assert_eq!(Purpose::SignIn.expires_at(now), UnixTime(now.0 + 900));
        assert_eq!(
            Purpose::PasswordReset.expires_at(now),
            UnixTime(now.0 + 900)
        );
        assert_eq!(Purpose::Proof.expires_at(now), UnixTime(now.0 + 600));
        let names: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        for (n, name) in names.iter().enumerate() {
            assert!(!names[..n].contains(name), "{name} twice");
        }
    }
}
