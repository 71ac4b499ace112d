//! The one error type of the HTTP layer. Each variant yields a status, a stable
//! `snake_case` code and a sentence for people; the body is always
//! `{"error": {"code": …, "message": …}}`.
//!
//! Codes (stable API): `malformed_json`, `invalid_body`, `unsupported_media_type`,
//! `body_too_large`, `not_found`, `method_not_allowed`, `unauthenticated`,
//! `invalid_credentials`, `too_many_attempts`, `email_taken`, `invalid_email`,
//! `weak_password`, `signup_closed`, `forbidden`, `not_ready`, `internal_error`,
//! `invalid_code`, `code_reused`, `invalid_recovery_code`, `invalid_challenge`,
//! `no_pending_enrollment`, `not_enabled`, `confirmation_failed`, `two_factor_required`
//! (with the `deadline`), `last_owner`, `enable_two_factor_first`, `invalid_grace_period`,
//! `reason_required`, `not_abandoned`, `account_suspended`, `own_account`,
//! `already_suspended`, `not_suspended`, `reset_not_confirmed`, `client_exists`,
//! `invalid_authorization_request`,
//! `invalid_client_metadata`, `configured_client`, `token_not_allowed`, `invalid_ceremony`,
//! `invalid_webauthn`, `credential_exists`, `webauthn_unavailable`, `unavailable` (the database
//! failed), `not_acknowledged` (a committed change not yet confirmed by every node).
//!
//! Internal errors answer "internal error"; their source rides in the response
//! extensions ([`InternalErrorSource`]) and the logging middleware writes it once.
//!
//! What each variant answers is `parts.rs` ([`ApiError::parts`]); how the errors of the
//! layers below (store, sign-in flow, accounts, workspaces, admin) become one is `convert.rs`.

mod convert;
mod parts;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::password::WeakPassword;
use crate::domain::time::UnixTime;
use crate::domain::workspace::RequiredFactor;

/// Every error the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON.
    #[error("malformed JSON")]
    MalformedJson(String),
    /// The JSON has the wrong shape: unknown field, wrong type, missing field.
    #[error("invalid body")]
    InvalidBody(String),
    /// The body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body is over the limit.
    #[error("body too large")]
    BodyTooLarge,
    /// No such resource (or not yours).
    #[error("not found")]
    NotFound,
    /// The path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No valid session.
    #[error("unauthenticated")]
    Unauthenticated,
    /// Unknown e-mail or wrong password (deliberately indistinguishable).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The right password (or challenge answer) of a suspended account.
    #[error("account suspended")]
    AccountSuspended,
    /// Throttled; retry after this many seconds.
    #[error("too many attempts")]
    TooManyAttempts {
        /// Seconds until another attempt is allowed.
        retry_after: u64,
    },
    /// An account with this e-mail exists.
    #[error("email taken")]
    EmailTaken,
    /// Not an acceptable e-mail address.
    #[error("invalid email")]
    InvalidEmail,
    /// The new password is too weak.
    #[error("weak password")]
    WeakPassword(WeakPassword),
    /// Signup is closed on this instance.
    #[error("signup closed")]
    SignupClosed,
    /// Signed in, but not allowed to do this.
    #[error("forbidden")]
    Forbidden,
    /// An API token was presented where only a signed-in session may act (security
    /// settings).
    #[error("token not allowed")]
    TokenNotAllowed,
    /// The database cannot be reached.
    #[error("not ready")]
    NotReady,
    /// A wrong or malformed authenticator code at sign-in.
    #[error("invalid code")]
    InvalidCode,
    /// A wrong or malformed code when confirming an enrolment.
    #[error("invalid code")]
    WrongEnrollmentCode,
    /// A code that was already used.
    #[error("code reused")]
    CodeReused,
    /// A wrong, malformed or used recovery code.
    #[error("invalid recovery code")]
    InvalidRecoveryCode,
    /// An e-mailed link that is unknown, used, voided by a newer one, or expired.
    #[error("invalid e-mail link")]
    InvalidEmailLink,
    /// An e-mailed code that did not match a live token.
    #[error("invalid e-mail code")]
    InvalidEmailCode,
    /// The flow sends an e-mail, and this instance has no SMTP.
    #[error("e-mail unavailable")]
    EmailUnavailable,
    /// The sign-in challenge is unknown, used, voided or expired.
    #[error("invalid challenge")]
    InvalidChallenge,
    /// No live pending enrolment to confirm.
    #[error("no pending enrollment")]
    NoPendingEnrollment,
    /// Two-factor is not enabled.
    #[error("not enabled")]
    NotEnabled,
    /// A sensitive change was not confirmed by an accepted proof.
    #[error("confirmation failed")]
    ConfirmationFailed(String),
    /// A policy requires two-factor and its grace period is over.
    #[error("two-factor required")]
    TwoFactorRequired {
        /// When grace ended.
        deadline: Option<UnixTime>,
    },
    /// The change would leave the workspace without an owner.
    #[error("last owner")]
    LastOwner,
    /// Turning on enforcement needs two-factor on the caller's own account first.
    #[error("enable two-factor first")]
    EnableTwoFactorFirst(RequiredFactor),
    /// A grace period other than 0, 3, 7, 14 or 30 days.
    #[error("invalid grace period")]
    InvalidGracePeriod,
    /// An admin reset needs a reason.
    #[error("reason required")]
    ReasonRequired,
    /// An instance admin cannot suspend or delete their own account in the admin area.
    #[error("own account")]
    OwnAccount,
    /// The account is suspended already.
    #[error("already suspended")]
    AlreadySuspended,
    /// The account is not suspended.
    #[error("not suspended")]
    NotSuspended,
    /// Only an abandoned notification delivery can be retried.
    #[error("not abandoned")]
    NotAbandoned,
    /// The account's open reset request lacks the marks `[recovery] reset_requires` asks
    /// for (in words), and the reset was not forced.
    #[error("reset not confirmed")]
    ResetNotConfirmed(String),
    /// An authorization request names an unknown client or a redirect URI its client did
    /// not register: answered with a page, never a redirect.
    #[error("invalid authorization request")]
    InvalidAuthorizationRequest,
    /// An OpenID Connect client with this id exists.
    #[error("client exists")]
    ClientExists,
    /// An OpenID Connect client's registration is refused; the sentence says which field.
    #[error("invalid client: {0}")]
    InvalidClient(String),
    /// The client comes from `[[oidc.clients]]`, and is changed there.
    #[error("configured client")]
    ConfiguredClient,
    /// The database failed or could not be reached; the detail is logged, never shown.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A change to remembered data is committed, but a node neither acknowledged it nor
    /// let its lease run out in time.
    #[error("not acknowledged")]
    NotAcknowledged,
    /// A WebAuthn answer that names no live ceremony of its purpose.
    #[error("invalid ceremony")]
    InvalidCeremony,
    /// A WebAuthn answer was refused.
    #[error("invalid webauthn")]
    InvalidWebAuthn,
    /// A WebAuthn credential with this credential id is registered already.
    #[error("credential exists")]
    CredentialExists,
    /// This instance's `public_url` names no domain, so it cannot be a WebAuthn relying
    /// party.
    #[error("webauthn unavailable")]
    WebAuthnUnavailable,
    /// Anything else; the detail is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, `snake_case`.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// For `two_factor_required`: when the grace period ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<UnixTime>,
}

/// The source of an internal error, carried to the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalErrorSource(pub String);

/// The `code` of a response, carried to the metrics and logging middleware.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let deadline = match &self {
            ApiError::TwoFactorRequired { deadline } => *deadline,
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                deadline,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyAttempts { retry_after } = &self {
            if let Ok(value) = HeaderValue::from_str(&retry_after.max(&1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if let ApiError::Internal(source) | ApiError::Unavailable(source) = self {
            response
                .extensions_mut()
                .insert(InternalErrorSource(source));
        }
        response.extensions_mut().insert(ErrorCode(code));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn internal_errors_hide_their_source() {
        let (status, code, message) = ApiError::Internal("disk on fire".into()).parts();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code, "internal_error");
        assert!(!message.contains("disk"));
    }

    #[test]
    fn throttling_sets_retry_after_of_at_least_one_second() {
        let response = ApiError::TooManyAttempts { retry_after: 0 }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
    }
}
