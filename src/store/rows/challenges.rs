//! Challenge rows: a sign-in challenge, and the one-query context a second factor is judged
//! with (challenge, account, authenticator, failure counter).

use super::{AccountRow, CounterRow, TwoFactorRow};
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::store::{Challenge, ChallengeContext};

#[derive(sqlx::FromRow)]
pub(in crate::store) struct ChallengeRow {
    pub account_id: String,
    pub expires_at: i64,
    pub failures: i64,
}

impl From<ChallengeRow> for Challenge {
    fn from(row: ChallengeRow) -> Self {
        Challenge {
            account_id: AccountId(row.account_id),
            expires_at: UnixTime(row.expires_at),
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
        }
    }
}

/// A challenge with its account, authenticator and failure counter (`k_` columns).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ChallengeContextRow {
    #[sqlx(flatten)]
    pub challenge: ChallengeRow,
    #[sqlx(flatten)]
    pub account: AccountRow,
    #[sqlx(flatten)]
    pub two_factor: TwoFactorRow,
    pub k_failures: Option<i64>,
    pub k_window_start: Option<i64>,
    pub k_locked_until: Option<i64>,
    pub recovery_codes_remaining: i64,
}

impl From<ChallengeContextRow> for ChallengeContext {
    fn from(row: ChallengeContextRow) -> Self {
        let counter = CounterRow::joined(row.k_failures, row.k_window_start, row.k_locked_until);
        ChallengeContext {
            challenge: row.challenge.into(),
            account: row.account.into(),
            record: row.two_factor.into(),
            counter,
            recovery_codes_remaining: u32::try_from(row.recovery_codes_remaining).unwrap_or(0),
        }
    }
}
