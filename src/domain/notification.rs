//! Notifications about sensitive events: who is told, over which channel, what the message
//! says, how a webhook is signed, and when a failed delivery is tried again.
//!
//! Invariants:
//! - A notification is derived from a recorded [`Event`] only; it never carries a secret,
//!   code or token (events never hold one).
//! - Retries back off exponentially and stop after [`MAX_ATTEMPTS`].

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::domain::event::{Event, EventKind};
use crate::domain::time::UnixTime;

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
        | EventKind::EnrollmentConfirmed => Some(Audience::Owner),
        EventKind::ResetRequested => Some(Audience::InstanceAdmins),
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
        | EventKind::InvitationCreated => None,
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

/// The JSON document a webhook receives.
pub fn webhook_body(delivery: &Delivery) -> serde_json::Value {
    let event = &delivery.event;
    json!({
        "delivery_id": delivery.id,
        "event": {
            "id": event.id,
            "kind": event.kind,
            "at": event.at,
            "account": event.account_id.as_ref().map(|id| json!({
                "id": id.as_str(),
                "email": delivery.account_email,
            })),
            "actor_id": event.actor_id.as_ref().map(|id| id.as_str()),
            "ip": event.ip,
            "user_agent": event.user_agent,
            "details": event.details,
        }
    })
}

/// The `Deadbolt-Signature` header for `body` sent at `at`:
/// `t=UNIX,v1=HEX(HMAC-SHA256(secret, "UNIX.BODY"))`.
pub fn signature(secret: &[u8], at: UnixTime, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(at.0.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={},v1={}", at.0, hex::encode(mac.finalize().into_bytes()))
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length (RFC 2104 §2), so this cannot fail.
    match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// An e-mail's subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Subject line.
    pub subject: String,
    /// Plain text.
    pub body: String,
}

/// The e-mail telling a person about `delivery`'s event. `public_url` is where they can
/// review their account.
pub fn email_message(delivery: &Delivery, public_url: &str) -> Message {
    let event = &delivery.event;
    let account = delivery.account_email.as_deref().unwrap_or("your account");
    let detail = |key: &str| {
        event
            .details
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
    };
    let (subject, what, review) = match event.kind.as_str() {
        "code_reused" => (
            "A used sign-in code was presented again".to_owned(),
            "An authenticator code that had already been used was presented again for your \
             account. It was refused. Someone may know your password and be watching your codes."
                .to_owned(),
            "/account/security",
        ),
        "locked_out" if detail("factor") == "password" => (
            "Sign-in locked after repeated wrong passwords".to_owned(),
            "Too many wrong passwords were entered for your account, so signing in with a \
             password is locked for a while. If this was not you, someone is guessing your \
             password; make sure it is long and unique, and turn on two-factor."
                .to_owned(),
            "/account/security",
        ),
        "locked_out" => (
            "Two-factor sign-in locked after repeated failures".to_owned(),
            "Too many wrong two-factor codes were entered for your account, so two-factor \
             sign-in is locked for a while. Someone may know your password."
                .to_owned(),
            "/account/security",
        ),
        "two_factor_disabled" => (
            "Two-factor authentication was turned off".to_owned(),
            "Two-factor authentication was turned off for your account. Your password alone \
             now signs you in."
                .to_owned(),
            "/account/security",
        ),
        "two_factor_reset" => (
            "An administrator reset your two-factor authentication".to_owned(),
            format!(
                "An administrator removed your authenticator and recovery codes and signed out \
                 every session. Reason given: \"{}\". Sign in with your password and set up \
                 two-factor again.",
                detail("reason")
            ),
            "/account/security",
        ),
        "recovery_code_used" if detail("purpose") == "proof" => (
            "A recovery code was used to confirm a change".to_owned(),
            "One of your recovery codes was used to confirm a change to your two-factor \
             settings. It cannot be used again. If this was not you, change your password and \
             generate new recovery codes."
                .to_owned(),
            "/account/security",
        ),
        "recovery_code_used" => (
            "A recovery code was used to sign in".to_owned(),
            "One of your recovery codes was used to sign in. It cannot be used again. If you \
             lost your phone, move two-factor to a new device and generate new codes."
                .to_owned(),
            "/account/security",
        ),
        "recovery_codes_regenerated" => (
            "New recovery codes were generated".to_owned(),
            "A new set of recovery codes was generated for your account; the old codes no \
             longer work."
                .to_owned(),
            "/account/security",
        ),
        "enrollment_confirmed" if event.details.get("replaced") == Some(&json!(true)) => (
            "Two-factor moved to a new device".to_owned(),
            "Your authenticator was moved to a new device. Codes from the old device no longer \
             work, and new recovery codes were issued."
                .to_owned(),
            "/account/security",
        ),
        "enrollment_confirmed" => (
            "Two-factor authentication was turned on".to_owned(),
            "Two-factor authentication is now on for your account. Keep your recovery codes \
             somewhere safe."
                .to_owned(),
            "/account/security",
        ),
        "reset_requested" => (
            format!("Two-factor reset requested by {account}"),
            format!(
                "{account} has lost their authenticator and recovery codes and asks for a \
                 two-factor reset. Their message: \"{}\". Check that the request really comes \
                 from them before you reset.",
                detail("message")
            ),
            "/admin",
        ),
        other => (
            format!("Security event on your account: {other}"),
            format!("A security event ({other}) was recorded for your account."),
            "/account/security",
        ),
    };
    let mut body = format!("{what}\n\n");
    body.push_str(&format!("Account: {account}\n"));
    body.push_str(&format!("When: {}\n", event.at.to_rfc3339()));
    if let Some(ip) = &event.ip {
        body.push_str(&format!("From: {ip}\n"));
    }
    if let Some(agent) = &event.user_agent {
        body.push_str(&format!("Device: {agent}\n"));
    }
    let base = public_url.trim_end_matches('/');
    body.push_str(&format!(
        "\nIf this was not you, review it now: {base}{review}\n\n-- \nDeadbolt\n"
    ));
    Message {
        subject: format!("[Deadbolt] {subject}"),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::AccountId;

    fn delivery(kind: &str, details: serde_json::Value) -> Delivery {
        Delivery {
            id: 7,
            channel: Channel::Email,
            attempts: 0,
            event: Event {
                id: 42,
                account_id: Some(AccountId("acc1".to_owned())),
                actor_id: None,
                kind: kind.to_owned(),
                at: UnixTime(1_800_000_000),
                ip: Some("192.0.2.7".to_owned()),
                user_agent: Some("Firefox".to_owned()),
                details,
            },
            account_email: Some("ada@example.com".to_owned()),
            recipient_email: Some("ada@example.com".to_owned()),
        }
    }

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
    fn signature_matches_an_independent_hmac_sha256() {
        // Computed with Python: hmac.new(b"whsec", b"1800000000.{\"a\":1}", sha256).hexdigest()
        let header = signature(b"whsec", UnixTime(1_800_000_000), b"{\"a\":1}");
        assert_eq!(
            header,
            "t=1800000000,v1=adf19a16865985b0891b0e7e4f6770e17d6bdd6462d897848f5adb661c4381bb"
        );
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

    #[test]
    fn webhook_body_carries_the_event_and_the_delivery_id() {
        let body = webhook_body(&delivery("code_reused", json!({"step": 5})));
        assert_eq!(body["delivery_id"], 7);
        assert_eq!(body["event"]["kind"], "code_reused");
        assert_eq!(body["event"]["at"], "2027-01-15T08:00:00Z");
        assert_eq!(body["event"]["account"]["email"], "ada@example.com");
        assert_eq!(body["event"]["details"]["step"], 5);
    }

    #[test]
    fn emails_say_what_happened_when_and_from_where() {
        let message = email_message(
            &delivery("two_factor_reset", json!({"reason": "lost phone"})),
            "https://id.example.com/",
        );
        assert!(message.subject.contains("reset your two-factor"));
        assert!(message.body.contains("\"lost phone\""));
        assert!(message.body.contains("2027-01-15T08:00:00Z"));
        assert!(message.body.contains("192.0.2.7"));
        assert!(message
            .body
            .contains("https://id.example.com/account/security"));
        let moved = email_message(
            &delivery("enrollment_confirmed", json!({"replaced": true})),
            "http://x",
        );
        assert!(moved.subject.contains("new device"));
        let request = email_message(
            &delivery(
                "reset_requested",
                json!({"message": "phone fell in a lake"}),
            ),
            "http://x",
        );
        assert!(request.subject.contains("ada@example.com"));
        assert!(request.body.contains("http://x/admin"));
    }
}
