//! Two-factor rows: the authenticator (enabled secret, last step, pending enrolment) and the
//! lost-device reset requests.

use crate::domain::ids::AccountId;
use crate::domain::sealed::{KeyId, Sealed};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::{PendingEnrollment, TwoFactorRecord};
use crate::store::ResetRequest;

#[derive(sqlx::FromRow)]
pub(in crate::store) struct TwoFactorRow {
    pub key_id: Option<String>,
    pub secret: Option<Vec<u8>>,
    pub enabled_at: Option<i64>,
    pub last_step: i64,
    pub pending_key_id: Option<String>,
    pub pending_secret: Option<Vec<u8>>,
    pub pending_expires_at: Option<i64>,
}

fn sealed(key_id: Option<String>, blob: Option<Vec<u8>>) -> Option<Sealed> {
    match (key_id, blob) {
        (Some(key_id), Some(blob)) => Some(Sealed {
            key_id: KeyId(key_id),
            blob,
        }),
        _ => None,
    }
}

impl From<TwoFactorRow> for TwoFactorRecord {
    fn from(row: TwoFactorRow) -> Self {
        let pending = match (
            sealed(row.pending_key_id, row.pending_secret),
            row.pending_expires_at,
        ) {
            (Some(secret), Some(expires_at)) => Some(PendingEnrollment {
                secret,
                expires_at: UnixTime(expires_at),
            }),
            _ => None,
        };
        TwoFactorRecord {
            secret: sealed(row.key_id, row.secret),
            enabled_at: row.enabled_at.map(UnixTime),
            last_step: (row.last_step >= 0).then_some(row.last_step),
            pending,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct ResetRequestRow {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub message: String,
    pub created_at: i64,
}

impl From<ResetRequestRow> for ResetRequest {
    fn from(row: ResetRequestRow) -> Self {
        ResetRequest {
            id: row.id,
            account_id: AccountId(row.account_id),
            email: row.email,
            message: row.message,
            created_at: UnixTime(row.created_at),
        }
    }
}
