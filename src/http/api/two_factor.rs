//! `/api/v1/me/two-factor…`: enrolment (and moving to a new device), confirmation, the QR
//! code, the dry-run check, recovery-code regeneration and disabling.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::event::{EventKind, NewEvent};
use crate::domain::otpauth::otpauth_uri;
use crate::domain::recovery::RecoveryCode;
use crate::domain::time::UnixTime;
use crate::domain::totp::TotpSecret;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo, MaybeJson};
use crate::http::qr;
use crate::http::AppState;
use crate::signin::attempts::SecondFactorAttempt;
use crate::signin::factor::CodeCheck;
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

/// A fresh set of recovery codes and their keyed hashes.
fn new_recovery_codes(state: &AppState) -> (Vec<String>, Vec<Vec<u8>>) {
    let codes = RecoveryCode::generate_set(state.config.recovery.count);
    let hashes = codes.iter().map(|c| c.hash(&state.recovery_key)).collect();
    (codes.iter().map(RecoveryCode::display).collect(), hashes)
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
    let now = auth.now;
    let account = &auth.account;
    let record = state.store.two_factor(&account.id).await?;
    let replacing = record.is_enabled();
    if replacing {
        let unchanged = "Your current authenticator stays in use.";
        let proof = proof.unwrap_or_default();
        state
            .signin
            .confirm(account, &record, proof, unchanged, &client, now)
            .await?;
    }
    let secret = TotpSecret::generate();
    let sealed = state
        .keys
        .seal(secret.as_bytes(), account.id.as_str().as_bytes());
    let expires_at = now.plus(state.config.two_factor.pending_ttl);
    state
        .store
        .start_enrollment(&account.id, &sealed, expires_at)
        .await?;
    let details = json!({"replacing": replacing});
    let kind = EventKind::EnrollmentStarted;
    state
        .record(&account.id, kind, &client, now, details)
        .await?;
    let uri = otpauth_uri(
        &state.config.two_factor.issuer,
        account.email.as_str(),
        &secret,
    );
    let qr_svg = qr::svg(&uri).map_err(ApiError::Internal)?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentResponse {
            state: "pending",
            secret: secret.to_base32(),
            otpauth_uri: uri,
            qr_svg,
            expires_at,
            replacing,
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
    let account = &auth.account;
    let record = state.store.two_factor(&account.id).await?;
    let pending = record
        .live_pending(auth.now)
        .ok_or(ApiError::NoPendingEnrollment)?;
    let secret = state.signin.open_secret(&account.id, &pending.secret)?;
    let uri = otpauth_uri(
        &state.config.two_factor.issuer,
        account.email.as_str(),
        &secret,
    );
    let image = qr::png(&uri).map_err(ApiError::Internal)?;
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
    let now = auth.now;
    let account = &auth.account;
    let record = state.store.two_factor(&account.id).await?;
    let pending = record
        .live_pending(now)
        .ok_or(ApiError::NoPendingEnrollment)?
        .clone();
    let flow = &state.signin;
    let attempt = SecondFactorAttempt::begin(flow, &account.id, now).await?;
    let checked = flow.check_code(&account.id, &pending.secret, None, &request.code, now)?;
    let CodeCheck::Fresh { step } = checked else {
        attempt.failed(flow, account, &client, now).await?;
        return Err(ApiError::WrongEnrollmentCode);
    };
    let (codes, hashes) = new_recovery_codes(&state);
    let events = [NewEvent::by_owner(
        &account.id,
        EventKind::EnrollmentConfirmed,
        &client,
        now,
        json!({"replaced": record.is_enabled()}),
    )];
    let confirmed = state
        .store
        .confirm_enrollment(
            &account.id,
            &pending.secret,
            step,
            now,
            &hashes,
            state.journal(&events),
        )
        .await?;
    if !confirmed {
        attempt.failed(flow, account, &client, now).await?;
        return Err(ApiError::NoPendingEnrollment);
    }
    state.wake_for(&events);
    attempt.succeeded(flow).await?;
    Ok(Json(ConfirmedResponse {
        state: "enabled",
        enabled_at: now,
        recovery_codes: codes,
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
    state.store.abandon_enrollment(&auth.account.id).await?;
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
    let account = &auth.account;
    let record = state.store.two_factor(&account.id).await?;
    let status = state
        .signin
        .check(account, &record, &request.code, &client, auth.now)
        .await?;
    Ok(Json(CheckResponse {
        valid: status.valid,
        already_used: status.already_used,
    }))
}

/// For changes to an enabled authenticator: `409 not_enabled` without one, then the proof.
async fn confirm_enabled(
    state: &AppState,
    auth: &Authenticated,
    proof: Proof,
    unchanged: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let record = state.store.two_factor(&auth.account.id).await?;
    if !record.is_enabled() {
        return Err(ApiError::NotEnabled);
    }
    state
        .signin
        .confirm(&auth.account, &record, proof, unchanged, client, auth.now)
        .await?;
    Ok(())
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
    let now = auth.now;
    let account = &auth.account;
    let unchanged = "Your recovery codes were not changed.";
    confirm_enabled(&state, &auth, proof, unchanged, &client).await?;
    let (codes, hashes) = new_recovery_codes(&state);
    let kind = EventKind::RecoveryCodesRegenerated;
    let events = [NewEvent::by_owner(
        &account.id,
        kind,
        &client,
        now,
        json!({"count": codes.len()}),
    )];
    state
        .store
        .replace_recovery_codes(&account.id, &hashes, state.journal(&events))
        .await?;
    state.wake_for(&events);
    Ok(Json(RecoveryCodesResponse {
        recovery_codes: codes,
    }))
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
    let now = auth.now;
    let account = &auth.account;
    let unchanged = "Two-factor remains enabled.";
    confirm_enabled(&state, &auth, proof, unchanged, &client).await?;
    let kind = EventKind::TwoFactorDisabled;
    let events = [NewEvent::by_owner(
        &account.id,
        kind,
        &client,
        now,
        json!({"by": "owner"}),
    )];
    state
        .store
        .disable_two_factor(&account.id, state.journal(&events))
        .await?;
    state.wake_for(&events);
    Ok(Json(DisabledResponse {
        state: "not_configured",
    }))
}
