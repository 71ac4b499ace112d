//! Signing in with a security key or passkey (SPEC §13): the options for answering a
//! challenge with one (the answer goes to `POST /sessions/challenge`, `sign_in.rs`), and
//! signing in with a passkey alone.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use webauthn_rs::prelude::PublicKeyCredential;

use super::sign_in::{answer_step, SignInResponse};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, ClientInfo};
use crate::http::AppState;
use crate::signin::Step;

/// A challenge to answer with a security key or passkey.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeWebAuthnRequest {
    /// The token from `two_factor_required`.
    pub challenge_token: String,
}

/// The options to pass to `navigator.credentials.get()` (`{"publicKey": …}`) to answer a
/// challenge with one of the account's security keys or passkeys; good for 5 minutes and
/// once. The answer goes to `POST /sessions/challenge` as `webauthn`.
#[utoipa::path(post, path = "/sessions/challenge/webauthn", tag = "sessions",
    request_body = ChallengeWebAuthnRequest,
    responses(
        (status = 200, body = Object),
        (status = 401, description = "`invalid_challenge`", body = ErrorBody),
        (status = 409, description = "`not_enabled`: no security key; `webauthn_unavailable`",
         body = ErrorBody)))]
pub async fn start_challenge_webauthn(
    State(state): State<AppState>,
    AppJson(request): AppJson<ChallengeWebAuthnRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = state.clock.now();
    let options = state
        .signin
        .start_challenge_webauthn(&request.challenge_token, now)
        .await?;
    Ok(Json(options))
}

/// Options for `navigator.credentials.get()` that any passkey of this site may answer,
/// asking for user verification; good for 5 minutes and once.
#[utoipa::path(post, path = "/sessions/passkey", tag = "sessions",
    responses(
        (status = 200, body = Object),
        (status = 409, description = "`webauthn_unavailable`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts` (from this client address)", body = ErrorBody)))]
pub async fn start_passkey(
    State(state): State<AppState>,
    client: ClientInfo,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = state.clock.now();
    Ok(Json(state.signin.start_passkey(&client, now).await?))
}

/// A passkey's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishPasskeyRequest {
    /// `navigator.credentials.get()`'s `PublicKeyCredential`, as JSON.
    #[schema(value_type = Object)]
    pub credential: PublicKeyCredential,
}

/// Signs in with a passkey that verified its user: two factors in one (`amr` `hwk` or
/// `swk`, `user`, `mfa`). Without user verification it is refused.
#[utoipa::path(post, path = "/sessions/passkey/finish", tag = "sessions",
    request_body = FinishPasskeyRequest,
    responses(
        (status = 201, description = "Signed in", body = SignInResponse),
        (status = 401, description = "`invalid_webauthn`", body = ErrorBody),
        (status = 403, description = "`account_suspended`", body = ErrorBody),
        (status = 409, description = "`invalid_ceremony`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts` (from this client address)", body = ErrorBody)))]
pub async fn finish_passkey(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<FinishPasskeyRequest>,
) -> Result<(StatusCode, Json<SignInResponse>), ApiError> {
    let now = state.clock.now();
    let finished = state
        .signin
        .finish_passkey(&request.credential, &client, now)
        .await;
    state.metrics.sign_in_step(&finished);
    Ok(answer_step(Step::Success(finished?)))
}
