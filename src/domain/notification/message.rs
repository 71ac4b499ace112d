//! What a notification says: the e-mail a person receives, the JSON document a webhook
//! receives, and the webhook's signature. Built from the recorded event only, so it never
//! carries a secret, code or token.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::Delivery;
use crate::domain::time::UnixTime;

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
        "account_suspended" => (
            "An administrator suspended your account".to_owned(),
            format!(
                "An administrator suspended your account and signed out every session. You \
                 cannot sign in until the suspension is lifted. Reason given: \"{}\".",
                detail("reason")
            ),
            "/login",
        ),
        "account_unsuspended" => (
            "Your account is no longer suspended".to_owned(),
            format!(
                "An administrator lifted the suspension of your account; you can sign in \
                 again. Reason given: \"{}\".",
                detail("reason")
            ),
            "/login",
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
        "reset_request_confirmed" => (
            format!("Reset request confirmed by {account}"),
            format!(
                "The two-factor reset request of {account} was confirmed through the link \
                 e-mailed to {}: the request comes from someone who reads that mailbox.",
                detail("email")
            ),
            "/admin",
        ),
        "reset_request_vouched" => (
            format!("Reset request of {account} vouched for"),
            format!(
                "{}, an owner of a workspace {account} belongs to, vouched that their \
                 two-factor reset request is legitimate.",
                detail("owner_email")
            ),
            "/admin",
        ),
        "account_deleted" => (
            "Your account was deleted".to_owned(),
            match detail("by") {
                "admin" => format!(
                    "An administrator deleted your account. Reason given: \"{}\". Its sessions, \
                     authenticator and recovery codes are gone.",
                    detail("reason")
                ),
                _ => "Your account was deleted at your request. Its sessions, authenticator and \
                      recovery codes are gone."
                    .to_owned(),
            },
            "/login",
        ),
        "email_changed" => (
            "Your account's address was changed".to_owned(),
            format!(
                "The address of your Deadbolt account was changed from {} to {}, proven by a \
                 link sent to the new one. Messages about the account now go there.",
                detail("from"),
                detail("to")
            ),
            "/account/security",
        ),
        "password_changed" => (
            "Your password was changed".to_owned(),
            "The password of your account was set or changed, and every other session was \
             signed out."
                .to_owned(),
            "/account/security",
        ),
        "password_reset" => (
            "Your password was reset".to_owned(),
            "The password of your account was reset through a link sent to this address, and \
             every session was signed out. Two-factor authentication did not change."
                .to_owned(),
            "/account/security",
        ),
        "api_token_created" => (
            "A new API token was created".to_owned(),
            format!(
                "An API token named \"{}\" was created for your account. It signs scripts in \
                 as you, without two-factor, until {} or until you revoke it.",
                detail("name"),
                detail("expires_at")
            ),
            "/account/security",
        ),
        "webauthn_added" => (
            "A security key or passkey was added".to_owned(),
            format!(
                "A security key or passkey named \"{}\" was added to your account. It can \
                 now be used to sign in.",
                detail("name")
            ),
            "/account/security",
        ),
        "webauthn_removed" => (
            "A security key or passkey was removed".to_owned(),
            format!(
                "The security key or passkey named \"{}\" was removed from your account. It \
                 no longer signs you in.",
                detail("name")
            ),
            "/account/security",
        ),
        "webauthn_counter_anomaly" => (
            "A security key may have been copied".to_owned(),
            format!(
                "The security key or passkey named \"{}\" answered with a signature counter \
                 that did not move forward, which is what a copied key does. The sign-in was \
                 refused. If you did not just use it, remove it and add a new one.",
                detail("name")
            ),
            "/account/security",
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
    use crate::domain::event::Event;
    use crate::domain::ids::AccountId;
    use crate::domain::notification::Channel;

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
            message: None,
        }
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
        let confirmed = email_message(
            &delivery(
                "reset_request_confirmed",
                json!({"email": "ada@example.com", "request_id": "r1"}),
            ),
            "http://x",
        );
        assert!(confirmed.subject.contains("confirmed"));
        assert!(confirmed.body.contains("http://x/admin"));
        let vouched = email_message(
            &delivery(
                "reset_request_vouched",
                json!({"owner_email": "olga@example.com", "request_id": "r1"}),
            ),
            "http://x",
        );
        assert!(vouched.subject.contains("vouched"));
        assert!(vouched.body.contains("olga@example.com"));
        let suspended = email_message(
            &delivery("account_suspended", json!({"reason": "abuse report"})),
            "http://x",
        );
        assert!(suspended.subject.contains("suspended your account"));
        assert!(suspended.body.contains("\"abuse report\""));
    }
}
