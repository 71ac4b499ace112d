//! Signing in and out: `POST /sessions`, `GET /sessions`, `DELETE /sessions/current`,
//! `DELETE /sessions/{id}`.
//!
//! Security: an unknown e-mail and a wrong password give the same answer at the same cost
//! (the password is verified against a dummy hash), and are throttled under the same key
//! (the typed address), so throttling reveals nothing either.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::event::EventKind;
use crate::domain::ids::TokenHash;
use crate::domain::ids::{SessionId, Token};
use crate::domain::password::Password;
use crate::domain::recovery::RecoveryCode;
use crate::domain::throttle::{ADDRESS_WINDOW, PASSWORD_BACKOFF};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::{CHALLENGE_MAX_FAILURES, CHALLENGE_TTL_SECONDS};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo};
use crate::http::metrics::SignInOutcome;
use crate::http::second_factor::{
    judge_factor, new_event, record_event, Factor, SecondFactorAttempt, THROTTLE_PREFIX,
};
use crate::http::throttling::{begin_attempt_from, Rule};
use crate::http::AppState;
use crate::store::{
    AfterPassword, Challenge, ChallengeContext, Completion, CounterClaim, NewSession,
    PasswordSettlement, RecoveryFollowUp, SignInCompletion, SpentFactor,
};

/// E-mail and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The account's e-mail address (any case).
    pub email: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
}

/// A new session's public part.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionSummary {
    /// Session id (for listing and revoking; not a credential).
    pub id: String,
    /// When it ends at the latest.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
}

/// A second factor is due: answer the challenge at `POST /sessions/challenge`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeView {
    /// Single-use challenge token.
    pub token: String,
    /// When it lapses (five minutes).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
    /// Accepted second factors: `totp`, `recovery_code`.
    pub methods: Vec<&'static str>,
}

/// The result of a sign-in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignInResponse {
    /// Signed in (201).
    Authenticated {
        /// Bearer token: send as `Authorization: Bearer TOKEN`. Shown once.
        token: String,
        /// The session.
        session: SessionSummary,
    },
    /// The password was right; two-factor is enabled (200).
    TwoFactorRequired {
        /// The challenge to answer.
        challenge: ChallengeView,
    },
}

/// A second factor for a challenge: `code` or `recovery_code`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The token from `two_factor_required`.
    pub challenge_token: String,
    /// A code from the authenticator app.
    pub code: Option<String>,
    /// A recovery code.
    pub recovery_code: Option<String>,
}

/// Cancels a challenge ("sign in as a different user").
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelChallengeRequest {
    /// The token from `two_factor_required`.
    pub challenge_token: String,
}

/// Signed in after the second factor.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeResponse {
    /// Always `authenticated`.
    pub status: &'static str,
    /// Bearer token. Shown once.
    pub token: String,
    /// The session.
    pub session: SessionSummary,
    /// Unused recovery codes left.
    pub recovery_codes_remaining: u32,
    /// Whether using a recovery code turned two-factor off (`recovery.use_disables_two_factor`).
    pub two_factor_disabled: bool,
    /// The replacement for a used recovery code (`recovery.rotate_on_use`); shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_recovery_code: Option<String>,
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// When it began.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When it was last used (to the minute).
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: UnixTime,
    /// When it ends if unused.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
    /// Client address at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// Throttling key for password guesses against one typed address.
fn password_key(email: &str) -> String {
    format!("password:{}", email.trim().to_lowercase())
}

/// Throttling key for password failures from one client address.
fn address_key(client: &ClientInfo) -> String {
    format!("password-ip:{}", client.ip.as_deref().unwrap_or("unknown"))
}

/// A new session for `account` and its token (shown once), not stored yet.
fn new_session(
    state: &AppState,
    account: &Account,
    client: &ClientInfo,
    now: UnixTime,
) -> (Token, NewSession) {
    let token = Token::generate();
    let session = Session {
        id: SessionId::generate(),
        account_id: account.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: state.config.sessions.absolute_end(now),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
    };
    let token_hash = token.hash();
    (
        token,
        NewSession {
            session,
            token_hash,
        },
    )
}

/// Creates a session for `account` and returns its token (shown once).
pub async fn start_session(
    state: &AppState,
    account: &Account,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<(Token, Session), ApiError> {
    let (token, new) = new_session(state, account, client, now);
    state.store.create_session(&new).await?;
    Ok((token, new.session))
}

/// Checks an e-mail and password under the throttling rules. Returns the account when
/// they match (its failure counters settled); counts a failure otherwise.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: Password,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Account, ApiError> {
    let checked = verify_password(state, email, password, client, now).await?;
    state.store.clear_failures(&checked.clear).await?;
    state.store.refund_failure(&checked.refund).await?;
    Ok(checked.account)
}

/// A right password whose failure counters are not settled yet: settle them with the
/// store change the password leads to ([`PasswordChecked::settle`]), in one transaction.
#[derive(Debug)]
pub struct PasswordChecked {
    /// The account.
    pub account: Account,
    clear: String,
    refund: String,
}

impl PasswordChecked {
    /// The settlement that also starts `then`.
    pub fn settle<'a>(&'a self, then: AfterPassword<'a>) -> PasswordSettlement<'a> {
        PasswordSettlement {
            clear: &self.clear,
            refund: &self.refund,
            then,
        }
    }
}

/// [`check_password`], leaving the counters to settle.
pub async fn verify_password(
    state: &AppState,
    email: &str,
    password: Password,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<PasswordChecked, ApiError> {
    let store = state.store.as_ref();
    let by_address = address_key(client);
    let by_account = password_key(email);
    // Both counters and the account in one read; then each counter is swapped from what was
    // read, exactly as `begin_attempt` would after reading it alone.
    let parsed = Email::parse(email).ok();
    let read = store
        .password_attempt(&by_address, &by_account, parsed.as_ref())
        .await?;
    let address_rule = Rule::Window(ADDRESS_WINDOW);
    begin_attempt_from(store, &by_address, address_rule, now, read.address).await?;
    let account_rule = Rule::Backoff(PASSWORD_BACKOFF);
    let counter =
        match begin_attempt_from(store, &by_account, account_rule, now, read.account_counter).await
        {
            Ok(counter) => counter,
            Err(throttled) => {
                store.refund_failure(&by_address).await?;
                return Err(throttled);
            }
        };
    let account = read.account;
    let stored_hash = account.as_ref().map(|a| a.password_hash.clone());
    if !state.passwords.verify(password, stored_hash).await {
        if let (Some(account), true) = (&account, PASSWORD_BACKOFF.locks(&counter)) {
            // Security: recorded off the request path, so that a lock-out of a real account
            // answers as fast as one of an unknown address.
            let (state, client) = (state.clone(), client.clone());
            let details = json!({
                "factor": "password",
                "failures": counter.failures,
                "until": counter.locked_until.to_rfc3339(),
            });
            let event = new_event(&account.id, EventKind::LockedOut, &client, now, details);
            tokio::spawn(async move {
                if let Err(error) = state.record_event(&event).await {
                    tracing::warn!(?error, "could not record a password lock-out");
                }
            });
        }
        return Err(ApiError::InvalidCredentials);
    }
    Ok(PasswordChecked {
        account: account.ok_or(ApiError::InvalidCredentials)?,
        clear: by_account,
        refund: by_address,
    })
}

/// Signs in with e-mail and password.
#[utoipa::path(post, path = "/sessions", tag = "sessions",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in", body = SignInResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`",
         body = ErrorBody)))]
pub async fn create_session(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<SignInRequest>,
) -> Result<(StatusCode, Json<SignInResponse>), ApiError> {
    let now = state.clock.now();
    let request_email = request.email;
    let password = request.password;
    let checked = match verify_password(&state, &request_email, password, &client, now).await {
        Ok(checked) => checked,
        Err(error) => {
            let outcome = match error {
                ApiError::TooManyAttempts { .. } => SignInOutcome::throttled,
                _ => SignInOutcome::invalid_credentials,
            };
            state.metrics.sign_in(outcome);
            // The failure goes to the account's log when the address is an account's.
            // Security: off the request path, so a wrong password for a real account costs
            // the same time as an unknown address (the insert would otherwise wait on fsync).
            let (state, client) = (state.clone(), client.clone());
            tokio::spawn(async move {
                let details = json!({"reason": outcome_name(outcome)});
                let recorded = async {
                    let Ok(email) = Email::parse(&request_email) else {
                        return Ok(());
                    };
                    let Some(account) = state.store.account_by_email(&email).await? else {
                        return Ok(());
                    };
                    let kind = EventKind::SignInFailed;
                    record_event(&state, &account.id, kind, &client, now, details).await
                };
                if let Err(error) = recorded.await {
                    tracing::warn!(?error, "could not record a failed sign-in");
                }
            });
            return Err(error);
        }
    };
    let account = &checked.account;
    let counter_key = SecondFactorAttempt::key_for(&account.id);
    let second_factor = state
        .store
        .second_factor_state(&account.id, &counter_key)
        .await?;
    if second_factor.record.is_enabled() {
        let token = Token::generate();
        let expires_at = now.plus_seconds(CHALLENGE_TTL_SECONDS);
        let token_hash = token.hash();
        let then = AfterPassword::Challenge {
            token: &token_hash,
            account: &account.id,
            expires_at,
        };
        let settle = checked.settle(then);
        state
            .store
            .settle_password(&settle, state.journal(&[]))
            .await?;
        // A code answered on this node needs no read of the challenge (challenge_hints.rs).
        let hint = ChallengeContext {
            challenge: Challenge {
                account_id: account.id.clone(),
                expires_at,
                failures: 0,
            },
            account: account.clone(),
            record: second_factor.record,
            counter: second_factor.counter,
            recovery_codes_remaining: second_factor.recovery_codes_remaining,
        };
        state.challenges.remember(&token_hash, hint, now);
        state.metrics.sign_in(SignInOutcome::two_factor_required);
        let challenge = ChallengeView {
            token: token.expose().to_owned(),
            expires_at,
            methods: vec!["totp", "recovery_code"],
        };
        return Ok((
            StatusCode::OK,
            Json(SignInResponse::TwoFactorRequired { challenge }),
        ));
    }
    // The session and its event commit with the settled counters.
    let (token, new) = new_session(&state, account, &client, now);
    let details = json!({"method": "password"});
    let events = [new_event(
        &account.id,
        EventKind::SignInSucceeded,
        &client,
        now,
        details,
    )];
    let settle = checked.settle(AfterPassword::Session(&new));
    state
        .store
        .settle_password(&settle, state.journal(&events))
        .await?;
    state.wake_for(&events);
    state.metrics.sign_in(SignInOutcome::success);
    let session = new.session;
    Ok((
        StatusCode::CREATED,
        Json(SignInResponse::Authenticated {
            token: token.expose().to_owned(),
            session: SessionSummary {
                id: session.id.0,
                expires_at: session.expires_at,
            },
        }),
    ))
}

/// Answers a sign-in challenge with an authenticator code or a recovery code.
#[utoipa::path(post, path = "/sessions/challenge", tag = "sessions",
    request_body = ChallengeRequest,
    responses(
        (status = 201, description = "Signed in", body = ChallengeResponse),
        (status = 401, description = "`invalid_code`, `code_reused`, `invalid_recovery_code`, \
                                      `invalid_challenge`", body = ErrorBody),
        (status = 422, description = "`invalid_body`: neither or both of code and recovery_code",
         body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody)))]
pub async fn answer_challenge(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<ChallengeRequest>,
) -> Result<(StatusCode, Json<ChallengeResponse>), ApiError> {
    let now = state.clock.now();
    let factor = match (request.code, request.recovery_code) {
        (Some(code), None) => Factor::Code(code),
        (None, Some(code)) => Factor::RecoveryCode(code),
        _ => {
            return Err(ApiError::InvalidBody(
                "give exactly one of `code` and `recovery_code`".to_owned(),
            ))
        }
    };
    let token = Token::from_presented(&request.challenge_token).hash();
    // A code answering a challenge this node opened starts from what the password step read
    // (challenge_hints.rs); right and wrong codes alike reach the failure counter in one
    // statement. What does not sign in is counted, then answered from a fresh read.
    let hint = state
        .challenges
        .take(&token)
        .filter(|hint| matches!(factor, Factor::Code(_)) && now < hint.challenge.expires_at);
    let mut counted = None;
    if let Some(hint) = &hint {
        match answer_from_hint(&state, &token, hint, &factor, &client, now).await? {
            Ok(response) => return Ok(response),
            Err(attempt) => counted = attempt,
        }
    }
    // One read: the challenge, its account, the authenticator and the failure counter.
    let context = match state
        .store
        .challenge_context(&token, THROTTLE_PREFIX)
        .await?
    {
        Some(context) if now < context.challenge.expires_at => context,
        _ => {
            // A counted answer whose challenge vanished meanwhile stays counted.
            if let (Some(attempt), Some(hint)) = (counted, &hint) {
                attempt
                    .failed(&state, &hint.account.id, &client, now)
                    .await?;
            }
            return Err(ApiError::InvalidChallenge);
        }
    };
    let (account, record) = (&context.account, &context.record);
    if !record.is_enabled() {
        // Two-factor was turned off (e.g. reset) after the password step.
        state.store.consume_challenge(&token).await?;
        if let Some(attempt) = counted {
            attempt.failed(&state, &account.id, &client, now).await?;
        }
        return Err(ApiError::InvalidChallenge);
    }
    // While locked, nothing is judged (a counted answer was refused then already).
    if counted.is_none() {
        SecondFactorAttempt::ensure_allowed(context.counter.as_ref(), now)?;
    }
    let checked = judge_factor(&state, &account.id, record, &factor, now)?;
    let (attempt, refused) = match checked {
        Ok(judged) => {
            let spent = judged.spent();
            match spend_right_factor(&state, &token, &context, spent, counted, &client, now).await?
            {
                Ok(response) => return Ok(response),
                Err(refused) => refused,
            }
        }
        Err(refused) => {
            let attempt = match counted {
                Some(attempt) => attempt,
                None => {
                    let counter = context.counter;
                    SecondFactorAttempt::begin_from(&state, &account.id, counter, now).await?
                }
            };
            (attempt, refused)
        }
    };
    // A wrong factor: it stays counted against the account, and against the challenge.
    if matches!(refused, ApiError::CodeReused) {
        let details = json!({});
        record_event(
            &state,
            &account.id,
            EventKind::CodeReused,
            &client,
            now,
            details,
        )
        .await?;
    }
    attempt.failed(&state, &account.id, &client, now).await?;
    let failures = state.store.count_challenge_failure(&token).await?;
    if failures >= CHALLENGE_MAX_FAILURES {
        state.store.consume_challenge(&token).await?;
    }
    let details = json!({"failures": failures});
    let kind = EventKind::ChallengeFailed;
    record_event(&state, &account.id, kind, &client, now, details).await?;
    Err(refused)
}

/// Answers a code from a challenge's hint (`challenge_hints.rs`). A right code is completed
/// claiming the remembered counter value, a wrong one is counted from it, both by the same
/// store path, which first checks that the counter is still that value: if it moved (a lock
/// since, say), neither changed anything and both are answered from a fresh read, where a
/// lock refuses them before anything is judged. `Ok(Err(attempt))`: not signed in; the caller
/// answers from a fresh read, with the attempt when it was counted.
async fn answer_from_hint(
    state: &AppState,
    token: &TokenHash,
    hint: &ChallengeContext,
    factor: &Factor,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Result<(StatusCode, Json<ChallengeResponse>), Option<SecondFactorAttempt>>, ApiError> {
    SecondFactorAttempt::ensure_allowed(hint.counter.as_ref(), now)?;
    let account = &hint.account.id;
    let judged = match judge_factor(state, account, &hint.record, factor, now)? {
        Ok(judged) => judged,
        Err(_) => {
            let counted = SecondFactorAttempt::count_from(state, account, hint.counter, now);
            return Ok(Err(counted.await?));
        }
    };
    let claim = CounterClaim::Unchanged(hint.counter.as_ref());
    let spent = judged.spent();
    match complete_sign_in(state, token, hint, spent, claim, client, now).await? {
        Completed::SignedIn(response) => Ok(Ok(signed_in(state, response))),
        Completed::CounterMoved => Ok(Err(None)),
        Completed::Refused(refused) => {
            // A reused step, a changed secret or a vanished challenge: counted like any
            // other attempt (from the value the completion found unchanged).
            let attempt = SecondFactorAttempt::begin_from(state, account, hint.counter, now);
            let attempt = attempt.await?;
            if matches!(refused, ApiError::InvalidChallenge) {
                attempt.failed(state, account, client, now).await?;
                return Err(ApiError::InvalidChallenge);
            }
            Ok(Err(Some(attempt)))
        }
    }
}

/// A right factor, spent in one transaction that also claims the counter value read with the
/// challenge: of concurrent attempts on that value only one goes through, as when counting
/// first (wrong answers count, a right one claims, each from the same value read). If another
/// attempt moved the counter meanwhile, this one is counted first like any other, then spent.
/// An attempt already `counted` is spent clearing the counter.
/// `Ok(Err(..))`: refused after all (another request spent the factor first), and counted.
async fn spend_right_factor(
    state: &AppState,
    token: &TokenHash,
    context: &ChallengeContext,
    spent: SpentFactor<'_>,
    counted: Option<SecondFactorAttempt>,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Result<(StatusCode, Json<ChallengeResponse>), (SecondFactorAttempt, ApiError)>, ApiError>
{
    let account = &context.account.id;
    let mut claim = match counted {
        Some(_) => CounterClaim::Counted,
        None => CounterClaim::Unchanged(context.counter.as_ref()),
    };
    let mut counted = counted;
    loop {
        let completed = complete_sign_in(state, token, context, spent, claim, client, now).await?;
        match (completed, counted.take()) {
            (Completed::SignedIn(response), attempt) => {
                if let Some(attempt) = attempt {
                    attempt.settled();
                }
                return Ok(Ok(signed_in(state, response)));
            }
            (Completed::CounterMoved, None) => {
                counted = Some(SecondFactorAttempt::begin(state, account, now).await?);
                claim = CounterClaim::Counted;
            }
            (Completed::CounterMoved, Some(_)) => {
                return Err(ApiError::Internal(
                    "a counted completion reported a moved counter".into(),
                ))
            }
            (Completed::Refused(refused), attempt) => {
                // Counted like any other attempt, so a right code that meets a vanished
                // challenge or a spent step is never a free check.
                let attempt = match attempt {
                    Some(attempt) => attempt,
                    None => SecondFactorAttempt::begin(state, account, now).await?,
                };
                if matches!(refused, ApiError::InvalidChallenge) {
                    attempt.failed(state, account, client, now).await?;
                    return Err(ApiError::InvalidChallenge);
                }
                return Ok(Err((attempt, refused)));
            }
        }
    }
}

/// A successful challenge answer.
fn signed_in(
    state: &AppState,
    response: ChallengeResponse,
) -> (StatusCode, Json<ChallengeResponse>) {
    state.metrics.sign_in(SignInOutcome::success);
    (StatusCode::CREATED, Json(response))
}

/// How [`complete_sign_in`] ended.
enum Completed {
    SignedIn(ChallengeResponse),
    /// The factor was refused after all (another request spent it first), or the
    /// challenge is gone (`InvalidChallenge`).
    Refused(ApiError),
    /// Under [`CounterClaim::Unchanged`], another attempt moved the counter: nothing changed.
    CounterMoved,
}

/// Spends a right factor and signs in, in one store transaction.
async fn complete_sign_in(
    state: &AppState,
    token: &TokenHash,
    context: &ChallengeContext,
    spent: SpentFactor<'_>,
    counter: CounterClaim<'_>,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Completed, ApiError> {
    let throttle_key = SecondFactorAttempt::key_for(&context.account.id);
    let account = &context.account;
    let policy = state.config.recovery;
    let by_recovery_code = matches!(spent, SpentFactor::RecoveryCode(_));
    let rotated = (by_recovery_code && policy.rotate_on_use && !policy.use_disables_two_factor)
        .then(RecoveryCode::generate);
    let rotated_hash = rotated.as_ref().map(|code| code.hash(&state.recovery_key));
    let follow_up = match (by_recovery_code, &rotated_hash) {
        (false, _) => RecoveryFollowUp::Nothing,
        (true, _) if policy.use_disables_two_factor => RecoveryFollowUp::DisableTwoFactor,
        (true, Some(hash)) => RecoveryFollowUp::AddCode(hash),
        (true, None) => RecoveryFollowUp::Nothing,
    };
    let (session_token, new_session) = new_session(state, account, client, now);
    let mut events = Vec::with_capacity(3);
    let mut event = |kind, details| events.push(new_event(&account.id, kind, client, now, details));
    if by_recovery_code {
        // The codes left afterwards, for the event (the response reports the count the store
        // finds).
        let before = context.recovery_codes_remaining;
        let remaining = match follow_up {
            RecoveryFollowUp::DisableTwoFactor => 0,
            RecoveryFollowUp::AddCode(_) => before,
            RecoveryFollowUp::Nothing => before.saturating_sub(1),
        };
        let details = json!({
            "purpose": "sign_in",
            "remaining": remaining,
            "rotated": rotated.is_some(),
        });
        event(EventKind::RecoveryCodeUsed, details);
        if policy.use_disables_two_factor {
            event(EventKind::TwoFactorDisabled, json!({"by": "recovery_code"}));
        }
    }
    let method = if by_recovery_code {
        "recovery_code"
    } else {
        "totp"
    };
    event(EventKind::SignInSucceeded, json!({"method": method}));
    let completion = SignInCompletion {
        challenge: token,
        factor: spent,
        follow_up,
        throttle_key: &throttle_key,
        counter,
        session: &new_session,
        now,
    };
    match state
        .store
        .complete_sign_in(&completion, state.journal(&events))
        .await?
    {
        Completion::SignedIn {
            recovery_codes_remaining,
        } => {
            state.wake_for(&events);
            Ok(Completed::SignedIn(ChallengeResponse {
                status: "authenticated",
                token: session_token.expose().to_owned(),
                session: SessionSummary {
                    id: new_session.session.id.0,
                    expires_at: new_session.session.expires_at,
                },
                recovery_codes_remaining,
                two_factor_disabled: matches!(follow_up, RecoveryFollowUp::DisableTwoFactor),
                new_recovery_code: rotated.map(|code| code.display()),
            }))
        }
        Completion::FactorRefused if by_recovery_code => {
            Ok(Completed::Refused(ApiError::InvalidRecoveryCode))
        }
        // Another request accepted this step first.
        Completion::FactorRefused => Ok(Completed::Refused(ApiError::CodeReused)),
        Completion::ChallengeGone => Ok(Completed::Refused(ApiError::InvalidChallenge)),
        Completion::CounterMoved => Ok(Completed::CounterMoved),
    }
}

/// Cancels a challenge ("sign in as a different user"); the token dies.
#[utoipa::path(delete, path = "/sessions/challenge", tag = "sessions",
    request_body = CancelChallengeRequest,
    responses((status = 204, description = "Cancelled (or already gone)")))]
pub async fn cancel_challenge(
    State(state): State<AppState>,
    AppJson(request): AppJson<CancelChallengeRequest>,
) -> Result<StatusCode, ApiError> {
    let token = Token::from_presented(&request.challenge_token).hash();
    state.challenges.take(&token);
    state.store.consume_challenge(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn outcome_name(outcome: SignInOutcome) -> &'static str {
    match outcome {
        SignInOutcome::throttled => "throttled",
        SignInOutcome::invalid_credentials => "invalid_credentials",
        SignInOutcome::success => "success",
        SignInOutcome::two_factor_required => "two_factor_required",
    }
}

/// Lists the caller's sessions.
#[utoipa::path(get, path = "/sessions", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SessionList),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<SessionList>, ApiError> {
    let lifetimes = state.config.sessions;
    let sessions = state
        .store
        .list_sessions(&auth.account.id)
        .await?
        .into_iter()
        .filter(|session| lifetimes.is_live(session, auth.now))
        .map(|session| SessionView {
            current: session.id == auth.session.id,
            expires_at: lifetimes.ends_at(&session),
            id: session.id.0,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            ip: session.ip,
            user_agent: session.user_agent,
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// Signs out: ends the session making the request.
#[utoipa::path(delete, path = "/sessions/current", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn delete_current_session(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_session(&auth.account.id, &auth.session.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes one of the caller's sessions.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session of yours", body = ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_session(&auth.account.id, &SessionId(id.clone()))
        .await?
    {
        let details = json!({"session_id": id});
        record_event(
            &state,
            &auth.account.id,
            EventKind::SessionRevoked,
            &client,
            auth.now,
            details,
        )
        .await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// A request for an admin reset, from someone stuck at the challenge with neither device
/// nor recovery code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestForm {
    /// The token from `two_factor_required` (proves the password step).
    pub challenge_token: String,
    /// What happened, for the admin (1–1000 characters).
    pub message: String,
}

/// The filed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetRequestFiled {
    /// Request id.
    pub id: String,
}

/// Files a lost-device reset request for the account behind a live challenge; one open
/// request per account (asking again returns it).
#[utoipa::path(post, path = "/sessions/challenge/reset-request", tag = "sessions",
    request_body = ResetRequestForm,
    responses((status = 202, body = ResetRequestFiled),
              (status = 401, description = "`invalid_challenge`", body = ErrorBody),
              (status = 422, description = "`invalid_body`", body = ErrorBody)))]
pub async fn request_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(form): AppJson<ResetRequestForm>,
) -> Result<(StatusCode, Json<ResetRequestFiled>), ApiError> {
    let now = state.clock.now();
    let message = form.message.trim();
    if message.is_empty() || message.chars().count() > crate::http::api::admin::MAX_TEXT_CHARS {
        return Err(ApiError::InvalidBody(
            "message: 1 to 1000 characters".to_owned(),
        ));
    }
    let token = Token::from_presented(&form.challenge_token).hash();
    let challenge = match state.store.challenge(&token).await? {
        Some(challenge) if now < challenge.expires_at => challenge,
        _ => return Err(ApiError::InvalidChallenge),
    };
    let id = crate::domain::ids::new_id();
    let details = json!({"request_id": id, "message": message});
    let event = new_event(
        &challenge.account_id,
        EventKind::ResetRequested,
        &client,
        now,
        details,
    );
    let filed = state
        .store
        .create_reset_request(
            &id,
            &challenge.account_id,
            message,
            now,
            &event,
            state.notifier.channels(),
        )
        .await?;
    if filed.created {
        state.wake_for(std::slice::from_ref(&event));
    }
    let id = filed.id;
    Ok((StatusCode::ACCEPTED, Json(ResetRequestFiled { id })))
}
