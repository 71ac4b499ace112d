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

/// Wrong codes typed for one address and purpose after which its message is void (counted
/// on [`Purpose::code_counter`]; a new message starts again).
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

    /// The throttle counter of the codes typed for a message of this purpose sent to `to`.
    pub fn code_counter(self, to: &Email) -> String {
        format!("email-code:{}:{}", self.as_str(), to.as_str())
    }

    /// The purpose named `name`.
    pub fn parse(name: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The page a message's link opens (the token follows), when the message has a link:
    /// a proof is a code typed on the page that asked for it.
    pub fn link_path(self) -> Option<&'static str> {
        match self {
            Purpose::Verify | Purpose::ChangeAddress => Some("/verify-email/"),
            Purpose::SignIn => Some("/login/email/"),
            Purpose::PasswordReset => Some("/reset-password/"),
            Purpose::ResetConfirm => Some("/reset-requests/confirm/"),
            Purpose::Proof => None,
        }
    }
}

/// What a token's message carries in clear: sealed under the master key while it waits in
/// the outbox, and erased from it once delivered or given up.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct MessageSecrets {
    /// The link token.
    pub link: String,
    /// The code, `XXXX-XXXX`, when the purpose has one.
    pub code: Option<String>,
}

impl fmt::Debug for MessageSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageSecrets(<redacted>)")
    }
}

impl MessageSecrets {
    /// What the secrets of a message of `purpose` to `to` are sealed to: opened for any
    /// other purpose or address, they fail.
    pub fn sealing_owner(purpose: Purpose, to: &str) -> Vec<u8> {
        format!("email-message\0{}\0{to}", purpose.as_str()).into_bytes()
    }

    /// The e-mail carrying them, for a message of `purpose` to `to`, asked for at `at` from
    /// `ip` (shown, so a person who did not ask can tell).
    pub fn message(
        &self,
        purpose: Purpose,
        public_url: &str,
        at: UnixTime,
        ip: Option<&str>,
    ) -> (String, String) {
        let base = public_url.trim_end_matches('/');
        let link = purpose
            .link_path()
            .map(|path| format!("{base}{path}{}", self.link));
        let minutes = purpose.lifetime() / 60;
        let lasts = if minutes >= 120 {
            format!("{} hours", minutes / 60)
        } else {
            format!("{minutes} minutes")
        };
        let (subject, what) = match purpose {
            Purpose::Verify => (
                "Confirm your e-mail address",
                "Confirm that this address is yours by opening the link below and pressing \
                 the button on that page.",
            ),
            Purpose::ChangeAddress => (
                "Confirm your new e-mail address",
                "Someone asked to move a Deadbolt account to this address. Open the link \
                 below and press the button on that page to confirm; until then the account \
                 keeps its old address.",
            ),
            Purpose::SignIn => (
                "Your sign-in link",
                "Open the link below and press the button on that page to sign in, or type \
                 the code on the sign-in page.",
            ),
            Purpose::PasswordReset => (
                "Reset your password",
                "Someone asked to reset the password of your account. Open the link below to \
                 choose a new one. Your two-factor settings do not change.",
            ),
            Purpose::Proof => (
                "Your confirmation code",
                "Type this code to confirm a change to your account's security settings.",
            ),
            Purpose::ResetConfirm => (
                "Confirm your two-factor reset request",
                "A request to reset the two-factor authentication of your account was filed. \
                 If it was you, open the link below and press the button on that page, so \
                 the administrators know the request comes from this mailbox.",
            ),
        };
        let mut body = format!("{what}\n\n");
        if let Some(link) = &link {
            body.push_str(&format!("{link}\n\n"));
        }
        if let Some(code) = &self.code {
            body.push_str(&format!("Code: {code}\n\n"));
        }
        body.push_str(&format!(
            "It works once, for {lasts}. Asked for at {}",
            at.to_rfc3339()
        ));
        if let Some(ip) = ip {
            body.push_str(&format!(" from {ip}"));
        }
        body.push_str(
            ".\nIf you did not ask for this, ignore this message: nothing changes without it.\n\n\
             -- \nDeadbolt\n",
        );
        (format!("[Deadbolt] {subject}"), body)
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
pub(crate) fn keyed(key: &[u8; 32], parts: &[&[u8]]) -> Vec<u8> {
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
    fn a_message_carries_its_link_and_code_and_says_how_long_they_last() {
        let secrets = MessageSecrets {
            link: "LINKTOKEN".to_owned(),
            code: Some("ABCD-EFGH".to_owned()),
        };
        let at = UnixTime(1_800_000_000);
        let (subject, body) = secrets.message(
            Purpose::SignIn,
            "https://id.example/",
            at,
            Some("192.0.2.1"),
        );
        assert!(subject.contains("sign-in link"));
        assert!(body.contains("https://id.example/login/email/LINKTOKEN"));
        assert!(body.contains("Code: ABCD-EFGH"));
        assert!(body.contains("15 minutes") && body.contains("192.0.2.1"));
        let (_, body) = secrets.message(Purpose::Verify, "http://x", at, None);
        assert!(body.contains("http://x/verify-email/LINKTOKEN") && body.contains("24 hours"));
        let (_, proof) = secrets.message(Purpose::Proof, "http://x", at, None);
        assert!(!proof.contains("LINKTOKEN") && proof.contains("ABCD-EFGH"));
        assert!(!format!("{secrets:?}").contains("LINKTOKEN"));
        assert_ne!(
            MessageSecrets::sealing_owner(Purpose::SignIn, "a@x.org"),
            MessageSecrets::sealing_owner(Purpose::PasswordReset, "a@x.org")
        );
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
