//! The status map: the status, stable `code` and message each [`ApiError`] variant answers
//! with. The match is exhaustive, with no `_` arm, so a new variant forces a decision.

use axum::http::StatusCode;

use super::ApiError;
use crate::domain::workspace::RequiredFactor;

impl ApiError {
    /// Status, code and message.
    pub fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::MalformedJson(detail) => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("The request body is not valid JSON: {detail}"),
            ),
            ApiError::InvalidBody(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("The request body has the wrong shape: {detail}"),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON with `Content-Type: application/json`.".to_owned(),
            ),
            ApiError::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "The request body is larger than 64 KiB.".to_owned(),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "There is nothing here.".to_owned(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This path does not accept that method.".to_owned(),
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Sign in first.".to_owned(),
            ),
            ApiError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Incorrect e-mail address or password.".to_owned(),
            ),
            ApiError::AccountSuspended => (
                StatusCode::FORBIDDEN,
                "account_suspended",
                "This account is suspended. Contact an administrator.".to_owned(),
            ),
            ApiError::TooManyAttempts { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("Too many failed attempts. Try again in {retry_after} seconds."),
            ),
            ApiError::EmailTaken => (
                StatusCode::CONFLICT,
                "email_taken",
                "An account with this e-mail address already exists.".to_owned(),
            ),
            ApiError::InvalidEmail => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_email",
                "Enter a valid e-mail address, like name@example.com.".to_owned(),
            ),
            ApiError::WeakPassword(reason) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                reason.to_string(),
            ),
            ApiError::SignupClosed => (
                StatusCode::FORBIDDEN,
                "signup_closed",
                "Sign-up is closed on this server; ask an administrator for an invitation."
                    .to_owned(),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "You are not allowed to do this.".to_owned(),
            ),
            ApiError::TokenNotAllowed => (
                StatusCode::FORBIDDEN,
                "token_not_allowed",
                "An API token cannot change security settings (two-factor, security keys, \
                 password, e-mail, tokens, sessions). Sign in to do this."
                    .to_owned(),
            ),
            ApiError::NotReady => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "The database cannot be reached.".to_owned(),
            ),
            ApiError::InvalidCode => (
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                "That code did not match. Check your authenticator app and try again.".to_owned(),
            ),
            ApiError::WrongEnrollmentCode => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_code",
                "That code did not match. Two-factor is not enabled yet; try the current code."
                    .to_owned(),
            ),
            ApiError::CodeReused => (
                StatusCode::UNAUTHORIZED,
                "code_reused",
                "That code was already used. Wait for your authenticator to show a new one."
                    .to_owned(),
            ),
            ApiError::InvalidRecoveryCode => (
                StatusCode::UNAUTHORIZED,
                "invalid_recovery_code",
                "That recovery code is not valid or was already used.".to_owned(),
            ),
            ApiError::InvalidEmailLink => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_token",
                "This link is not valid: it was already used, a newer one was sent, or it has \
                 expired. Ask for a new e-mail."
                    .to_owned(),
            ),
            ApiError::InvalidEmailCode => (
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                "That code did not match, was already used, or has expired. Check the latest \
                 e-mail, or ask for a new one."
                    .to_owned(),
            ),
            ApiError::EmailUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "email_unavailable",
                "This server cannot send e-mail, so this is not available. Ask an \
                 administrator."
                    .to_owned(),
            ),
            ApiError::InvalidChallenge => (
                StatusCode::UNAUTHORIZED,
                "invalid_challenge",
                "This sign-in has expired or was cancelled. Enter your password again.".to_owned(),
            ),
            ApiError::NoPendingEnrollment => (
                StatusCode::CONFLICT,
                "no_pending_enrollment",
                "No pending enrollment. Click \"Enable\" to start over.".to_owned(),
            ),
            ApiError::NotEnabled => (
                StatusCode::CONFLICT,
                "not_enabled",
                "Two-factor authentication is not enabled on this account.".to_owned(),
            ),
            ApiError::ConfirmationFailed(message) => (
                StatusCode::FORBIDDEN,
                "confirmation_failed",
                message.clone(),
            ),
            ApiError::TwoFactorRequired { .. } => (
                StatusCode::FORBIDDEN,
                "two_factor_required",
                "Two-factor authentication is required. Set up an authenticator app to continue."
                    .to_owned(),
            ),
            ApiError::InvalidAuthorizationRequest => (
                StatusCode::BAD_REQUEST,
                "invalid_authorization_request",
                "The application sent you here with an unknown client_id, a redirect_uri or \
                 post_logout_redirect_uri it did not register, or an id_token_hint that is not \
                 ours, so nothing was sent back to it. Tell the application's administrator."
                    .to_owned(),
            ),
            ApiError::ClientExists => (
                StatusCode::CONFLICT,
                "client_exists",
                "A client with this client_id exists. Choose another id.".to_owned(),
            ),
            ApiError::InvalidClient(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_client_metadata",
                format!("The client cannot be registered: {detail}"),
            ),
            ApiError::ConfiguredClient => (
                StatusCode::CONFLICT,
                "configured_client",
                "This client comes from the configuration file ([[oidc.clients]]); remove it \
                 there and restart."
                    .to_owned(),
            ),
            ApiError::LastOwner => (
                StatusCode::CONFLICT,
                "last_owner",
                "A workspace needs at least one owner. Make someone else an owner first."
                    .to_owned(),
            ),
            ApiError::EnableTwoFactorFirst(RequiredFactor::Any) => (
                StatusCode::CONFLICT,
                "enable_two_factor_first",
                "Enable two-factor authentication on your own account before requiring it of others."
                    .to_owned(),
            ),
            ApiError::EnableTwoFactorFirst(RequiredFactor::PhishingResistant) => (
                StatusCode::CONFLICT,
                "enable_two_factor_first",
                "Add a security key or passkey to your own account before requiring one of others."
                    .to_owned(),
            ),
            ApiError::InvalidGracePeriod => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_grace_period",
                "The grace period must be 0, 3, 7, 14 or 30 days.".to_owned(),
            ),
            ApiError::ReasonRequired => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "reason_required",
                "Give a reason (up to 1000 characters); it goes into the audit trail.".to_owned(),
            ),
            ApiError::OwnAccount => (
                StatusCode::CONFLICT,
                "own_account",
                "You cannot suspend or delete your own account here; another administrator \
                 can, or delete it yourself from your account's security page."
                    .to_owned(),
            ),
            ApiError::AlreadySuspended => (
                StatusCode::CONFLICT,
                "already_suspended",
                "This account is suspended already.".to_owned(),
            ),
            ApiError::NotSuspended => (
                StatusCode::CONFLICT,
                "not_suspended",
                "This account is not suspended.".to_owned(),
            ),
            ApiError::NotAbandoned => (
                StatusCode::CONFLICT,
                "not_abandoned",
                "Only a delivery that was given up can be retried; this one is delivered or still being tried.".to_owned(),
            ),
            ApiError::ResetNotConfirmed(missing) => (
                StatusCode::CONFLICT,
                "reset_not_confirmed",
                format!(
                    "This account's open reset request still lacks {missing}. Wait for it, or \
                     reset with force (the audit trail records that you did)."
                ),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The database is not answering. Nothing was decided; try again in a moment."
                    .to_owned(),
            ),
            ApiError::NotAcknowledged => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not_acknowledged",
                "The change is saved, but not every server has confirmed it yet; it takes \
                 effect everywhere within seconds. Repeating the request is safe."
                    .to_owned(),
            ),
            ApiError::InvalidCeremony => (
                StatusCode::CONFLICT,
                "invalid_ceremony",
                "This security key request was already answered or has expired. Start again."
                    .to_owned(),
            ),
            ApiError::InvalidWebAuthn => (
                StatusCode::UNAUTHORIZED,
                "invalid_webauthn",
                "The security key or passkey was not accepted. Use one registered to your \
                 account, on this site."
                    .to_owned(),
            ),
            ApiError::CredentialExists => (
                StatusCode::CONFLICT,
                "credential_exists",
                "This security key or passkey is registered already.".to_owned(),
            ),
            ApiError::WebAuthnUnavailable => (
                StatusCode::CONFLICT,
                "webauthn_unavailable",
                "Security keys and passkeys need this server's public_url to name it by a \
                 domain name (not an IP address). Ask an administrator."
                    .to_owned(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error".to_owned(),
            ),
        }
    }
}
