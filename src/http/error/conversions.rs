//! How the errors of the layers below (storage, the sign-in flow, the keyring, password
//! hashing) become an [`ApiError`]. A failing database is `unavailable`, never a refusal.

use super::ApiError;
use crate::domain::password::HashError;
use crate::keyring::SealError;
use crate::signin::{self, Denial};
use crate::store::{Constraint, StoreError};

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(Constraint::AccountEmail) => ApiError::EmailTaken,
            StoreError::Backend(_) | StoreError::Embedded(_) | StoreError::Task(_) => {
                ApiError::Unavailable(error.to_string())
            }
            StoreError::Unacknowledged => ApiError::NotAcknowledged,
            StoreError::Migrate(_) | StoreError::UnsupportedUrl => {
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
            },
            signin::Error::ProofRefused(message) => ApiError::ConfirmationFailed(message),
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
