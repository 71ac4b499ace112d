//! The back-channel logout queue (OpenID Connect Back-Channel Logout 1.0,
//! `migrations/*/0015_oidc_refresh_tokens.sql`): the [`OidcLogouts`] aggregate.
//!
//! Invariants, as the notification outbox's (`store/outbox.rs`):
//! - A logout is queued by the statement that deletes the session (a trigger on
//!   `sessions`), in its transaction: whatever ends a session queues it, and a crash loses
//!   none.
//! - A delivery is handed to one worker at a time: on PostgreSQL the row stays locked
//!   (`FOR UPDATE SKIP LOCKED`) for the whole attempt; on SQLite one process owns the file
//!   and runs one worker.
//! - An attempt is recorded only once it has ended; a crash mid-attempt leaves the row due.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::notification::Attempt;
use crate::domain::time::UnixTime;

/// A logout to tell one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutDelivery {
    /// Its id.
    pub id: i64,
    /// The client.
    pub client_id: String,
    /// Its `backchannel_logout_uri`, when the session ended.
    pub uri: String,
    /// The person.
    pub account_id: AccountId,
    /// The session that ended.
    pub session_id: SessionId,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// Makes one attempt at a logout delivery.
#[async_trait]
pub trait LogoutCourier: Send + Sync {
    /// Sends `delivery` and says how it went.
    async fn attempt(&self, delivery: &LogoutDelivery) -> Attempt;
}

/// The back-channel logout queue.
#[async_trait]
pub trait OidcLogouts: Send + Sync {
    /// Takes the oldest due logout no other worker holds, hands it to `courier`, and
    /// records how the attempt ended. `None` when nothing is due.
    async fn deliver_next_logout(
        &self,
        now: UnixTime,
        courier: &dyn LogoutCourier,
    ) -> Result<Option<Attempt>, StoreError>;
    /// Where each client's logouts stand, by client id (clients never queued one are absent).
    async fn logout_queue(&self) -> Result<Vec<LogoutQueue>, StoreError>;
}

/// Where one client's back-channel logouts stand.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogoutQueue {
    /// The client.
    pub client_id: String,
    /// Not delivered yet, still tried.
    pub waiting: i64,
    /// Given up after every attempt failed.
    pub abandoned: i64,
    /// Delivered.
    pub delivered: i64,
    /// The latest failure of a logout not delivered.
    pub last_error: Option<String>,
}

/// The query of [`OidcLogouts::logout_queue`], the same on both backends.
pub(super) const LOGOUT_QUEUE: &str = "SELECT client_id,
         SUM(CASE WHEN delivered_at IS NULL AND abandoned_at IS NULL THEN 1 ELSE 0 END)
             AS waiting,
         SUM(CASE WHEN abandoned_at IS NOT NULL THEN 1 ELSE 0 END) AS abandoned,
         SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END) AS delivered,
         (SELECT f.last_error FROM oidc_logout_outbox f
          WHERE f.client_id = o.client_id AND f.delivered_at IS NULL
            AND f.last_error IS NOT NULL
          ORDER BY f.id DESC LIMIT 1) AS last_error
     FROM oidc_logout_outbox o GROUP BY client_id ORDER BY client_id";

/// The columns of a due logout.
pub(super) const LOGOUT_COLUMNS: &str = "id, client_id, uri, account_id, session_id, attempts";

/// The update recording an attempt (`$1`…`$5` or `?1`…`?5`: id, error, next attempt,
/// delivered at, abandoned at).
pub(super) fn logout_attempt_update(p: [&str; 5]) -> String {
    format!(
        "UPDATE oidc_logout_outbox SET attempts = attempts + 1, last_error = {}, \
         next_attempt_at = {}, delivered_at = {}, abandoned_at = {} WHERE id = {}",
        p[1], p[2], p[3], p[4], p[0]
    )
}

/// What an attempt records: error, next attempt, delivered at, abandoned at.
pub(super) fn recorded(
    attempt: &Attempt,
    now: UnixTime,
) -> (Option<String>, i64, Option<i64>, Option<i64>) {
    match attempt {
        Attempt::Delivered => (None, now.0, Some(now.0), None),
        Attempt::Failed { error, retry_at } => {
            let error = super::outbox::clip(error);
            match retry_at {
                Some(at) => (Some(error), at.0, None, None),
                None => (Some(error), now.0, None, Some(now.0)),
            }
        }
    }
}

/// A due logout row.
#[derive(sqlx::FromRow)]
pub(super) struct LogoutRow {
    pub id: i64,
    pub client_id: String,
    pub uri: String,
    pub account_id: String,
    pub session_id: String,
    pub attempts: i32,
}

impl From<LogoutRow> for LogoutDelivery {
    fn from(row: LogoutRow) -> Self {
        LogoutDelivery {
            id: row.id,
            client_id: row.client_id,
            uri: row.uri,
            account_id: AccountId(row.account_id),
            session_id: SessionId(row.session_id),
            attempts: u32::try_from(row.attempts).unwrap_or(0),
        }
    }
}
