//! Two-factor rows: the authenticator (enabled secret, last step, pending enrolment) and the
//! lost-device reset requests.

use crate::domain::ids::AccountId;
use crate::domain::sealed::{KeyId, Sealed};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::{PendingEnrollment, TwoFactorRecord};
use crate::store::{ResetRequest, Vouch};

#[derive(sqlx::FromRow)]
pub(in crate::store) struct TwoFactorRow {
    pub key_id: Option<String>,
    pub secret: Option<Vec<u8>>,
    pub enabled_at: Option<i64>,
    pub last_step: i64,
    pub pending_key_id: Option<String>,
    pub pending_secret: Option<Vec<u8>>,
    pub pending_expires_at: Option<i64>,
    /// The account's WebAuthn credentials.
    pub webauthn_keys: i64,
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
            webauthn_keys: u32::try_from(row.webauthn_keys).unwrap_or(0),
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
    pub email_confirmed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct VouchRow {
    pub request_id: String,
    pub account_id: String,
    pub email: String,
    pub workspace_id: String,
    pub at: i64,
}

/// The requests `rows`, each with its vouches among `vouches`, in the order of each.
pub(in crate::store) fn with_vouches(
    rows: Vec<ResetRequestRow>,
    vouches: Vec<VouchRow>,
) -> Vec<ResetRequest> {
    let mut requests: Vec<ResetRequest> = rows
        .into_iter()
        .map(|row| ResetRequest {
            id: row.id,
            account_id: AccountId(row.account_id),
            email: row.email,
            message: row.message,
            created_at: UnixTime(row.created_at),
            email_confirmed_at: row.email_confirmed_at.map(UnixTime),
            vouches: Vec::new(),
        })
        .collect();
    for vouch in vouches {
        if let Some(request) = requests.iter_mut().find(|r| r.id == vouch.request_id) {
            request.vouches.push(Vouch {
                account_id: AccountId(vouch.account_id),
                email: vouch.email,
                workspace_id: vouch.workspace_id,
                at: UnixTime(vouch.at),
            });
        }
    }
    requests
}
