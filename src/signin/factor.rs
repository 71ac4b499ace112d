//! The second factors, each a unit with one shape: judged in memory against the account's
//! authenticator as read ([`SignIn::judge`]), giving what the store must spend for it
//! ([`Judged`]); the store then spends it with one conditional statement, so of two
//! requests (on any nodes) with the same code only one is accepted.
//! - An authenticator code (RFC 6238): a step later than the last accepted one, under the
//!   sealed secret it was judged against.
//! - A recovery code: its keyed hash, deleted if it is one of the account's.
//! - A security key or passkey (`webauthn_factor.rs`): judged against its ceremony, which
//!   judging spends; its signature counter moves forward once.

use super::{Denial, Error, SignIn};
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::recovery::RecoveryCode;
use crate::domain::sealed::Sealed;
use crate::domain::sign_in::SECOND_FACTOR_AMR;
use crate::domain::time::UnixTime;
use crate::domain::totp::{self, Code, TotpSecret, Verdict};
use crate::domain::two_factor::TwoFactorRecord;
use crate::store::SpentFactor;

/// A second factor as presented.
#[derive(Debug, Clone)]
pub enum Factor {
    /// A code from the authenticator app.
    Code(String),
    /// A recovery code.
    RecoveryCode(String),
    /// A WebAuthn assertion (`navigator.credentials.get()`'s answer).
    WebAuthn(Box<webauthn_rs::prelude::PublicKeyCredential>),
}

/// A factor judged right in memory, before anything is spent: what the store must spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// A code valid for this TOTP step (if no request accepts the step first), under this
    /// sealed secret (if it is still the account's).
    Step {
        /// The step.
        step: i64,
        /// The sealed secret's bytes.
        secret: Vec<u8>,
    },
    /// The keyed hash of a well-formed recovery code (if it is one of the account's).
    RecoveryCode(Vec<u8>),
    /// A verified assertion of the account's credential `credential` (its id here), whose
    /// signature `counter` must still move the credential's forward.
    WebAuthn {
        /// The credential's id.
        credential: String,
        /// The assertion's signature counter.
        counter: u32,
        /// The RFC 8176 method value of the key (`hwk`, `swk`).
        amr: &'static str,
        /// The key of its ceremony when the spending must take it too (a sign-in); `None`
        /// when judging took it already (a proof).
        ceremony: Option<TokenHash>,
    },
}

impl Judged {
    /// The factor as the store spends it.
    pub fn spent(&self) -> SpentFactor<'_> {
        match self {
            Judged::Step { step, secret } => SpentFactor::Step {
                step: *step,
                secret,
            },
            Judged::RecoveryCode(hash) => SpentFactor::RecoveryCode(hash),
            Judged::WebAuthn {
                credential,
                counter,
                ceremony,
                ..
            } => SpentFactor::WebAuthn {
                credential,
                counter: *counter,
                ceremony: ceremony.as_ref(),
            },
        }
    }

    /// What a session records of this factor (RFC 8176).
    pub fn amr(&self) -> &'static str {
        match self {
            Judged::Step { .. } | Judged::RecoveryCode(_) => SECOND_FACTOR_AMR,
            Judged::WebAuthn { amr, .. } => amr,
        }
    }

    /// The factor's name in the `sign_in_succeeded` event.
    pub fn method(&self) -> &'static str {
        match self {
            Judged::Step { .. } => "totp",
            Judged::RecoveryCode(_) => "recovery_code",
            Judged::WebAuthn { .. } => "webauthn",
        }
    }

    /// A wrong answer's reason when the store refuses to spend this after all (another
    /// request spent it first).
    pub fn refusal(&self) -> Denial {
        match self {
            Judged::Step { .. } => Denial::CodeReused,
            Judged::RecoveryCode(_) => Denial::InvalidRecoveryCode,
            Judged::WebAuthn { .. } => Denial::InvalidWebAuthn,
        }
    }
}

/// How a typed authenticator code stands against the authenticator, without spending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// It matches a step later than the last accepted one.
    Fresh {
        /// That step.
        step: i64,
    },
    /// It matches, but only a step already accepted.
    AlreadyUsed,
    /// It matches no step in the window (or is not a code at all).
    Wrong,
}

impl SignIn {
    /// Opens `account`'s sealed TOTP secret.
    pub fn open_secret(&self, account: &AccountId, sealed: &Sealed) -> Result<TotpSecret, Error> {
        let bytes = self.keys.open(sealed, account.as_str().as_bytes())?;
        TotpSecret::from_bytes(&bytes).ok_or(Error::Invariant("TOTP secret of the wrong length"))
    }

    /// Checks a typed code against a sealed secret at `now`, within the configured skew.
    pub fn check_code(
        &self,
        account: &AccountId,
        sealed: &Sealed,
        last_step: Option<i64>,
        typed: &str,
        now: UnixTime,
    ) -> Result<CodeCheck, Error> {
        let Ok(code) = Code::parse(typed) else {
            return Ok(CodeCheck::Wrong);
        };
        let secret = self.open_secret(account, sealed)?;
        let skew = self.config.two_factor.skew_steps;
        Ok(match totp::verify(&secret, code, now, skew, last_step) {
            Verdict::Accepted { step } => CodeCheck::Fresh { step },
            Verdict::Replayed => CodeCheck::AlreadyUsed,
            Verdict::Invalid => CodeCheck::Wrong,
        })
    }

    /// Judges `factor` against the account's authenticator without spending anything:
    /// `Ok(Err(..))` is a wrong (or already used) factor, `Err(..)` a failure.
    pub fn judge(
        &self,
        account: &AccountId,
        record: &TwoFactorRecord,
        factor: &Factor,
        now: UnixTime,
    ) -> Result<Result<Judged, Denial>, Error> {
        match factor {
            Factor::Code(typed) => {
                let Some(sealed) = &record.secret else {
                    return Ok(Err(Denial::NotEnabled));
                };
                Ok(
                    match self.check_code(account, sealed, record.last_step, typed, now)? {
                        CodeCheck::Fresh { step } => Ok(Judged::Step {
                            step,
                            secret: sealed.blob.clone(),
                        }),
                        CodeCheck::AlreadyUsed => Err(Denial::CodeReused),
                        CodeCheck::Wrong => Err(Denial::InvalidCode),
                    },
                )
            }
            Factor::RecoveryCode(typed) => Ok(match RecoveryCode::parse(typed) {
                Some(code) => Ok(Judged::RecoveryCode(code.hash(&self.recovery_key))),
                None => Err(Denial::InvalidRecoveryCode),
            }),
            // Judged with its ceremony, by `judge_factor`.
            Factor::WebAuthn(_) => Err(Error::Invariant("a WebAuthn answer judged in memory")),
        }
    }

    /// Spends a judged factor on its own (a proof; a sign-in spends it with the rest of
    /// the completion): `false` when another request spent it first.
    pub async fn spend(
        &self,
        account: &AccountId,
        judged: &Judged,
        now: UnixTime,
    ) -> Result<bool, Error> {
        let store = self.store();
        Ok(match judged {
            Judged::Step { step, .. } => store.accept_step(account, *step).await?,
            Judged::RecoveryCode(hash) => store.consume_recovery_code(account, hash).await?,
            Judged::WebAuthn {
                credential,
                counter,
                ..
            } => store.use_credential(credential, *counter, now).await?,
        })
    }
}
