//! Each lower layer's error as an [`ApiError`], matched exhaustively: the store, the
//! sign-in flow, and the account, workspace and admin operations. A refusal keeps its
//! meaning; a failure of the database is `unavailable`, anything else internal.

use super::ApiError;
use crate::domain::account::NewAccountError;
use crate::domain::password::HashError;
use crate::keyring::SealError;
use crate::signin::{self, Denial};
use crate::store::{Constraint, StoreError};
use crate::{accounts, admin, oidc, workspaces};

/// A `required_factor` that is neither `any` nor `phishing_resistant`.
fn invalid_required_factor() -> ApiError {
    ApiError::InvalidBody("required_factor: one of any, phishing_resistant".to_owned())
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(Constraint::AccountEmail) => ApiError::EmailTaken,
            StoreError::Conflict(Constraint::OidcClientId) => ApiError::ClientExists,
            StoreError::Conflict(Constraint::WebAuthnCredential) => ApiError::CredentialExists,
            StoreError::Backend(_) | StoreError::Embedded(_) | StoreError::Task(_) => {
                ApiError::Unavailable(error.to_string())
            }
            StoreError::Unacknowledged => ApiError::NotAcknowledged,
            StoreError::Migrate(_) | StoreError::Schema(_) | StoreError::UnsupportedUrl => {
                ApiError::Internal(error.to_string())
            }
        }
    }
}

impl From<signin::Error> for ApiError {
    fn from(error: signin::Error) -> Self {
        match error {
            signin::Error::Denied(denial) => match denial {
                Denial::InvalidCredentials => ApiError::InvalidCredentials,
                Denial::TooManyAttempts { retry_after } => {
                    ApiError::TooManyAttempts { retry_after }
                }
                Denial::InvalidChallenge => ApiError::InvalidChallenge,
                Denial::InvalidCode => ApiError::InvalidCode,
                Denial::CodeReused => ApiError::CodeReused,
                Denial::InvalidRecoveryCode => ApiError::InvalidRecoveryCode,
                Denial::NotEnabled => ApiError::NotEnabled,
                Denial::InvalidEmailLink => ApiError::InvalidEmailLink,
                Denial::InvalidEmailCode => ApiError::InvalidEmailCode,
                Denial::AccountSuspended => ApiError::AccountSuspended,
                Denial::InvalidCeremony => ApiError::InvalidCeremony,
                Denial::InvalidWebAuthn => ApiError::InvalidWebAuthn,
            },
            signin::Error::ProofRefused(message) => ApiError::ConfirmationFailed(message),
            signin::Error::EmailUnavailable => ApiError::EmailUnavailable,
            signin::Error::WebAuthnUnavailable => ApiError::WebAuthnUnavailable,
            signin::Error::InvalidEmail => ApiError::InvalidEmail,
            signin::Error::Store(error) => error.into(),
            signin::Error::Seal(error) => error.into(),
            signin::Error::Invariant(what) => ApiError::Internal(what.to_owned()),
        }
    }
}

impl From<SealError> for ApiError {
    fn from(error: SealError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl From<NewAccountError> for ApiError {
    fn from(error: NewAccountError) -> Self {
        match error {
            NewAccountError::InvalidEmail => ApiError::InvalidEmail,
            NewAccountError::InvalidName => {
                ApiError::InvalidBody("name: at most 100 characters, no control characters".into())
            }
            NewAccountError::WeakPassword(reason) => ApiError::WeakPassword(reason),
        }
    }
}

impl From<accounts::Error> for ApiError {
    fn from(error: accounts::Error) -> Self {
        match error {
            accounts::Error::SignupClosed => ApiError::SignupClosed,
            accounts::Error::EmailTaken => ApiError::EmailTaken,
            accounts::Error::SameEmail => {
                ApiError::InvalidBody("email: this is the account's address already".to_owned())
            }
            accounts::Error::InvalidAccount(error) => error.into(),
            accounts::Error::NoSuchSession | accounts::Error::NoSuchToken => ApiError::NotFound,
            accounts::Error::InvalidTokenRequest(error) => ApiError::InvalidBody(error.to_string()),
            accounts::Error::NoPendingEnrollment => ApiError::NoPendingEnrollment,
            accounts::Error::WrongEnrollmentCode => ApiError::WrongEnrollmentCode,
            accounts::Error::NotEnabled => ApiError::NotEnabled,
            accounts::Error::InvalidCredentialName => ApiError::InvalidBody(format!(
                "name: 1 to {} characters, no control characters",
                crate::domain::webauthn::MAX_NAME_CHARS
            )),
            accounts::Error::NoSuchCredential => ApiError::NotFound,
            accounts::Error::LastOwner => ApiError::LastOwner,
            accounts::Error::SignIn(error) => error.into(),
            accounts::Error::Hash(error) => error.into(),
            accounts::Error::Store(error) => error.into(),
        }
    }
}

impl From<workspaces::Error> for ApiError {
    fn from(error: workspaces::Error) -> Self {
        match error {
            workspaces::Error::NotFound => ApiError::NotFound,
            workspaces::Error::Forbidden => ApiError::Forbidden,
            workspaces::Error::TwoFactorRequired { deadline } => {
                ApiError::TwoFactorRequired { deadline }
            }
            workspaces::Error::InvalidName => {
                ApiError::InvalidBody("name: 1 to 100 characters".to_owned())
            }
            workspaces::Error::InvalidEmail => ApiError::InvalidEmail,
            workspaces::Error::InvalidRole => {
                ApiError::InvalidBody("role: one of owner, admin, member".to_owned())
            }
            workspaces::Error::InvalidEnforcement => {
                ApiError::InvalidBody("enforcement: one of off, all, admins".to_owned())
            }
            workspaces::Error::InvalidGracePeriod => ApiError::InvalidGracePeriod,
            workspaces::Error::InvalidRequiredFactor => invalid_required_factor(),
            workspaces::Error::EnableTwoFactorFirst(factor) => {
                ApiError::EnableTwoFactorFirst(factor)
            }
            workspaces::Error::LastOwner => ApiError::LastOwner,
            workspaces::Error::Store(error) => error.into(),
        }
    }
}

impl From<admin::Error> for ApiError {
    fn from(error: admin::Error) -> Self {
        match error {
            admin::Error::InvalidScope => {
                ApiError::InvalidBody("require_two_factor: one of off, everyone, admins".to_owned())
            }
            admin::Error::InvalidGracePeriod => ApiError::InvalidGracePeriod,
            admin::Error::InvalidRequiredFactor => invalid_required_factor(),
            admin::Error::EnableTwoFactorFirst(factor) => ApiError::EnableTwoFactorFirst(factor),
            admin::Error::ReasonRequired => ApiError::ReasonRequired,
            admin::Error::OwnAccount => ApiError::OwnAccount,
            admin::Error::AlreadySuspended => ApiError::AlreadySuspended,
            admin::Error::NotSuspended => ApiError::NotSuspended,
            admin::Error::LastOwner => ApiError::LastOwner,
            admin::Error::NotFound => ApiError::NotFound,
            admin::Error::InvalidStatus => ApiError::InvalidBody(
                "status: one of pending, retrying, delivered, abandoned".to_owned(),
            ),
            admin::Error::NotAbandoned => ApiError::NotAbandoned,
            admin::Error::ResetNotConfirmed { missing } => {
                ApiError::ResetNotConfirmed(admin::names(&missing))
            }
            admin::Error::Store(error) => error.into(),
        }
    }
}

impl From<oidc::Error> for ApiError {
    fn from(error: oidc::Error) -> Self {
        match error {
            oidc::Error::InvalidClientMetadata(detail) => ApiError::InvalidClient(detail),
            oidc::Error::NotFound => ApiError::NotFound,
            oidc::Error::ConfiguredClient => ApiError::ConfiguredClient,
            oidc::Error::Store(error) => error.into(),
            // The OAuth endpoints answer these in their own shape (`http/oidc/`); reaching
            // here, they are a bug.
            oidc::Error::UntrustedRedirect => ApiError::InvalidAuthorizationRequest,
            oidc::Error::InvalidRequest(_)
            | oidc::Error::InvalidClient
            | oidc::Error::InvalidGrant(_)
            | oidc::Error::UnsupportedGrantType
            | oidc::Error::InvalidScope
            | oidc::Error::InvalidToken
            | oidc::Error::Keys(_) => ApiError::Internal(error.to_string()),
        }
    }
}
