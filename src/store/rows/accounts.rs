//! Account rows: the account itself, and the admin area's summary with its two-factor state
//! and last sign-in.

use crate::domain::account::Account;
use crate::domain::email::Email;
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::store::AccountSummary;

#[derive(sqlx::FromRow)]
pub(in crate::store) struct AccountRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub email_verified_at: Option<i64>,
    pub suspended_at: Option<i64>,
}

/// The stored password hash as the domain has it: '' is an account without a password
/// (`migrations/*/0011_email_proof.sql`).
pub(in crate::store) fn password_hash(stored: String) -> Option<String> {
    (!stored.is_empty()).then_some(stored)
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Account {
            id: AccountId(row.id),
            email: Email::from_stored(row.email),
            name: row.name,
            password_hash: password_hash(row.password_hash),
            is_admin: row.is_admin,
            created_at: UnixTime(row.created_at),
            email_verified_at: row.email_verified_at.map(UnixTime),
            suspended_at: row.suspended_at.map(UnixTime),
        }
    }
}

/// An account with `has_two_factor`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct AccountSummaryRow {
    #[sqlx(flatten)]
    pub account: AccountRow,
    pub has_two_factor: bool,
    pub pending_until: Option<i64>,
    pub last_sign_in_at: Option<i64>,
}

impl From<AccountSummaryRow> for AccountSummary {
    fn from(row: AccountSummaryRow) -> Self {
        AccountSummary {
            account: row.account.into(),
            two_factor_enabled: row.has_two_factor,
            pending_until: row.pending_until.map(UnixTime),
            last_sign_in_at: row.last_sign_in_at.map(UnixTime),
        }
    }
}
