//! Notifications about sensitive events: who is told, over which channel, and when a failed
//! delivery is tried again. What the message says and how a webhook is signed is
//! `message.rs`.
//!
//! Invariants:
//! - A notification is derived from a recorded [`Event`] only; it never carries a secret,
//!   code or token (events never hold one).
//! - Retries back off exponentially and stop after [`MAX_ATTEMPTS`].

mod message;

use std::time::Duration;

use crate::domain::event::{Event, EventKind};
use crate::domain::time::UnixTime;

pub use message::{email_message, signature, webhook_body, Message};

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// An e-mail over SMTP to each recipient.
    Email,
    /// One signed HTTP POST per event.
    Webhook,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Webhook];

    /// The stable name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    /// The channel named `name`.
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// The channels an instance has configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Channels {
    /// SMTP is configured.
    pub email: bool,
    /// A webhook is configured.
    pub webhook: bool,
}

impl Channels {
    /// The configured channels, in a fixed order.
    pub fn enabled(self) -> impl Iterator<Item = Channel> {
        Channel::ALL.into_iter().filter(move |c| match c {
            Channel::Email => self.email,
            Channel::Webhook => self.webhook,
        })
    }
}

/// Who is told about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The account the event is about.
    Owner,
    /// Every instance administrator.
    InstanceAdmins,
}

/// Who must hear of `kind`, or `None` for events that are only recorded.
pub fn audience(kind: EventKind) -> Option<Audience> {
    match kind {
        EventKind::CodeReused
        | EventKind::LockedOut
        | EventKind::TwoFactorDisabled
        | EventKind::TwoFactorReset
        | EventKind::RecoveryCodeUsed
        | EventKind::RecoveryCodesRegenerated
        | EventKind::EnrollmentConfirmed
        | EventKind::PasswordChanged
        | EventKind::PasswordReset
        | EventKind::ApiTokenCreated => Some(Audience::Owner),
        EventKind::AccountSuspended | EventKind::AccountUnsuspended => Some(Audience::Owner),
        EventKind::ResetRequested
        | EventKind::ResetRequestConfirmed
        | EventKind::ResetRequestVouched => Some(Audience::InstanceAdmins),
        // A code sign-in notifies nobody, so PostgreSQL completes it in one batched
        // statement with no outbox row (`store/postgres/batch.rs`).
        EventKind::SignInSucceeded
        | EventKind::SignInFailed
        | EventKind::ChallengeFailed
        | EventKind::EnrollmentStarted
        | EventKind::SessionRevoked
        | EventKind::EnforcementChanged
        | EventKind::InstancePolicyChanged
        | EventKind::MemberJoined
        | EventKind::MemberRoleChanged
        | EventKind::MemberRemoved
        | EventKind::InvitationCreated
        | EventKind::EmailVerified
        | EventKind::EmailWithheld => None,
        // The message of an `email_sent` event is the one carrying the link or code, queued
        // with the token itself (`store/email_tokens.rs`), never a notification of its own.
        EventKind::EmailSent => None,
        // Told to the address the account left, which no recipient row names: queued by the
        // change itself (`store/*/email_tokens.rs`).
        EventKind::EmailChanged => None,
        // The account's row is gone with the event's commit, and with it the address a
        // delivery to the owner reads (`recipient_id` cascades): the deletion queues its one
        // e-mail itself, to the former address (`notification_outbox.to_address`).
        EventKind::AccountDeleted => None,
        // Signing in to an application is an ordinary sign-in (recorded, told to nobody);
        // client changes are an admin's own acts. A reused code is an attack on the client,
        // not on the person, and the client learns of it from `invalid_grant`.
        EventKind::OidcAuthorized
        | EventKind::OidcAuthorizationDenied
        | EventKind::OidcConsentGranted
        | EventKind::OidcConsentRevoked
        | EventKind::OidcTokensIssued
        | EventKind::OidcCodeReused
        | EventKind::OidcRefreshReused
        | EventKind::OidcClientCreated
        | EventKind::OidcClientRemoved => None,
        // The owner is told when a token is created; its use and revocation are recorded.
        EventKind::ApiTokenFirstUsed | EventKind::ApiTokenRevoked => None,
        // A new or removed key changes how the account signs in; a counter that went
        // backwards may be a cloned key. A key's ordinary use is recorded like a sign-in.
        EventKind::WebAuthnAdded
        | EventKind::WebAuthnRemoved
        | EventKind::WebAuthnCounterAnomaly => Some(Audience::Owner),
        EventKind::WebAuthnUsed => None,
    }
}

/// Attempts before a delivery is abandoned (about 2 hours of retrying).
pub const MAX_ATTEMPTS: u32 = 8;

/// The wait after the first failure; it doubles with each further failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(30);

/// The longest wait between two attempts.
pub const LONGEST_RETRY: Duration = Duration::from_secs(3600);

/// When to try again after `attempts` failed attempts (counting the one that just
/// failed), or `None` when the delivery should be abandoned.
pub fn next_attempt(attempts: u32, now: UnixTime) -> Option<UnixTime> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = attempts.saturating_sub(1).min(16);
    let wait = FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY);
    Some(now.plus(wait))
}

/// One pending delivery, as the worker receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The delivery's id (also sent to receivers, so they can drop duplicates).
    pub id: i64,
    /// Over which channel.
    pub channel: Channel,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The event it reports.
    pub event: Event,
    /// The e-mail address of the account the event is about.
    pub account_email: Option<String>,
    /// Where an e-mail goes (`None` for a webhook).
    pub recipient_email: Option<String>,
    /// A one-time token's message: its link and code, sealed (`email_token::MessageSecrets`).
    pub message: Option<crate::domain::sealed::Sealed>,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver took it.
    Delivered,
    /// It failed; `retry_at` is `None` when no attempt is left.
    Failed {
        /// Why, for the admin area (never a secret).
        error: String,
        /// When to try again.
        retry_at: Option<UnixTime>,
    },
}

impl Attempt {
    /// The outcome of a failed attempt of `delivery` at `now`.
    pub fn failed(delivery: &Delivery, error: String, now: UnixTime) -> Attempt {
        Attempt::Failed {
            error,
            retry_at: next_attempt(delivery.attempts.saturating_add(1), now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sensitive_events_notify_and_reset_requests_go_to_admins() {
        assert_eq!(audience(EventKind::CodeReused), Some(Audience::Owner));
        assert_eq!(audience(EventKind::TwoFactorReset), Some(Audience::Owner));
        assert_eq!(
            audience(EventKind::ResetRequested),
            Some(Audience::InstanceAdmins)
        );
        assert_eq!(audience(EventKind::SignInSucceeded), None);
        assert_eq!(audience(EventKind::SignInFailed), None);
        assert_eq!(audience(EventKind::AccountSuspended), Some(Audience::Owner));
        assert_eq!(
            audience(EventKind::AccountUnsuspended),
            Some(Audience::Owner)
        );
        assert_eq!(audience(EventKind::AccountDeleted), None);
    }

    #[test]
    fn retries_double_from_thirty_seconds_up_to_an_hour_then_stop() {
        let now = UnixTime(1000);
        assert_eq!(next_attempt(1, now), Some(UnixTime(1030)));
        assert_eq!(next_attempt(2, now), Some(UnixTime(1060)));
        assert_eq!(next_attempt(3, now), Some(UnixTime(1120)));
        assert_eq!(next_attempt(7, now), Some(UnixTime(1000 + 1920)));
        assert_eq!(next_attempt(MAX_ATTEMPTS, now), None);
        assert_eq!(next_attempt(u32::MAX, now), None);
        // The cap: with a larger limit the wait would stop growing at an hour.
        let wait = FIRST_RETRY.saturating_mul(1 << 16).min(LONGEST_RETRY);
        assert_eq!(wait, LONGEST_RETRY);
    }

    #[test]
    fn channels_list_only_what_is_configured() {
        let none = Channels::default();
        assert_eq!(none.enabled().count(), 0);
        let both = Channels {
            email: true,
            webhook: true,
        };
        assert_eq!(
            both.enabled().collect::<Vec<_>>(),
            vec![Channel::Email, Channel::Webhook]
        );
        assert_eq!(Channel::parse("webhook"), Some(Channel::Webhook));
        assert_eq!(Channel::parse("sms"), None);
    }
}
