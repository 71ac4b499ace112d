//! Row shapes shared by both backends (both decode `i64`, `bool`, `TEXT` and blobs alike),
//! and their conversions into domain types: one file per aggregate, named like the backends'
//! files.

mod accounts;
mod challenges;
mod events;
mod secrets;
mod sessions;
mod throttle;
mod two_factor;
mod workspaces;

pub(super) use accounts::{AccountRow, AccountSummaryRow};
pub(super) use challenges::{ChallengeContextRow, ChallengeRow};
pub(super) use events::EventRow;
pub(super) use secrets::SealedRow;
pub(super) use sessions::{
    MembershipRow, OwnerRow, SessionAccountRow, SessionRow, WorkspaceSessionRow,
};
pub(super) use throttle::CounterRow;
pub(super) use two_factor::{with_vouches, ResetRequestRow, TwoFactorRow, VouchRow};
pub(super) use workspaces::{InvitationRow, MemberRow, PolicyRow, WorkspaceRoleRow, WorkspaceRow};

use super::{Constraint, StoreError};

/// Maps a unique violation (from either driver) to the named constraint the caller expected.
pub(super) fn conflict_as(error: impl Into<StoreError>, constraint: Constraint) -> StoreError {
    match error.into() {
        StoreError::Backend(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            StoreError::Conflict(constraint)
        }
        StoreError::Embedded(rusqlite::Error::SqliteFailure(failure, _))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(constraint)
        }
        error => error,
    }
}
