//! Signing in with a security key or passkey (SPEC §13): the options for answering a
//! challenge with one (the answer goes to `POST /sessions/challenge`, `sign_in.rs`).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::AppJson;
use crate::http::AppState;

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
