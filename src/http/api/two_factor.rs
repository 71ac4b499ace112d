//! `/api/v1/me/two-factor…`: enrolment (and moving to a new device), confirmation, the QR
//! code, the dry-run check, recovery-code regeneration and disabling.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo, MaybeJson};
use crate::http::qr;
use crate::http::AppState;
use crate::signin::proof::Proof;

/// A new pending enrolment: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentResponse {
    /// Always `pending`.
    pub state: &'static str,
    /// The secret in base32, without padding, for typing into an app.
    pub secret: String,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The URI as an inline SVG QR code.
    pub qr_svg: String,
    /// When this enrolment lapses if not confirmed.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
    /// Whether this replaces an enabled authenticator (moving to a new device).
    pub replacing: bool,
}

/// A code to check or confirm with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Six digits from the authenticator app; spaces are ignored.
    pub code: String,
}

/// Two-factor is on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmedResponse {
    /// Always `enabled`.
    pub state: &'static str,
    /// When it was confirmed.
    #[schema(value_type = String, format = DateTime)]
    pub enabled_at: UnixTime,
    /// Recovery codes, shown this once.
    pub recovery_codes: Vec<String>,
}

/// The result of a dry-run check.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    /// Whether the code matches the authenticator now.
    pub valid: bool,
    /// Whether it matches only a step already accepted (say, the code just used to sign
    /// in): then `valid` too, and not counted as a failure.
    pub already_used: bool,
}

/// A fresh set of recovery codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Shown this once.
    pub recovery_codes: Vec<String>,
}

/// Two-factor is off.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisabledResponse {
    /// Always `not_configured`.
    pub state: &'static str,
}

/// Starts an enrolment: a fresh 160-bit secret, pending until confirmed. With two-factor
/// enabled this starts a move to a new device and needs a proof; the old secret keeps
/// working until the new one is confirmed.
#[utoipa::path(post, path = "/me/two-factor/enrollment", tag = "two-factor",
    security(("bearer" = [])),
    request_body(content = Option<Proof>, description = "A proof, when replacing an enabled authenticator"),
    responses(
        (status = 201, body = EnrollmentResponse),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`confirmation_failed`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody)))]
pub async fn start_enrollment(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    MaybeJson(proof): MaybeJson<Proof>,
) -> Result<(StatusCode, Json<EnrollmentResponse>), ApiError> {
    let enrollment = state
        .accounts
        .start_enrollment(&auth.account, proof, &client, auth.now)
        .await?;
    let qr_svg = qr::svg(&enrollment.otpauth_uri).map_err(ApiError::Internal)?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentResponse {
            state: "pending",
            secret: enrollment.secret.to_base32(),
            otpauth_uri: enrollment.otpauth_uri,
            qr_svg,
            expires_at: enrollment.expires_at,
            replacing: enrollment.replacing,
        }),
    ))
}

/// The pending enrolment's QR code as a PNG image.
#[utoipa::path(get, path = "/me/two-factor/enrollment/qr.png", tag = "two-factor",
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "image/png", body = Vec<u8>),
        (status = 409, description = "`no_pending_enrollment`", body = ErrorBody)))]
pub async fn enrollment_qr_png(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let enrollment = state
        .accounts
        .pending_enrollment(&auth.account, auth.now)
        .await?
        .ok_or(ApiError::NoPendingEnrollment)?;
    let image = qr::png(&enrollment.otpauth_uri).map_err(ApiError::Internal)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        image,
    )
        .into_response())
}

/// Confirms the pending enrolment with a current code: two-factor is enabled (or moved to
/// the new device) and a fresh set of recovery codes is shown once.
#[utoipa::path(post, path = "/me/two-factor/enrollment/confirm", tag = "two-factor",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, body = ConfirmedResponse),
        (status = 409, description = "`no_pending_enrollment`", body = ErrorBody),
        (status = 422, description = "`invalid_code`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody)))]
pub async fn confirm_enrollment(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(request): AppJson<CodeRequest>,
) -> Result<Json<ConfirmedResponse>, ApiError> {
    let recovery_codes = state
        .accounts
        .confirm_enrollment(&auth.account, &request.code, &client, auth.now)
        .await?;
    Ok(Json(ConfirmedResponse {
        state: "enabled",
        enabled_at: auth.now,
        recovery_codes,
    }))
}

/// Abandons a pending enrolment; an enabled authenticator stays as it was.
#[utoipa::path(delete, path = "/me/two-factor/enrollment", tag = "two-factor",
    security(("bearer" = [])),
    responses((status = 204, description = "Abandoned (or there was none)")))]
pub async fn abandon_enrollment(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, ApiError> {
    state.accounts.abandon_enrollment(&auth.account.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells whether a code is valid now, without using it up. Wrong codes count towards the
/// second-factor lock, so this is no guessing oracle.
#[utoipa::path(post, path = "/me/two-factor/check", tag = "two-factor",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, body = CheckResponse),
        (status = 409, description = "`not_enabled`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody)))]
pub async fn check_code(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(request): AppJson<CodeRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    let status = state
        .accounts
        .check_code(&auth.account, &request.code, &client, auth.now)
        .await?;
    Ok(Json(CheckResponse {
        valid: status.valid,
        already_used: status.already_used,
    }))
}

/// Replaces the recovery codes with a fresh set (after a proof); the old set dies at once.
#[utoipa::path(post, path = "/me/two-factor/recovery-codes", tag = "two-factor",
    security(("bearer" = [])),
    request_body = Proof,
    responses(
        (status = 200, body = RecoveryCodesResponse),
        (status = 403, description = "`confirmation_failed`", body = ErrorBody),
        (status = 409, description = "`not_enabled`", body = ErrorBody)))]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(proof): AppJson<Proof>,
) -> Result<Json<RecoveryCodesResponse>, ApiError> {
    let recovery_codes = state
        .accounts
        .regenerate_recovery_codes(&auth.account, proof, &client, auth.now)
        .await?;
    Ok(Json(RecoveryCodesResponse { recovery_codes }))
}

/// Turns two-factor off (after a proof): deletes the secret and the recovery codes.
#[utoipa::path(delete, path = "/me/two-factor", tag = "two-factor",
    security(("bearer" = [])),
    request_body = Proof,
    responses(
        (status = 200, body = DisabledResponse),
        (status = 403, description = "`confirmation_failed`", body = ErrorBody),
        (status = 409, description = "`not_enabled`", body = ErrorBody)))]
pub async fn disable_two_factor(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(proof): AppJson<Proof>,
) -> Result<Json<DisabledResponse>, ApiError> {
    state
        .accounts
        .disable_two_factor(&auth.account, proof, &client, auth.now)
        .await?;
    Ok(Json(DisabledResponse {
        state: "not_configured",
    }))
}
