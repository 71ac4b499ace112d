//! The account's address (SPEC §11): `POST /me/email/verification` (a new verification
//! link), `POST /email/verify` (the link's POST, which proves the address), and `POST
//! /me/email/proof` (a code that stands in for the password of an account without one).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo};
use crate::http::AppState;

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
