//! A factor given again by a signed-in person: a proof that confirms a sensitive change,
//! and the dry-run check of an authenticator code. Both are throttled with the sign-in's
//! own second-factor counter, so neither is a guessing oracle.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use webauthn_rs::prelude::PublicKeyCredential;

use super::attempts::SecondFactorAttempt;
use super::factor::{CodeCheck, Factor, Judged};
use super::{Denial, Error, SignIn};
use crate::domain::account::Account;
use crate::domain::email_token::Purpose;
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::password::Password;
use crate::domain::sign_in::{ProofBacking, ProofKind};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::domain::webauthn;

/// A confirmation proof: exactly one of the fields, of a kind `two_factor.confirm_with`
/// accepts.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// The account password.
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Password>,
    /// A current authenticator code.
    pub code: Option<String>,
    /// An unused recovery code (it is used up).
    pub recovery_code: Option<String>,
    /// The code of the latest `POST /me/email/proof` message: for an account without a
    /// password, in its place (it is used up).
    pub email_code: Option<String>,
    /// A security key or passkey's answer to the options of `POST /me/webauthn/proof`
    /// (`navigator.credentials.get()`'s `PublicKeyCredential` as JSON).
    #[schema(value_type = Option<Object>)]
    pub webauthn: Option<PublicKeyCredential>,
}

/// A proof as given, by kind.
enum Given {
    Password(Password),
    Factor(Factor),
    EmailCode(String),
}

/// What a dry-run check of a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeStatus {
    /// The code matches the authenticator now.
    pub valid: bool,
    /// It matches a step that was already accepted (say, the code just used to sign in).
    pub already_used: bool,
}

impl SignIn {
    /// Checks a proof for `account`. A wrong proof is [`Error::ProofRefused`] and changes
    /// nothing (but counts towards throttling); `unchanged` says so in the message, e.g.
    /// "Two-factor remains enabled."
    pub async fn confirm(
        &self,
        account: &Account,
        record: &TwoFactorRecord,
        proof: Proof,
        unchanged: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let accepted = &self.config.two_factor.confirm_with;
        let ask = || {
            let names: Vec<&str> = accepted.iter().map(|kind| kind.as_str()).collect();
            let message = format!("Confirm this change with one of: {}.", names.join(", "));
            Error::ProofRefused(message)
        };
        let given = (
            proof.password,
            proof.code,
            proof.recovery_code,
            proof.email_code,
            proof.webauthn,
        );
        let (kind, given) = match given {
            (Some(password), None, None, None, None) => {
                (ProofKind::Password, Given::Password(password))
            }
            (None, Some(code), None, None, None) => {
                (ProofKind::Code, Given::Factor(Factor::Code(code)))
            }
            (None, None, Some(code), None, None) => (
                ProofKind::RecoveryCode,
                Given::Factor(Factor::RecoveryCode(code)),
            ),
            (None, None, None, Some(code), None) => (ProofKind::EmailCode, Given::EmailCode(code)),
            (None, None, None, None, Some(answer)) => (
                ProofKind::WebAuthn,
                Given::Factor(Factor::WebAuthn(Box::new(answer))),
            ),
            _ => return Err(ask()),
        };
        let has = ProofBacking {
            password: account.has_password(),
            two_factor: record.is_enabled(),
            webauthn: record.webauthn_keys > 0,
        };
        if !kind.counts(accepted, has) {
            return Err(ask());
        }
        let factor = match given {
            Given::Factor(factor) => factor,
            Given::EmailCode(code) => {
                let spent = self
                    .spend_email_code(Purpose::Proof, &account.email, &code, client, now)
                    .await?;
                return match spent {
                    Some(spent) if spent.account == account.id => Ok(()),
                    _ => Err(Error::ProofRefused(format!(
                        "That e-mailed code did not match, was already used, or has expired. \
                         {unchanged}"
                    ))),
                };
            }
            Given::Password(password) => {
                let email = account.email.as_str();
                return match self.check_password(email, password, client, now).await {
                    Ok(_) => Ok(()),
                    Err(Error::Denied(Denial::InvalidCredentials)) => Err(Error::ProofRefused(
                        format!("Password did not match. {unchanged}"),
                    )),
                    Err(other) => Err(other),
                };
            }
        };
        match self
            .spend_factor(account, record, &factor, client, now)
            .await
        {
            Ok(()) => Ok(()),
            Err(Error::Denied(Denial::CodeReused)) => Err(Error::ProofRefused(format!(
                "That code was already used. Wait for your authenticator to show a new one. \
                 {unchanged}"
            ))),
            Err(Error::Denied(Denial::InvalidCode | Denial::InvalidRecoveryCode)) => Err(
                Error::ProofRefused(format!("That code did not match. {unchanged}")),
            ),
            Err(Error::Denied(Denial::InvalidWebAuthn | Denial::InvalidCeremony)) => {
                Err(Error::ProofRefused(format!(
                    "The security key was not accepted (or its request expired). {unchanged}"
                )))
            }
            Err(Error::Denied(Denial::NotEnabled)) => Err(ask()),
            Err(other) => Err(other),
        }
    }

    /// Checks a second factor for an account with two-factor enabled, counted first and
    /// spending what it uses; a recovery code used up this way is recorded like one used
    /// to sign in.
    async fn spend_factor(
        &self,
        account: &Account,
        record: &TwoFactorRecord,
        factor: &Factor,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let attempt = SecondFactorAttempt::begin(self, &account.id, now).await?;
        let judged = self
            .judge_factor(
                &account.id,
                record,
                factor,
                webauthn::Purpose::Proof,
                client,
                now,
            )
            .await?;
        let refused = match judged {
            Ok(judged) if self.spend(&account.id, &judged, now).await? => {
                attempt.succeeded(self).await?;
                if let Judged::WebAuthn { credential, .. } = &judged {
                    let details = json!({"credential": credential, "purpose": "proof"});
                    let kind = EventKind::WebAuthnUsed;
                    self.record(&account.id, kind, client, now, details).await?;
                }
                if let Judged::RecoveryCode(_) = judged {
                    let remaining = self.store().recovery_codes_remaining(&account.id).await?;
                    let details = json!({"purpose": "proof", "remaining": remaining});
                    let kind = EventKind::RecoveryCodeUsed;
                    self.record(&account.id, kind, client, now, details).await?;
                }
                return Ok(());
            }
            // Another request spent it first.
            Ok(judged) => judged.refusal(),
            Err(refused) => refused,
        };
        if refused == Denial::CodeReused {
            self.record(&account.id, EventKind::CodeReused, client, now, json!({}))
                .await?;
        }
        attempt.failed(self, client, now).await?;
        Err(refused.into())
    }

    /// Tells whether `typed` matches the account's authenticator now, changing nothing but
    /// the throttle: a code that matches nothing counts towards the second-factor lock; a
    /// matching one, even of a step already accepted, does not.
    pub async fn check(
        &self,
        account: &Account,
        record: &TwoFactorRecord,
        typed: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<CodeStatus, Error> {
        let Some(sealed) = &record.secret else {
            return Err(Denial::NotEnabled.into());
        };
        let attempt = SecondFactorAttempt::begin(self, &account.id, now).await?;
        let checked = self.check_code(&account.id, sealed, record.last_step, typed, now)?;
        match checked {
            CodeCheck::Fresh { .. } => attempt.succeeded(self).await?,
            // Not a failure: the attempt counted provisionally is taken back.
            CodeCheck::AlreadyUsed => attempt.undone(self, now).await?,
            CodeCheck::Wrong => attempt.failed(self, client, now).await?,
        }
        Ok(CodeStatus {
            valid: checked != CodeCheck::Wrong,
            already_used: checked == CodeCheck::AlreadyUsed,
        })
    }
}
