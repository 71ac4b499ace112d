//! The rules of security keys and passkeys (WebAuthn, SPEC §13), as pure functions: what a
//! ceremony is for and how long it lives, what a credential may be called, what a signature
//! counter says, which `amr` a passkey sign-in records, and which second factors satisfy a
//! requirement (`required_factor`). The ceremonies themselves (the W3C checks and the
//! signatures) are `webauthn-rs`'s, in `crate::signin::webauthn`.

use crate::domain::time::UnixTime;

/// How long a ceremony (options handed out, answer awaited) lives, in seconds.
pub const CEREMONY_TTL_SECONDS: i64 = 5 * 60;

/// The longest name a credential may have, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// What a ceremony is for: its state is spent only by the step it was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Registering a new credential for a signed-in account.
    Registration,
    /// Answering a sign-in challenge (the second factor).
    SecondFactor,
    /// Confirming a sensitive change (a proof).
    Proof,
    /// Signing in with a passkey alone.
    Passkey,
}

impl Purpose {
    /// The stable name stored with the ceremony.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Registration => "registration",
            Purpose::SecondFactor => "second_factor",
            Purpose::Proof => "proof",
            Purpose::Passkey => "passkey",
        }
    }
}

/// When a ceremony opened at `now` lapses.
pub fn ceremony_expiry(now: UnixTime) -> UnixTime {
    UnixTime(now.0 + CEREMONY_TTL_SECONDS)
}

/// A credential's name as typed, trimmed: 1 to [`MAX_NAME_CHARS`] characters, none of them
/// a control character. `None` when it is not acceptable.
pub fn credential_name(typed: &str) -> Option<String> {
    let name = typed.trim();
    let chars = name.chars().count();
    let acceptable = (1..=MAX_NAME_CHARS).contains(&chars) && !name.chars().any(char::is_control);
    acceptable.then(|| name.to_owned())
}

/// What an assertion's signature counter says against the stored one (W3C WebAuthn §7.2,
/// step 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterVerdict {
    /// Later than the stored value (or both zero: an authenticator without a counter).
    Fresh,
    /// Not later than the stored value although counting: a cloned authenticator, or a
    /// replay; refused and recorded.
    WentBackwards,
}

/// Judges `presented` against `stored`.
pub fn judge_counter(stored: u32, presented: u32) -> CounterVerdict {
    if (stored == 0 && presented == 0) || presented > stored {
        CounterVerdict::Fresh
    } else {
        CounterVerdict::WentBackwards
    }
}

/// The RFC 8176 `amr` value of a WebAuthn credential: `swk` for a key that may be copied to
/// other devices (backup eligible, a synced passkey), `hwk` for one bound to its hardware.
pub fn key_amr(backup_eligible: bool) -> &'static str {
    if backup_eligible {
        "swk"
    } else {
        "hwk"
    }
}

/// The RFC 8176 `amr` value of user verification (a PIN or biometric on the
/// authenticator), recorded beside the key's own for a passkey sign-in.
pub const USER_VERIFICATION_AMR: &str = "user";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceremony_lives_five_minutes() {
        assert_eq!(ceremony_expiry(UnixTime(1_000)), UnixTime(1_300));
        assert_eq!(Purpose::Passkey.as_str(), "passkey");
        assert_eq!(Purpose::Registration.as_str(), "registration");
        assert_eq!(Purpose::SecondFactor.as_str(), "second_factor");
        assert_eq!(Purpose::Proof.as_str(), "proof");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            credential_name("  YubiKey 5 "),
            Some("YubiKey 5".to_owned())
        );
        assert_eq!(credential_name("   "), None);
        assert_eq!(credential_name("a\nb"), None);
        assert!(credential_name(&"é".repeat(64)).is_some());
        assert_eq!(credential_name(&"é".repeat(65)), None);
    }

    #[test]
    fn a_counter_that_does_not_advance_is_refused() {
        assert_eq!(judge_counter(0, 0), CounterVerdict::Fresh);
        assert_eq!(judge_counter(0, 1), CounterVerdict::Fresh);
        assert_eq!(judge_counter(5, 6), CounterVerdict::Fresh);
        assert_eq!(judge_counter(5, 5), CounterVerdict::WentBackwards);
        assert_eq!(judge_counter(5, 4), CounterVerdict::WentBackwards);
        // A counting authenticator that starts answering zero went backwards too.
        assert_eq!(judge_counter(5, 0), CounterVerdict::WentBackwards);
    }

    #[test]
    fn a_synced_passkey_is_a_software_key() {
        assert_eq!(key_amr(true), "swk");
        assert_eq!(key_amr(false), "hwk");
    }
}
