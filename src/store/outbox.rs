//! The notification outbox, in domain words. Deliveries are inserted with the event they
//! report (see [`super::Store::record_event`]) and worked off here.
//!
//! Invariants:
//! - A delivery is handed to one worker at a time. On PostgreSQL the row stays locked
//!   (`FOR UPDATE SKIP LOCKED`) for the whole attempt, so a node that dies mid-attempt
//!   releases it at once and another node takes it; on SQLite one process owns the file
//!   and runs one worker per channel.
//! - An attempt is recorded only once it has ended; a crash mid-attempt leaves the row due.
//! - Rows are never deleted: delivered and abandoned ones stay for the admin area.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;
use crate::domain::event::Event;
use crate::domain::ids::AccountId;
use crate::domain::notification::{Attempt, Channel, Delivery};
use crate::domain::sealed::{KeyId, Sealed};
use crate::domain::time::UnixTime;

/// Makes one delivery attempt; called by the store while it holds the delivery.
#[async_trait]
pub trait Courier: Send + Sync {
    /// Sends `delivery` and says how it went.
    async fn attempt(&self, delivery: &Delivery) -> Attempt;
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not tried yet.
    Pending,
    /// Failed at least once; another attempt is scheduled.
    Retrying,
    /// The receiver took it.
    Delivered,
    /// Every attempt failed; given up.
    Abandoned,
}

impl DeliveryStatus {
    /// The status named `name`.
    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        match name {
            "pending" => Some(DeliveryStatus::Pending),
            "retrying" => Some(DeliveryStatus::Retrying),
            "delivered" => Some(DeliveryStatus::Delivered),
            "abandoned" => Some(DeliveryStatus::Abandoned),
            _ => None,
        }
    }
}

/// A delivery as the admin area shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its id.
    pub id: i64,
    /// The channel.
    pub channel: Channel,
    /// The event it reports.
    pub event_id: i64,
    /// That event's kind.
    pub event_kind: String,
    /// The account the event is about.
    pub account_id: Option<AccountId>,
    /// Where the e-mail goes (`None` for a webhook).
    pub recipient_email: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// The last failure (never a secret).
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: UnixTime,
    /// The next attempt, while one is due.
    pub next_attempt_at: Option<UnixTime>,
    /// When it was delivered.
    pub delivered_at: Option<UnixTime>,
    /// When it was given up.
    pub abandoned_at: Option<UnixTime>,
}

/// How many deliveries stand where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryCounts {
    /// Not tried yet.
    pub pending: u64,
    /// Failed, will be retried.
    pub retrying: u64,
    /// Done.
    pub delivered: u64,
    /// Given up.
    pub abandoned: u64,
}

/// The outbox half of storage.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Takes the oldest due delivery on `channel` that no other worker holds, hands it to
    /// `courier`, and records how the attempt ended. `None` when nothing is due.
    async fn deliver_next(
        &self,
        channel: Channel,
        now: UnixTime,
        courier: &dyn Courier,
    ) -> Result<Option<Attempt>, StoreError>;
    /// Deliveries, newest first, optionally only those in `status`, with ids below
    /// `before`.
    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// How many deliveries stand where.
    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError>;
    /// Schedules an abandoned delivery again, with a fresh set of attempts. `false` when
    /// `id` is unknown or not abandoned, or carried a one-time token (whose secrets are
    /// erased once given up: the person asks for a new message).
    async fn retry_delivery(&self, id: i64, now: UnixTime) -> Result<bool, StoreError>;
}

/// The SQL condition on outbox `o` that picks what a status means.
fn status_condition(status: Option<DeliveryStatus>) -> &'static str {
    match status {
        None => "TRUE",
        Some(DeliveryStatus::Pending) => {
            "o.delivered_at IS NULL AND o.abandoned_at IS NULL AND o.attempts = 0"
        }
        Some(DeliveryStatus::Retrying) => {
            "o.delivered_at IS NULL AND o.abandoned_at IS NULL AND o.attempts > 0"
        }
        Some(DeliveryStatus::Delivered) => "o.delivered_at IS NOT NULL",
        Some(DeliveryStatus::Abandoned) => "o.abandoned_at IS NOT NULL",
    }
}

/// Counts by status, as four columns named like [`DeliveryCounts`]' fields.
pub(super) const COUNTS_QUERY: &str = "SELECT
     COUNT(*) FILTER (WHERE delivered_at IS NULL AND abandoned_at IS NULL AND attempts = 0) AS pending,
     COUNT(*) FILTER (WHERE delivered_at IS NULL AND abandoned_at IS NULL AND attempts > 0) AS retrying,
     COUNT(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,
     COUNT(*) FILTER (WHERE abandoned_at IS NOT NULL) AS abandoned
     FROM notification_outbox";

/// The row of [`COUNTS_QUERY`].
#[derive(sqlx::FromRow)]
pub(super) struct CountsRow {
    pub pending: i64,
    pub retrying: i64,
    pub delivered: i64,
    pub abandoned: i64,
}

impl From<CountsRow> for DeliveryCounts {
    fn from(row: CountsRow) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        DeliveryCounts {
            pending: count(row.pending),
            retrying: count(row.retrying),
            delivered: count(row.delivered),
            abandoned: count(row.abandoned),
        }
    }
}

/// A due delivery joined with its event and addresses.
#[derive(sqlx::FromRow)]
pub(super) struct DueRow {
    pub id: i64,
    pub channel: String,
    pub attempts: i64,
    pub event_id: i64,
    pub account_id: Option<String>,
    pub actor_id: Option<String>,
    pub kind: String,
    pub at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub account_email: Option<String>,
    pub recipient_email: Option<String>,
    pub message_key: Option<String>,
    pub message: Option<Vec<u8>>,
}

/// The columns [`DueRow`] reads; the query names the outbox `o`, the event `e`, the
/// account `a` and the recipient `r`.
pub(super) const DUE_COLUMNS: &str = "o.id, o.channel, o.attempts, e.id AS event_id, \
     e.account_id, e.actor_id, e.kind, e.at, e.ip, e.user_agent, e.details, \
     a.email AS account_email, COALESCE(o.to_address, r.email) AS recipient_email, \
     o.message_key, o.message";

/// The joins [`DUE_COLUMNS`] need.
pub(super) const DUE_JOINS: &str = "FROM notification_outbox o \
     JOIN security_events e ON e.id = o.event_id \
     LEFT JOIN accounts a ON a.id = e.account_id \
     LEFT JOIN accounts r ON r.id = o.recipient_id";

impl DueRow {
    pub(super) fn into_delivery(self) -> Option<Delivery> {
        Some(Delivery {
            id: self.id,
            channel: Channel::parse(&self.channel)?,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            event: Event {
                id: self.event_id,
                account_id: self.account_id.map(AccountId),
                actor_id: self.actor_id.map(AccountId),
                kind: self.kind,
                at: UnixTime(self.at),
                ip: self.ip,
                user_agent: self.user_agent,
                details: serde_json::from_str(&self.details).unwrap_or_default(),
            },
            account_email: self.account_email,
            recipient_email: self.recipient_email,
            message: match (self.message_key, self.message) {
                (Some(key_id), Some(blob)) => Some(Sealed {
                    key_id: KeyId(key_id),
                    blob,
                }),
                _ => None,
            },
        })
    }
}

/// A delivery as listed for the admin area.
#[derive(sqlx::FromRow)]
pub(super) struct RecordRow {
    pub id: i64,
    pub channel: String,
    pub event_id: i64,
    pub kind: String,
    pub account_id: Option<String>,
    pub recipient_email: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub abandoned_at: Option<i64>,
}

/// The query behind [`Outbox::deliveries`], with the status condition and the
/// backend's placeholders (`before`, then `limit`) filled in.
pub(super) fn records_query(status: Option<DeliveryStatus>, before: &str, limit: &str) -> String {
    format!(
        "SELECT o.id, o.channel, o.event_id, e.kind, e.account_id,
                COALESCE(o.to_address, r.email) AS recipient_email,
                o.attempts, o.last_error, o.created_at, o.next_attempt_at, o.delivered_at,
                o.abandoned_at
         FROM notification_outbox o
         JOIN security_events e ON e.id = o.event_id
         LEFT JOIN accounts r ON r.id = o.recipient_id
         WHERE o.id < {before} AND {}
         ORDER BY o.id DESC LIMIT {limit}",
        status_condition(status),
    )
}

impl RecordRow {
    pub(super) fn into_record(self) -> Option<DeliveryRecord> {
        let attempts = u32::try_from(self.attempts).unwrap_or(u32::MAX);
        let status = match (self.delivered_at, self.abandoned_at) {
            (Some(_), _) => DeliveryStatus::Delivered,
            (None, Some(_)) => DeliveryStatus::Abandoned,
            (None, None) if attempts == 0 => DeliveryStatus::Pending,
            (None, None) => DeliveryStatus::Retrying,
        };
        let open = matches!(status, DeliveryStatus::Pending | DeliveryStatus::Retrying);
        Some(DeliveryRecord {
            id: self.id,
            channel: Channel::parse(&self.channel)?,
            event_id: self.event_id,
            event_kind: self.kind,
            account_id: self.account_id.map(AccountId),
            recipient_email: self.recipient_email,
            attempts,
            status,
            last_error: self.last_error,
            created_at: UnixTime(self.created_at),
            next_attempt_at: open.then_some(UnixTime(self.next_attempt_at)),
            delivered_at: self.delivered_at.map(UnixTime),
            abandoned_at: self.abandoned_at.map(UnixTime),
        })
    }
}

/// What records an attempt's end: the attempt counted, and a message's sealed secrets
/// erased once it is delivered or given up (its key id stays, marking a message that
/// carried them, which is never retried: the person asks for a new one). Parameters: id,
/// last error, next attempt, delivered at, abandoned at, in the backend's placeholders.
pub(super) fn attempt_update(p: [&str; 5]) -> String {
    format!(
        "UPDATE notification_outbox
         SET attempts = attempts + 1, last_error = {error}, next_attempt_at = {next},
             delivered_at = {delivered}, abandoned_at = {abandoned},
             message = CASE WHEN {delivered} IS NULL AND {abandoned} IS NULL
                            THEN message END
         WHERE id = {id} AND delivered_at IS NULL AND abandoned_at IS NULL",
        id = p[0],
        error = p[1],
        next = p[2],
        delivered = p[3],
        abandoned = p[4],
    )
}

/// The longest failure text kept (receivers can answer with whole pages).
pub(super) const MAX_ERROR_CHARS: usize = 500;

/// `error`, cut to [`MAX_ERROR_CHARS`].
pub(super) fn clip(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}
