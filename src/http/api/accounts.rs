//! `POST /api/v1/accounts`: sign-up.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::password::Password;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, ClientInfo};
use crate::http::AppState;

/// Sign-up details.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// E-mail address; trimmed and compared case-insensitively.
    pub email: String,
    /// At least 8 characters and hard to guess. Without one, the account signs in by
    /// e-mail (this server must send e-mail).
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Password>,
    /// Display name.
    pub name: Option<String>,
}

/// The new account.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccount {
    /// Account id.
    pub id: String,
    /// Normalized e-mail.
    pub email: String,
}

/// Creates an account (when sign-up is open).
#[utoipa::path(post, path = "/accounts", tag = "accounts",
    request_body = CreateAccountRequest,
    responses(
        (status = 201, body = CreatedAccount),
        (status = 403, description = "`signup_closed`", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 422, description = "`invalid_email`, `weak_password`, `invalid_body`",
         body = ErrorBody),
        (status = 503, description = "`email_unavailable`: no password, and no SMTP",
         body = ErrorBody)))]
pub async fn create_account(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<CreateAccountRequest>,
) -> Result<(StatusCode, Json<CreatedAccount>), ApiError> {
    let now = state.clock.now();
    let name = request.name.as_deref();
    let account = state
        .accounts
        .sign_up(&request.email, name, request.password, &client, now)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccount {
            id: account.id.0,
            email: account.email.as_str().to_owned(),
        }),
    ))
}
