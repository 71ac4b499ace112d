//! The second step: answering an open challenge with a second factor, and completing the
//! sign-in.
//!
//! A code is judged first against the challenge token's ticket (`ticket.rs`), with no read;
//! otherwise, and whenever that does not settle it, against the challenge as the store keeps
//! it, read with its account, authenticator and failure counter in one statement. Either
//! way any node can answer any challenge. A right factor is spent in one transaction with
//! everything else a sign-in changes (the challenge consumed, the counter claimed, the
//! session started, the events recorded); a wrong one is counted against the account and
//! the challenge.

use serde_json::json;

use super::attempts::SECOND_FACTOR_PREFIX;
use super::attempts::{ensure_second_factor_allowed, second_factor_key, SecondFactorAttempt};
use super::factor::{Factor, Judged};
use super::ticket::Ticket;
use super::{Denial, Error, SignIn, SignedIn};
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::{AccountId, Token, TokenHash};
use crate::domain::recovery::RecoveryCode;
use crate::domain::sign_in::{after_wrong_answer, AfterRecoveryCode, ChallengeFate};
use crate::domain::time::UnixTime;
use crate::domain::webauthn::Purpose;
use crate::store::{
    ChallengeContext, Completion, CounterClaim, RecoveryFollowUp, SignInCompletion,
};

/// The longest challenge token judged: a ticketed one is about 380 characters, and
/// anything much longer is refused before it is hashed or opened.
const MAX_TOKEN_CHARS: usize = 1024;

/// How one completion attempt ended.
enum Completed {
    SignedIn(SignedIn),
    /// The factor was refused after all (another request spent it first), or the
    /// challenge is gone.
    Refused(Denial),
    /// Under [`CounterClaim::Unchanged`], another attempt moved the counter: nothing changed.
    CounterMoved,
}

impl SignIn {
    /// Answers the challenge behind `token` with a second factor.
    ///
    /// A code answered to a token that carries a [`Ticket`] is judged against the ticket
    /// first, with no read. Then one statement, the same for both: a right code completes
    /// the sign-in, a wrong one is counted (`Store::count_judged_failure`), each only while
    /// the failure counter holds none. Whatever that does not settle (failures counted
    /// already, a lock, the challenge gone, the step spent, the secret replaced) is counted
    /// like any attempt and judged again from the database, which decides.
    pub async fn answer(
        &self,
        token: &str,
        factor: &Factor,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<SignedIn, Error> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(Denial::InvalidChallenge.into());
        }
        let presented = token;
        let token = Token::from_presented(presented).hash();
        let ticket = match factor {
            Factor::Code(_) => Ticket::read(&self.keys, presented),
            Factor::RecoveryCode(_) | Factor::WebAuthn(_) => None,
        };
        let mut counted = None;
        if let Some(ticket) = ticket.filter(|ticket| now < ticket.expires_at) {
            let account = &ticket.account;
            // A ticket whose secret no key here opens (a retired key) is no ticket: the
            // store judges. That depends on the keys alone, never on the code.
            if let Ok(verdict) = self.judge(account, &ticket.record(), factor, now) {
                // Security: a right code and a wrong one take one path, the completions'
                // statement, at one cost: so a burst of wrong codes reaches the counter as
                // soon as a right one would, a counter that holds failures (a lock) answers
                // both alike, and a database that fails, fails both alike.
                let in_line = match verdict {
                    Ok(judged) => {
                        // From "no failures": the claim of an attempt that read no counter.
                        let claim = CounterClaim::Unchanged(None);
                        let completed = self
                            .complete(&token, account, 0, &judged, claim, client, now)
                            .await?;
                        if let Completed::SignedIn(signed_in) = completed {
                            return Ok(signed_in);
                        }
                        None
                    }
                    Err(_) => SecondFactorAttempt::count_judged(self, account, now).await?,
                };
                // Security: no code is judged for free. One that did not settle above is
                // counted now (refused while locked), before anything more is read or said.
                let attempt = match in_line {
                    Some(attempt) => attempt,
                    None => SecondFactorAttempt::begin_from(self, account, None, now).await?,
                };
                counted = Some(attempt);
            }
        }
        self.answer_from_store(&token, factor, counted, client, now)
            .await
    }

    /// Answers from the challenge as the store has it. `counted`: this attempt was already
    /// counted (against the ticket's account).
    async fn answer_from_store(
        &self,
        token: &TokenHash,
        factor: &Factor,
        counted: Option<SecondFactorAttempt>,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<SignedIn, Error> {
        let context = self
            .store()
            .challenge_context(token, SECOND_FACTOR_PREFIX)
            .await?;
        let live = context.filter(|context| now < context.challenge.expires_at);
        let context = match live {
            Some(context) if context.record.is_enabled() => context,
            turned_off => {
                if turned_off.is_some() {
                    // Two-factor was turned off (a reset, say) after the first factor.
                    self.store().consume_challenge(token).await?;
                }
                if let Some(attempt) = counted {
                    // Counted all the same: a lock it brings is recorded like any other.
                    attempt.failed(self, client, now).await?;
                }
                return Err(Denial::InvalidChallenge.into());
            }
        };
        let (account, record) = (&context.account, &context.record);
        if account.is_suspended() {
            // Suspending ends the account's challenges; this one was opened by a password
            // step that raced the suspension. Nothing is judged, and it is spent.
            self.store().consume_challenge(token).await?;
            if let Some(attempt) = counted {
                attempt.failed(self, client, now).await?;
            }
            return Err(Denial::AccountSuspended.into());
        }
        if counted.is_none() {
            // While locked, nothing is judged.
            ensure_second_factor_allowed(context.counter.as_ref(), now)?;
        }
        let purpose = Purpose::SecondFactor;
        let judged = self
            .judge_factor(&account.id, record, factor, purpose, client, now)
            .await?;
        let (attempt, refused) = match judged {
            Ok(judged) => match self
                .spend_right(token, &context, &judged, counted, client, now)
                .await?
            {
                Ok(signed_in) => return Ok(signed_in),
                Err(refused) => refused,
            },
            Err(refused) => {
                let attempt = match counted {
                    Some(attempt) => attempt,
                    None => {
                        let counter = context.counter;
                        SecondFactorAttempt::begin_from(self, &account.id, counter, now).await?
                    }
                };
                (attempt, refused)
            }
        };
        // A wrong factor: it stays counted against the account, and against the challenge.
        if refused == Denial::CodeReused {
            self.record(&account.id, EventKind::CodeReused, client, now, json!({}))
                .await?;
        }
        attempt.failed(self, client, now).await?;
        let failures = self.store().count_challenge_failure(token).await?;
        if after_wrong_answer(failures) == ChallengeFate::Void {
            self.store().consume_challenge(token).await?;
        }
        let details = json!({"failures": failures});
        self.record(
            &account.id,
            EventKind::ChallengeFailed,
            client,
            now,
            details,
        )
        .await?;
        Err(refused.into())
    }

    /// Cancels the challenge behind `token` ("sign in as a different user").
    pub async fn cancel(&self, token: &str) -> Result<(), Error> {
        let token = Token::from_presented(token).hash();
        self.store().consume_challenge(&token).await?;
        Ok(())
    }

    /// Files a lost-device reset request for the account whose live challenge `token` is
    /// (it proves the first factor), with a `message` for the administrators (a valid
    /// [`crate::domain::account::note`]). One open request per account: asking again
    /// returns its id. Either way a link confirming it is e-mailed to the account's address
    /// when the instance sends e-mail (`reset_confirm.rs`).
    pub async fn request_reset(
        &self,
        token: &str,
        message: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<String, Error> {
        let token = Token::from_presented(token).hash();
        let account = match self.store().challenge(&token).await? {
            Some(challenge) if now < challenge.expires_at => challenge.account_id,
            _ => return Err(Denial::InvalidChallenge.into()),
        };
        let id = crate::domain::ids::new_id();
        let details = json!({"request_id": id, "message": message});
        let event = NewEvent::by_owner(&account, EventKind::ResetRequested, client, now, details);
        let channels = self.notifier.channels();
        let filed = self
            .store()
            .create_reset_request(&id, &account, message, now, &event, channels)
            .await?;
        if filed.created {
            self.notifier.wake_for(std::slice::from_ref(&event));
        }
        self.send_reset_confirmation(&account, client, now).await?;
        Ok(filed.id)
    }

    /// Spends a right factor in one transaction that also claims the counter value read
    /// with the challenge: of concurrent attempts on that value only one goes through, as
    /// when counting first. If another attempt moved the counter meanwhile, this one is
    /// counted first like any other, then spent. `Ok(Err(..))`: refused after all (another
    /// request spent the factor first), and counted.
    async fn spend_right(
        &self,
        token: &TokenHash,
        context: &ChallengeContext,
        judged: &Judged,
        counted: Option<SecondFactorAttempt>,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Result<SignedIn, (SecondFactorAttempt, Denial)>, Error> {
        let account = &context.account;
        let mut claim = match counted {
            Some(_) => CounterClaim::Counted,
            None => CounterClaim::Unchanged(context.counter.as_ref()),
        };
        let mut counted = counted;
        let codes = context.recovery_codes_remaining;
        loop {
            let completed = self
                .complete(token, &account.id, codes, judged, claim, client, now)
                .await?;
            match (completed, counted.take()) {
                (Completed::SignedIn(signed_in), attempt) => {
                    if let Some(attempt) = attempt {
                        attempt.settled();
                    }
                    return Ok(Ok(signed_in));
                }
                (Completed::CounterMoved, None) => {
                    counted = Some(SecondFactorAttempt::begin(self, &account.id, now).await?);
                    claim = CounterClaim::Counted;
                }
                (Completed::CounterMoved, Some(attempt)) => {
                    attempt.settled();
                    return Err(Error::Invariant(
                        "a counted completion reported a moved counter",
                    ));
                }
                (Completed::Refused(refused), attempt) => {
                    // Counted like any other attempt, so a right code that meets a vanished
                    // challenge or a spent step is never a free check.
                    let attempt = match attempt {
                        Some(attempt) => attempt,
                        None => SecondFactorAttempt::begin(self, &account.id, now).await?,
                    };
                    if refused == Denial::InvalidChallenge {
                        attempt.failed(self, client, now).await?;
                        return Err(refused.into());
                    }
                    return Ok(Err((attempt, refused)));
                }
            }
        }
    }

    /// Spends a right factor and signs in, in one store transaction. `codes`: the account's
    /// unused recovery codes as read (for a recovery code's event).
    #[allow(clippy::too_many_arguments)]
    async fn complete(
        &self,
        token: &TokenHash,
        account: &AccountId,
        codes: u32,
        judged: &Judged,
        counter: CounterClaim<'_>,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Completed, Error> {
        let scheme = self.config.recovery.scheme();
        let after = match judged {
            Judged::RecoveryCode(_) => Some(scheme.after_use()),
            Judged::Step { .. } | Judged::WebAuthn { .. } => None,
        };
        let rotated = (after == Some(AfterRecoveryCode::Rotate)).then(RecoveryCode::generate);
        let rotated_hash = rotated.as_ref().map(|code| code.hash(&self.recovery_key));
        let follow_up = match (after, &rotated_hash) {
            (Some(AfterRecoveryCode::DisableTwoFactor), _) => RecoveryFollowUp::DisableTwoFactor,
            (Some(AfterRecoveryCode::Rotate), Some(hash)) => RecoveryFollowUp::AddCode(hash),
            _ => RecoveryFollowUp::Nothing,
        };
        let start = self.new_session(account, judged.amr(), client, now);
        let mut events = Vec::with_capacity(4);
        let mut event =
            |kind, details| events.push(NewEvent::by_owner(account, kind, client, now, details));
        let method = match after {
            Some(after) => {
                let remaining = scheme.remaining_after_use(codes);
                let details = json!({
                    "purpose": "sign_in",
                    "remaining": remaining,
                    "rotated": rotated.is_some(),
                });
                event(EventKind::RecoveryCodeUsed, details);
                if after == AfterRecoveryCode::DisableTwoFactor {
                    event(EventKind::TwoFactorDisabled, json!({"by": "recovery_code"}));
                }
                "recovery_code"
            }
            None => judged.method(),
        };
        if let Judged::WebAuthn { credential, .. } = judged {
            let details = json!({"credential": credential, "purpose": "sign_in"});
            event(EventKind::WebAuthnUsed, details);
        }
        event(EventKind::SignInSucceeded, json!({"method": method}));
        let throttle_key = second_factor_key(account);
        let completion = SignInCompletion {
            challenge: token,
            factor: judged.spent(),
            follow_up,
            throttle_key: &throttle_key,
            counter,
            session: &start.new,
            now,
        };
        let journal = self.notifier.journal(&events);
        Ok(
            match self.store().complete_sign_in(&completion, journal).await? {
                Completion::SignedIn {
                    recovery_codes_remaining,
                } => {
                    self.notifier.wake_for(&events);
                    let mut signed_in = start.signed_in();
                    signed_in.recovery_codes_remaining = Some(recovery_codes_remaining);
                    signed_in.two_factor_disabled =
                        matches!(follow_up, RecoveryFollowUp::DisableTwoFactor);
                    signed_in.new_recovery_code = rotated.map(|code| code.display());
                    Completed::SignedIn(signed_in)
                }
                Completion::FactorRefused => Completed::Refused(judged.refusal()),
                Completion::ChallengeGone => Completed::Refused(Denial::InvalidChallenge),
                Completion::CounterMoved => Completed::CounterMoved,
                Completion::FailureCounted => {
                    return Err(Error::Invariant("a completion was answered as a failure"))
                }
            },
        )
    }
}
