//! Checking a second factor (an authenticator code or a recovery code) for an account, and
//! confirmation proofs for sensitive changes. Shared by the sign-in challenge, enrolment
//! and the settings endpoints, so that throttling and the once-only rules live in one place.
//!
//! Security: every attempt is counted against the account's second factor before it is
//! checked (10 consecutive failures lock it with growing back-off), a TOTP step is accepted
//! by one conditional update, and a recovery code is consumed by one conditional delete.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::config::ProofKind;
use crate::domain::account::Account;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::password::Password;
use crate::domain::recovery::RecoveryCode;
use crate::domain::throttle::SECOND_FACTOR_BACKOFF;
use crate::domain::time::UnixTime;
use crate::domain::totp::{self, Code, TotpSecret, Verdict};
use crate::domain::two_factor::TwoFactorRecord;
use crate::http::api::sessions::check_password;
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::throttling::{begin_attempt, begin_attempt_from, Rule};
use crate::http::AppState;
use crate::keyring::Sealed;
use crate::store::SpentFactor;

/// A second factor as presented.
#[derive(Debug, Clone)]
pub enum Factor {
    /// A code from the authenticator app.
    Code(String),
    /// A recovery code.
    RecoveryCode(String),
}

/// Which kind of factor succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// An authenticator code.
    Totp,
    /// A recovery code (now used up).
    RecoveryCode,
}

/// The prefix of each account's second-factor failure counter (then the account id).
pub const THROTTLE_PREFIX: &str = "second-factor:";

fn throttle_key(account: &AccountId) -> String {
    format!("{THROTTLE_PREFIX}{account}")
}

/// A security event about `account`, done by its owner from `client`.
pub fn new_event(
    account: &AccountId,
    kind: EventKind,
    client: &ClientInfo,
    now: UnixTime,
    details: serde_json::Value,
) -> NewEvent {
    NewEvent {
        account_id: Some(account.clone()),
        actor_id: None,
        workspace_id: None,
        kind,
        at: now,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        details,
    }
}

/// Records a security event about `account`.
pub async fn record_event(
    state: &AppState,
    account: &AccountId,
    kind: EventKind,
    client: &ClientInfo,
    now: UnixTime,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    state
        .record_event(&new_event(account, kind, client, now, details))
        .await?;
    Ok(())
}

/// Opens a sealed TOTP secret of `account`.
pub fn open_secret(
    state: &AppState,
    account: &AccountId,
    sealed: &Sealed,
) -> Result<TotpSecret, ApiError> {
    let bytes = state.keys.open(sealed, account.as_str().as_bytes())?;
    TotpSecret::from_bytes(&bytes)
        .ok_or_else(|| ApiError::Internal("stored TOTP secret has the wrong length".into()))
}

/// A second-factor attempt, counted against the account before the factor is checked
/// (so concurrent guesses can never check more than the limit). End it with
/// [`SecondFactorAttempt::succeeded`] or [`SecondFactorAttempt::failed`].
#[derive(Debug)]
#[must_use = "end the attempt with succeeded() or failed()"]
pub struct SecondFactorAttempt {
    key: String,
    counter: crate::domain::throttle::Counter,
}

impl SecondFactorAttempt {
    /// Counts an attempt on `account`'s second factor, or answers `429 too_many_attempts`
    /// while it is locked.
    pub async fn begin(
        state: &AppState,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Self, ApiError> {
        let key = throttle_key(account);
        let rule = Rule::Backoff(SECOND_FACTOR_BACKOFF);
        let counter = begin_attempt(state.store.as_ref(), &key, rule, now).await?;
        Ok(Self { key, counter })
    }

    /// [`SecondFactorAttempt::begin`] with the counter just read alongside other data.
    pub async fn begin_from(
        state: &AppState,
        account: &AccountId,
        counter: Option<crate::domain::throttle::Counter>,
        now: UnixTime,
    ) -> Result<Self, ApiError> {
        let key = throttle_key(account);
        let rule = Rule::Backoff(SECOND_FACTOR_BACKOFF);
        let counter = begin_attempt_from(state.store.as_ref(), &key, rule, now, counter).await?;
        Ok(Self { key, counter })
    }

    /// A wrong factor counted from `counter` (remembered with a challenge), by the store's
    /// [`crate::store::Store::count_factor_failure`]: `None` when the counter moved since,
    /// and nothing was counted.
    pub async fn count_from(
        state: &AppState,
        account: &AccountId,
        counter: Option<crate::domain::throttle::Counter>,
        now: UnixTime,
    ) -> Result<Option<Self>, ApiError> {
        use crate::domain::throttle::Attempt;
        let key = throttle_key(account);
        let next = match SECOND_FACTOR_BACKOFF.begin(counter.as_ref(), now) {
            Attempt::Throttled { retry_after } => {
                return Err(ApiError::TooManyAttempts { retry_after })
            }
            Attempt::Allowed(next) => next,
        };
        let store = state.store.as_ref();
        let counted = store
            .count_factor_failure(account, &key, counter.as_ref(), &next, now)
            .await?;
        Ok(counted.then_some(Self { key, counter: next }))
    }

    /// The counter's key, for a store change that clears it in its own transaction.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key of `account`'s second-factor failure counter.
    pub fn key_for(account: &AccountId) -> String {
        throttle_key(account)
    }

    /// `429 too_many_attempts` while `counter` (as just read) locks the second factor.
    pub fn ensure_allowed(
        counter: Option<&crate::domain::throttle::Counter>,
        now: UnixTime,
    ) -> Result<(), ApiError> {
        use crate::domain::throttle::Attempt;
        match SECOND_FACTOR_BACKOFF.begin(counter, now) {
            Attempt::Throttled { retry_after } => Err(ApiError::TooManyAttempts { retry_after }),
            Attempt::Allowed(_) => Ok(()),
        }
    }

    /// The factor was right and the store already cleared the counter with the change.
    pub fn settled(self) {}

    /// The factor was right: the consecutive failures start again from zero.
    pub async fn succeeded(self, state: &AppState) -> Result<(), ApiError> {
        state.store.clear_failures(&self.key).await?;
        Ok(())
    }

    /// The factor was wrong: the failure stays counted, and when it locked the second
    /// factor that is recorded (and the owner told).
    pub async fn failed(
        self,
        state: &AppState,
        account: &AccountId,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), ApiError> {
        if SECOND_FACTOR_BACKOFF.locks(&self.counter) {
            let details = serde_json::json!({
                "factor": "second_factor",
                "failures": self.counter.failures,
                "until": self.counter.locked_until.to_rfc3339(),
            });
            record_event(state, account, EventKind::LockedOut, client, now, details).await?;
        }
        Ok(())
    }
}

/// Checks `factor` for an account with two-factor enabled, consuming what it uses.
pub async fn verify_second_factor(
    state: &AppState,
    account: &Account,
    record: &TwoFactorRecord,
    factor: &Factor,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Verified, ApiError> {
    let attempt = SecondFactorAttempt::begin(state, &account.id, now).await?;
    let outcome = check_factor(state, account, record, factor, now).await?;
    match outcome {
        Ok(verified) => {
            attempt.succeeded(state).await?;
            Ok(verified)
        }
        Err(error) => {
            if matches!(error, ApiError::CodeReused) {
                record_event(
                    state,
                    &account.id,
                    EventKind::CodeReused,
                    client,
                    now,
                    serde_json::json!({}),
                )
                .await?;
            }
            attempt.failed(state, &account.id, client, now).await?;
            Err(error)
        }
    }
}

/// A factor judged in memory, before anything is spent: what the store must spend for it.
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
        }
    }
}

/// Judges `factor` against the account's authenticator without spending anything:
/// `Ok(Err(..))` is a wrong (or already used) factor, `Err(..)` an internal failure.
pub fn judge_factor(
    state: &AppState,
    account: &AccountId,
    record: &TwoFactorRecord,
    factor: &Factor,
    now: UnixTime,
) -> Result<Result<Judged, ApiError>, ApiError> {
    match factor {
        Factor::Code(typed) => {
            let Ok(code) = Code::parse(typed) else {
                return Ok(Err(ApiError::InvalidCode));
            };
            let Some(sealed) = &record.secret else {
                return Ok(Err(ApiError::NotEnabled));
            };
            let secret = open_secret(state, account, sealed)?;
            let skew = state.config.two_factor.skew_steps;
            Ok(
                match totp::verify(&secret, code, now, skew, record.last_step) {
                    Verdict::Accepted { step } => Ok(Judged::Step {
                        step,
                        secret: sealed.blob.clone(),
                    }),
                    Verdict::Replayed => Err(ApiError::CodeReused),
                    Verdict::Invalid => Err(ApiError::InvalidCode),
                },
            )
        }
        Factor::RecoveryCode(typed) => Ok(match RecoveryCode::parse(typed) {
            Some(code) => Ok(Judged::RecoveryCode(code.hash(&state.recovery_key))),
            None => Err(ApiError::InvalidRecoveryCode),
        }),
    }
}

/// The check itself, spending what a right factor uses: `Ok(Err(..))` is a wrong factor,
/// `Err(..)` an internal failure.
async fn check_factor(
    state: &AppState,
    account: &Account,
    record: &TwoFactorRecord,
    factor: &Factor,
    now: UnixTime,
) -> Result<Result<Verified, ApiError>, ApiError> {
    let judged = match judge_factor(state, &account.id, record, factor, now)? {
        Ok(judged) => judged,
        Err(wrong) => return Ok(Err(wrong)),
    };
    let store = state.store.as_ref();
    Ok(match judged {
        Judged::Step { step, .. } if store.accept_step(&account.id, step).await? => {
            Ok(Verified::Totp)
        }
        // Another request accepted this step first.
        Judged::Step { .. } => Err(ApiError::CodeReused),
        Judged::RecoveryCode(hash) if store.consume_recovery_code(&account.id, &hash).await? => {
            Ok(Verified::RecoveryCode)
        }
        Judged::RecoveryCode(_) => Err(ApiError::InvalidRecoveryCode),
    })
}

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
}

fn proof_kind_name(kind: ProofKind) -> &'static str {
    match kind {
        ProofKind::Password => "password",
        ProofKind::Code => "code",
        ProofKind::RecoveryCode => "recovery_code",
    }
}

/// Checks a proof for `account`. A wrong proof is `403 confirmation_failed` and changes
/// nothing (but counts towards throttling); `unchanged` says so in the message, e.g.
/// "Two-factor remains enabled."
pub async fn confirm_proof(
    state: &AppState,
    account: &Account,
    record: &TwoFactorRecord,
    proof: Proof,
    unchanged: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<(), ApiError> {
    let accepted = &state.config.two_factor.confirm_with;
    let accepted_names: Vec<&str> = accepted.iter().map(|k| proof_kind_name(*k)).collect();
    let ask = || {
        ApiError::ConfirmationFailed(format!(
            "Confirm this change with one of: {}.",
            accepted_names.join(", ")
        ))
    };
    let (kind, factor_or_password) = match (proof.password, proof.code, proof.recovery_code) {
        (Some(password), None, None) => (ProofKind::Password, Err(password)),
        (None, Some(code), None) => (ProofKind::Code, Ok(Factor::Code(code))),
        (None, None, Some(code)) => (ProofKind::RecoveryCode, Ok(Factor::RecoveryCode(code))),
        _ => return Err(ask()),
    };
    if !accepted.contains(&kind) {
        return Err(ask());
    }
    match factor_or_password {
        Err(password) => {
            match check_password(state, account.email.as_str(), password, client, now).await {
                Ok(_) => Ok(()),
                Err(ApiError::InvalidCredentials) => Err(ApiError::ConfirmationFailed(format!(
                    "Password did not match. {unchanged}"
                ))),
                Err(other) => Err(other),
            }
        }
        Ok(factor) => {
            if !record.is_enabled() {
                return Err(ask());
            }
            match verify_second_factor(state, account, record, &factor, client, now).await {
                Ok(Verified::Totp) => Ok(()),
                Ok(Verified::RecoveryCode) => {
                    // A recovery code spent on a proof is used up like one spent signing
                    // in, and its owner hears of it the same way.
                    let remaining = state.store.recovery_codes_remaining(&account.id).await?;
                    let details = serde_json::json!({"purpose": "proof", "remaining": remaining});
                    let kind = EventKind::RecoveryCodeUsed;
                    record_event(state, &account.id, kind, client, now, details).await
                }
                Err(
                    ApiError::InvalidCode | ApiError::CodeReused | ApiError::InvalidRecoveryCode,
                ) => Err(ApiError::ConfirmationFailed(format!(
                    "That code did not match. {unchanged}"
                ))),
                Err(other) => Err(other),
            }
        }
    }
}
