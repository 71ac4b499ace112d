//! Signing in over JSON: `POST /sessions` (the first factor), `POST /sessions/challenge`
//! (the second), `DELETE /sessions/challenge` (cancel) and the lost-device reset request.
//! A thin adapter over [`crate::signin::SignIn`]: it parses, calls the flow, counts the
//! outcome and shapes the answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webauthn_rs::prelude::PublicKeyCredential;

use crate::domain::account::note;
use crate::domain::password::Password;
use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, ClientInfo};
use crate::http::AppState;
use crate::signin::factor::Factor;
use crate::signin::{self, SignedIn, Step};

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
    /// A security key or passkey's answer to the options of `POST
    /// /sessions/challenge/webauthn` (`navigator.credentials.get()`'s `PublicKeyCredential`
    /// as JSON).
    #[schema(value_type = Option<Object>)]
    pub webauthn: Option<PublicKeyCredential>,
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

impl From<signin::Challenge> for ChallengeView {
    fn from(challenge: signin::Challenge) -> Self {
        ChallengeView {
            token: challenge.token.expose().to_owned(),
            expires_at: challenge.expires_at,
            methods: challenge.methods.iter().map(|m| m.as_str()).collect(),
        }
    }
}

impl From<SignedIn> for ChallengeResponse {
    fn from(signed_in: SignedIn) -> Self {
        ChallengeResponse {
            status: "authenticated",
            token: signed_in.token.expose().to_owned(),
            session: SessionSummary {
                id: signed_in.session.id.0,
                expires_at: signed_in.session.expires_at,
            },
            recovery_codes_remaining: signed_in.recovery_codes_remaining.unwrap_or(0),
            two_factor_disabled: signed_in.two_factor_disabled,
            new_recovery_code: signed_in.new_recovery_code,
        }
    }
}

/// Signs in with e-mail and password.
#[utoipa::path(post, path = "/sessions", tag = "sessions",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in", body = SignInResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`",
         body = ErrorBody),
        (status = 503, description = "`unavailable`: the database failed; nothing was judged",
         body = ErrorBody)))]
pub async fn create_session(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<SignInRequest>,
) -> Result<(StatusCode, Json<SignInResponse>), ApiError> {
    let now = state.clock.now();
    let step = state
        .signin
        .with_password(&request.email, request.password, &client, now)
        .await;
    state.metrics.sign_in_step(&step);
    Ok(answer_step(step?))
}

/// A first factor's answer: `201` with a session, or `200` with the challenge.
pub(super) fn answer_step(step: Step) -> (StatusCode, Json<SignInResponse>) {
    match step {
        Step::Continue(challenge) => (
            StatusCode::OK,
            Json(SignInResponse::TwoFactorRequired {
                challenge: challenge.into(),
            }),
        ),
        Step::Success(signed_in) => (
            StatusCode::CREATED,
            Json(SignInResponse::Authenticated {
                token: signed_in.token.expose().to_owned(),
                session: SessionSummary {
                    id: signed_in.session.id.0,
                    expires_at: signed_in.session.expires_at,
                },
            }),
        ),
    }
}

/// An address to e-mail a sign-in link and code to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSignInRequest {
    /// The account's e-mail address (any case).
    pub email: String,
}

/// "Check your e-mail": the same answer whether or not the address has an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailSent {
    /// Always `email_sent`.
    pub status: &'static str,
}

impl EmailSent {
    /// The answer.
    pub const SENT: EmailSent = EmailSent {
        status: "email_sent",
    };
}

/// The link token, or the address and the code, of an e-mail sign-in message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSignInAnswer {
    /// The token of the link `/login/email/TOKEN`.
    pub token: Option<String>,
    /// The address the message went to (with `code`).
    pub email: Option<String>,
    /// The code of the message, `XXXX-XXXX`.
    pub code: Option<String>,
}

/// E-mails a sign-in link and code to an account without a password. Answers `202` alike
/// for every address (an account with a password, or none, receives nothing).
#[utoipa::path(post, path = "/sessions/email", tag = "sessions",
    request_body = EmailSignInRequest,
    responses(
        (status = 202, body = EmailSent),
        (status = 422, description = "`invalid_email`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many e-mails for this address \
                                      or from this client", body = ErrorBody),
        (status = 503, description = "`email_unavailable`: no SMTP on this server",
         body = ErrorBody)))]
pub async fn request_email_sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<EmailSignInRequest>,
) -> Result<(StatusCode, Json<EmailSent>), ApiError> {
    let now = state.clock.now();
    state
        .signin
        .request_email_sign_in(&request.email, &client, now)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(EmailSent::SENT)))
}

/// Signs in with the link token, or the address and code, of an e-mail sign-in message;
/// answers exactly like `POST /sessions`.
#[utoipa::path(post, path = "/sessions/email/verify", tag = "sessions",
    request_body = EmailSignInAnswer,
    responses(
        (status = 201, description = "Signed in", body = SignInResponse),
        (status = 200, description = "Two-factor is on: answer the challenge",
         body = SignInResponse),
        (status = 401, description = "`invalid_code`", body = ErrorBody),
        (status = 422, description = "`invalid_token`, `invalid_body`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the database failed", body = ErrorBody)))]
pub async fn email_sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<EmailSignInAnswer>,
) -> Result<(StatusCode, Json<SignInResponse>), ApiError> {
    let now = state.clock.now();
    let step = match (request.token, request.email, request.code) {
        (Some(token), None, None) => state.signin.with_email_link(&token, &client, now).await,
        (None, Some(email), Some(code)) => {
            state
                .signin
                .with_email_code(&email, &code, &client, now)
                .await
        }
        _ => {
            return Err(ApiError::InvalidBody(
                "give either `token`, or `email` and `code`".to_owned(),
            ))
        }
    };
    state.metrics.sign_in_step(&step);
    Ok(answer_step(step?))
}

/// The factor a challenge answer gives: exactly one of `code` and `recovery_code`.
pub fn factor_of(request: ChallengeRequest) -> Result<Factor, ApiError> {
    match (request.code, request.recovery_code, request.webauthn) {
        (Some(code), None, None) => Ok(Factor::Code(code)),
        (None, Some(code), None) => Ok(Factor::RecoveryCode(code)),
        (None, None, Some(answer)) => Ok(Factor::WebAuthn(Box::new(answer))),
        _ => Err(ApiError::InvalidBody(
            "give exactly one of `code`, `recovery_code` and `webauthn`".to_owned(),
        )),
    }
}

/// Answers a sign-in challenge with an authenticator code, a recovery code, or a security
/// key or passkey.
#[utoipa::path(post, path = "/sessions/challenge", tag = "sessions",
    request_body = ChallengeRequest,
    responses(
        (status = 201, description = "Signed in", body = ChallengeResponse),
        (status = 401, description = "`invalid_code`, `code_reused`, `invalid_recovery_code`, \
                                      `invalid_webauthn`, `invalid_challenge`", body = ErrorBody),
        (status = 409, description = "`invalid_ceremony`: the WebAuthn options were used or \
                                      expired", body = ErrorBody),
        (status = 422, description = "`invalid_body`: not exactly one of code, recovery_code \
                                      and webauthn",
         body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the database failed", body = ErrorBody)))]
pub async fn answer_challenge(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<ChallengeRequest>,
) -> Result<(StatusCode, Json<ChallengeResponse>), ApiError> {
    let token = request.challenge_token.clone();
    let factor = factor_of(request)?;
    let now = state.clock.now();
    let token = &token;
    let answered = state.signin.answer(token, &factor, &client, now).await;
    state.metrics.sign_in_step(&answered);
    let signed_in = answered?;
    Ok((StatusCode::CREATED, Json(signed_in.into())))
}

/// Cancels a challenge ("sign in as a different user"); the token dies.
#[utoipa::path(delete, path = "/sessions/challenge", tag = "sessions",
    request_body = CancelChallengeRequest,
    responses((status = 204, description = "Cancelled (or already gone)")))]
pub async fn cancel_challenge(
    State(state): State<AppState>,
    AppJson(request): AppJson<CancelChallengeRequest>,
) -> Result<StatusCode, ApiError> {
    state.signin.cancel(&request.challenge_token).await?;
    Ok(StatusCode::NO_CONTENT)
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
    let message = note(&form.message)
        .ok_or_else(|| ApiError::InvalidBody("message: 1 to 1000 characters".to_owned()))?;
    let token = &form.challenge_token;
    let id = state
        .signin
        .request_reset(token, message, &client, now)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(ResetRequestFiled { id })))
}
