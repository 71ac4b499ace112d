//! The account's address (SPEC §11): `POST /me/email/verification` (a new verification
//! link), `POST /email/verify` (the link's POST, which proves the address), and `POST
//! /me/email/proof` (a code that stands in for the password of an account without one).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::password::Password;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo};
use crate::http::AppState;
use crate::signin::proof::Proof;

/// "Check your e-mail".
#[derive(Debug, Serialize, ToSchema)]
pub struct Sent {
    /// Always `email_sent`.
    pub status: &'static str,
}

const SENT: Sent = Sent {
    status: "email_sent",
};

/// The token of a link `/verify-email/TOKEN`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The token.
    pub token: String,
}

/// The address proven.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// The account's address, now verified.
    pub email: String,
    /// Always true.
    pub email_verified: bool,
}

/// A new address, and one proof.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The new address; it becomes the account's when the link sent to it is used.
    pub email: String,
    /// The password.
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Password>,
    /// A current authenticator code.
    pub code: Option<String>,
    /// An unused recovery code.
    pub recovery_code: Option<String>,
    /// The code of the latest `POST /me/email/proof` message.
    pub email_code: Option<String>,
}

/// Moves the caller to a new address: after a proof, a link goes to the new address, and
/// the account moves there when it is used (`POST /email/verify`); the old address is told.
#[utoipa::path(put, path = "/me/email", tag = "me",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, body = Sent),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`confirmation_failed`", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 422, description = "`invalid_email`, `invalid_body`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody),
        (status = 503, description = "`email_unavailable`", body = ErrorBody)))]
pub async fn change_email(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(request): AppJson<ChangeEmailRequest>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let proof = Proof {
        password: request.password,
        code: request.code,
        recovery_code: request.recovery_code,
        email_code: request.email_code,
        webauthn: None,
    };
    state
        .accounts
        .change_email(&auth.account, &request.email, proof, &client, auth.now)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(SENT)))
}

/// Sends a new verification link to the caller's address.
#[utoipa::path(post, path = "/me/email/verification", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 202, body = Sent),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody),
        (status = 503, description = "`email_unavailable`", body = ErrorBody)))]
pub async fn send_verification(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    state
        .accounts
        .send_verification(&auth.account, &client, auth.now)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(SENT)))
}

/// Proves an address with the token of its link: a verification link verifies it; the link
/// sent to a new address makes it the account's.
#[utoipa::path(post, path = "/email/verify", tag = "accounts",
    request_body = VerifyRequest,
    responses(
        (status = 200, body = Verified),
        (status = 409, description = "`email_taken`: another account took the new address",
         body = ErrorBody),
        (status = 422, description = "`invalid_token`", body = ErrorBody)))]
pub async fn verify_email(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<VerifyRequest>,
) -> Result<Json<Verified>, ApiError> {
    let now = state.clock.now();
    let email = state
        .accounts
        .verify_email(&request.token, &client, now)
        .await?;
    Ok(Json(Verified {
        email: email.as_str().to_owned(),
        email_verified: true,
    }))
}

/// E-mails the caller a code that proves the mailbox: `{"email_code": …}`, for an account
/// without a password, where a proof is asked.
#[utoipa::path(post, path = "/me/email/proof", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 202, body = Sent),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody),
        (status = 503, description = "`email_unavailable`", body = ErrorBody)))]
pub async fn send_email_proof(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    state
        .accounts
        .send_email_proof(&auth.account, &client, auth.now)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(SENT)))
}
