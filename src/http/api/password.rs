//! The password (SPEC §11): `PUT /me/password` (set or change, behind a proof), `POST
//! /password/forgot` (e-mails a reset link) and `POST /password/reset` (the link's POST).

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

/// A new password, and one proof (as for every sensitive change; an account without a
/// password proves its mailbox with `email_code`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The new password (the strength rules of sign-up).
    #[schema(value_type = String, format = Password)]
    pub new_password: Password,
    /// The current password.
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Password>,
    /// A current authenticator code.
    pub code: Option<String>,
    /// An unused recovery code.
    pub recovery_code: Option<String>,
    /// The code of the latest `POST /me/email/proof` message.
    pub email_code: Option<String>,
}

/// An address to send a reset link to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotRequest {
    /// The account's address.
    pub email: String,
}

/// The token of a link `/reset-password/TOKEN`, and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The token.
    pub token: String,
    /// The new password.
    #[schema(value_type = String, format = Password)]
    pub new_password: Password,
}

/// What happened.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// `password_changed`, `email_sent` or `password_reset`.
    pub status: &'static str,
}

/// Sets or changes the caller's password; every other session ends.
#[utoipa::path(put, path = "/me/password", tag = "me",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, body = Done),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`confirmation_failed`", body = ErrorBody),
        (status = 422, description = "`weak_password`, `invalid_body`", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(request): AppJson<ChangePasswordRequest>,
) -> Result<Json<Done>, ApiError> {
    let proof = Proof {
        password: request.password,
        code: request.code,
        recovery_code: request.recovery_code,
        email_code: request.email_code,
        webauthn: None,
    };
    state
        .accounts
        .change_password(
            &auth.account,
            &auth.credential.id,
            request.new_password,
            proof,
            &client,
            auth.now,
        )
        .await?;
    Ok(Json(Done {
        status: "password_changed",
    }))
}

/// E-mails a password reset link if the address is an account's; `202` alike either way.
#[utoipa::path(post, path = "/password/forgot", tag = "accounts",
    request_body = ForgotRequest,
    responses(
        (status = 202, body = Done),
        (status = 422, description = "`invalid_email`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody),
        (status = 503, description = "`email_unavailable`", body = ErrorBody)))]
pub async fn forgot_password(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<ForgotRequest>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let now = state.clock.now();
    state
        .accounts
        .forgot_password(&request.email, &client, now)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Done {
            status: "email_sent",
        }),
    ))
}

/// Sets a new password with a reset link's token: the address is verified, every session
/// ends, and two-factor stays as it was.
#[utoipa::path(post, path = "/password/reset", tag = "accounts",
    request_body = ResetRequest,
    responses(
        (status = 200, body = Done),
        (status = 422, description = "`invalid_token`, `weak_password`", body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<ResetRequest>,
) -> Result<Json<Done>, ApiError> {
    let now = state.clock.now();
    state
        .accounts
        .reset_password(&request.token, request.new_password, &client, now)
        .await?;
    Ok(Json(Done {
        status: "password_reset",
    }))
}
