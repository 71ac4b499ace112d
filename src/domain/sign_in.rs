//! The decisions of signing in, as pure functions of what was read and `now`: which step
//! follows a first factor, what a wrong answer does to a challenge, what follows the use of
//! a recovery code, which proofs count. `crate::signin` runs the flow and persists what
//! these decide; nothing here reads a clock or a database.

use serde::Deserialize;

use crate::domain::two_factor::TwoFactorRecord;

/// How long a sign-in challenge (first factor accepted, second factor due) lives, in seconds.
pub const CHALLENGE_TTL_SECONDS: i64 = 5 * 60;

/// Wrong second factors that void a challenge (the first factor is then needed again).
pub const CHALLENGE_MAX_FAILURES: u32 = 5;

/// A second factor a challenge can be answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A code from an RFC 6238 authenticator.
    Totp,
    /// One of the account's recovery codes.
    RecoveryCode,
    /// A security key or passkey (SPEC §13).
    WebAuthn,
}

impl Method {
    /// The stable name used in the API (`methods` of a challenge).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::RecoveryCode => "recovery_code",
            Method::WebAuthn => "webauthn",
        }
    }
}

/// A first factor, by its RFC 8176 `amr` value: what a session records of how it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// A password.
    Password,
    /// A link or code e-mailed to the account's address.
    Email,
}

impl FirstFactor {
    /// The RFC 8176 method value (`pwd`, `email`).
    pub fn amr(self) -> &'static str {
        match self {
            FirstFactor::Password => "pwd",
            FirstFactor::Email => "email",
        }
    }
}

/// The RFC 8176 method value of either second factor: an authenticator code and a recovery
/// code are both one-time passwords.
pub const SECOND_FACTOR_AMR: &str = "otp";

/// What follows a right first factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing more is due: sign in.
    SignIn,
    /// A second factor is due, by one of these methods.
    SecondFactor(Vec<Method>),
}

/// What follows a right first factor for an account with this authenticator.
pub fn after_first_factor(record: &TwoFactorRecord) -> Next {
    if record.is_enabled() {
        let mut methods = Vec::with_capacity(3);
        if record.has_totp() {
            methods.push(Method::Totp);
        }
        if record.webauthn_keys > 0 {
            methods.push(Method::WebAuthn);
        }
        methods.push(Method::RecoveryCode);
        Next::SecondFactor(methods)
    } else {
        Next::SignIn
    }
}

/// Whether a challenge stays open after a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeFate {
    /// It may be answered again.
    Open,
    /// Too many wrong answers: it is voided and the first factor is needed again.
    Void,
}

/// The fate of a challenge that has now seen `failures` wrong answers.
pub fn after_wrong_answer(failures: u32) -> ChallengeFate {
    if failures >= CHALLENGE_MAX_FAILURES {
        ChallengeFate::Void
    } else {
        ChallengeFate::Open
    }
}

/// How an instance treats a recovery code once it is used (the `[recovery]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecoveryScheme {
    /// A used code is replaced by a new one ("one backup code at a time").
    pub rotate_on_use: bool,
    /// Signing in with a recovery code turns two-factor off, for a clean re-enrolment.
    pub use_disables_two_factor: bool,
}

/// What follows a sign-in with a recovery code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRecoveryCode {
    /// The code is used up; nothing else changes.
    UsedUp,
    /// A new code replaces it, shown once.
    Rotate,
    /// Two-factor is turned off (its secret and codes deleted).
    DisableTwoFactor,
}

impl RecoveryScheme {
    /// What follows a sign-in with a recovery code. Turning two-factor off wins over
    /// rotation: a replacement for a set that is deleted would mean nothing.
    pub fn after_use(self) -> AfterRecoveryCode {
        if self.use_disables_two_factor {
            AfterRecoveryCode::DisableTwoFactor
        } else if self.rotate_on_use {
            AfterRecoveryCode::Rotate
        } else {
            AfterRecoveryCode::UsedUp
        }
    }

    /// Recovery codes left after a sign-in with one, from `before` it.
    pub fn remaining_after_use(self, before: u32) -> u32 {
        match self.after_use() {
            AfterRecoveryCode::UsedUp => before.saturating_sub(1),
            AfterRecoveryCode::Rotate => before,
            AfterRecoveryCode::DisableTwoFactor => 0,
        }
    }
}

/// A kind of proof a sensitive change may be confirmed with (`two_factor.confirm_with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofKind {
    /// The account password.
    Password,
    /// A current authenticator code.
    Code,
    /// An unused recovery code.
    RecoveryCode,
    /// A code e-mailed to the account's address: in place of the password, for an account
    /// that has none (SPEC §11). Never a second factor.
    EmailCode,
    /// A security key or passkey's answer to `POST /me/webauthn/proof`'s options (SPEC
    /// §13).
    WebAuthn,
}

/// What an account has that a proof may be backed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofBacking {
    /// The account has a password.
    pub password: bool,
    /// The account has two-factor enabled.
    pub two_factor: bool,
    /// The account has a security key or passkey.
    pub webauthn: bool,
}

impl ProofKind {
    /// The stable name used in the API and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ProofKind::Password => "password",
            ProofKind::Code => "code",
            ProofKind::RecoveryCode => "recovery_code",
            ProofKind::EmailCode => "email_code",
            ProofKind::WebAuthn => "webauthn",
        }
    }

    /// Whether this kind of proof confirms a change, given the accepted kinds and what the
    /// account has: a code proves nothing without an authenticator, and an e-mailed code
    /// stands where a password would, only for an account without one; a security key
    /// counts wherever a code does (it is the stronger second factor), and where named.
    pub fn counts(self, accepted: &[ProofKind], has: ProofBacking) -> bool {
        match self {
            ProofKind::Password => accepted.contains(&self) && has.password,
            ProofKind::Code | ProofKind::RecoveryCode => accepted.contains(&self) && has.two_factor,
            ProofKind::WebAuthn => {
                has.webauthn && (accepted.contains(&self) || accepted.contains(&ProofKind::Code))
            }
            ProofKind::EmailCode => {
                !has.password
                    && (accepted.contains(&self) || accepted.contains(&ProofKind::Password))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sealed::Sealed;
    use crate::domain::time::UnixTime;

    fn enabled() -> TwoFactorRecord {
        TwoFactorRecord {
            secret: Some(Sealed {
                key_id: crate::domain::sealed::KeyId("k".to_owned()),
                blob: vec![1, 2, 3],
            }),
            enabled_at: Some(UnixTime(1)),
            last_step: None,
            pending: None,
            webauthn_keys: 0,
        }
    }

    #[test]
    fn a_second_factor_is_due_only_when_two_factor_is_enabled() {
        assert_eq!(
            after_first_factor(&TwoFactorRecord::default()),
            Next::SignIn
        );
        assert_eq!(
            after_first_factor(&enabled()),
            Next::SecondFactor(vec![Method::Totp, Method::RecoveryCode])
        );
        let keys_only = TwoFactorRecord {
            webauthn_keys: 2,
            ..TwoFactorRecord::default()
        };
        assert_eq!(
            after_first_factor(&keys_only),
            Next::SecondFactor(vec![Method::WebAuthn, Method::RecoveryCode])
        );
        let both = TwoFactorRecord {
            webauthn_keys: 1,
            ..enabled()
        };
        assert_eq!(
            after_first_factor(&both),
            Next::SecondFactor(vec![Method::Totp, Method::WebAuthn, Method::RecoveryCode])
        );
    }

    #[test]
    fn the_fifth_wrong_answer_voids_a_challenge() {
        assert_eq!(after_wrong_answer(1), ChallengeFate::Open);
        assert_eq!(after_wrong_answer(4), ChallengeFate::Open);
        assert_eq!(after_wrong_answer(5), ChallengeFate::Void);
        assert_eq!(after_wrong_answer(6), ChallengeFate::Void);
    }

    #[test]
    fn each_recovery_scheme_decides_what_follows_a_used_code() {
        let plain = RecoveryScheme::default();
        assert_eq!(plain.after_use(), AfterRecoveryCode::UsedUp);
        assert_eq!(plain.remaining_after_use(8), 7);
        assert_eq!(plain.remaining_after_use(0), 0);
        let rotating = RecoveryScheme {
            rotate_on_use: true,
            use_disables_two_factor: false,
        };
        assert_eq!(rotating.after_use(), AfterRecoveryCode::Rotate);
        assert_eq!(rotating.remaining_after_use(1), 1);
        let disabling = RecoveryScheme {
            rotate_on_use: true,
            use_disables_two_factor: true,
        };
        assert_eq!(disabling.after_use(), AfterRecoveryCode::DisableTwoFactor);
        assert_eq!(disabling.remaining_after_use(5), 0);
    }

    #[test]
    fn a_proof_counts_when_accepted_and_backed_by_a_factor_the_account_has() {
        let all = [
            ProofKind::Password,
            ProofKind::Code,
            ProofKind::RecoveryCode,
        ];
        let has = |password, two_factor| ProofBacking {
            password,
            two_factor,
            webauthn: false,
        };
        assert!(ProofKind::Password.counts(&all, has(true, false)));
        assert!(!ProofKind::Code.counts(&all, has(true, false)));
        assert!(ProofKind::Code.counts(&all, has(true, true)));
        assert!(ProofKind::RecoveryCode.counts(&all, has(true, true)));
        assert!(!ProofKind::Password.counts(&[ProofKind::Code], has(true, true)));
        // An e-mailed code stands in for the password, and only where there is none.
        assert!(!ProofKind::Password.counts(&all, has(false, false)));
        assert!(ProofKind::EmailCode.counts(&all, has(false, false)));
        assert!(!ProofKind::EmailCode.counts(&all, has(true, false)));
        assert!(!ProofKind::EmailCode.counts(&[ProofKind::Code], has(false, true)));
        // A security key counts where a code does, or where named, and only if the account
        // has one.
        let key = ProofBacking {
            webauthn: true,
            ..has(true, true)
        };
        assert!(ProofKind::WebAuthn.counts(&all, key));
        assert!(!ProofKind::WebAuthn.counts(&all, has(true, true)));
        assert!(!ProofKind::WebAuthn.counts(&[ProofKind::Password], key));
        assert!(ProofKind::WebAuthn.counts(&[ProofKind::WebAuthn], key));
    }
}
