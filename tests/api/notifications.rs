//! Notifications: a real SMTP receiver and a real webhook receiver on loopback, failing
//! their first attempts; signatures checked with an independent HMAC; back-off on the
//! manual clock; the outbox across a restart and across several workers.

use std::collections::HashSet;

use deadbolt::config::{FileConfig, FileNotify};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tempfile::TempDir;

use crate::helpers::{respawn_with, spawn_app_with, Backend, TestApp, PASSWORD, START};
use crate::receivers::{eventually, SmtpReceiver, WebhookReceiver};

backend_tests!(
    webhook_deliveries_are_signed_and_retried_with_back_off_until_taken,
    emails_reach_the_owner_after_a_transient_smtp_failure,
    a_reset_request_emails_every_instance_admin,
    a_delivery_is_abandoned_after_its_last_attempt_and_an_admin_can_retry_it,
    a_pending_delivery_survives_a_restart,
    a_hanging_smtp_server_never_delays_a_request,
    only_sensitive_events_are_delivered,
    every_sensitive_event_reaches_its_owner,
    the_admin_page_shows_deliveries_and_retries_an_abandoned_one,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn several_nodes_deliver_each_notification_exactly_once() {
        if let Some(backend) = crate::helpers::Backend::postgres() {
            super::several_nodes_deliver_each_notification_exactly_once(backend).await
        }
    }
}

const SECRET: &str = "whsec_test_0123456789abcdef0123456789";

/// Notification settings for a test, with the webhook secret file they name.
struct Notify {
    smtp_url: Option<String>,
    webhook_url: Option<String>,
    secret_dir: TempDir,
}

impl Notify {
    fn new(smtp: Option<&SmtpReceiver>, webhook: Option<&WebhookReceiver>) -> Notify {
        let secret_dir = tempfile::tempdir().unwrap();
        std::fs::write(secret_dir.path().join("webhook.key"), format!("{SECRET}\n")).unwrap();
        Notify {
            smtp_url: smtp.map(|s| s.url.clone()),
            webhook_url: webhook.map(|w| w.url.clone()),
            secret_dir,
        }
    }

    fn apply(&self, file: &mut FileConfig) {
        file.notify = Some(FileNotify {
            smtp_url: self.smtp_url.clone(),
            from: Some("Deadbolt <security@deadbolt.test>".to_owned()),
            webhook_url: self.webhook_url.clone(),
            webhook_secret_file: Some(self.secret_dir.path().join("webhook.key")),
        });
        file.public_url = Some("https://id.example.com".to_owned());
    }

    async fn spawn(&self, backend: Backend) -> TestApp {
        spawn_app_with(backend, |file| self.apply(file)).await
    }
}

/// Checks `Deadbolt-Signature: t=UNIX,v1=HEX` against an HMAC computed here, and returns `t`.
fn verified_timestamp(header: &str, body: &[u8]) -> i64 {
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("malformed signature header {header}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(v1, expected, "the signature must verify");
    t.parse().unwrap()
}

/// An instance admin and a user; returns (admin token, user id).
async fn admin_and_user(app: &TestApp, email: &str) -> (String, String) {
    let admin = app.admin_signed_in("root@example.com").await;
    let user = app.signed_in(email).await;
    let id = app.account_id(&user).await;
    (admin, id)
}

async fn reset(app: &TestApp, admin: &str, account: &str, reason: &str) {
    let reply = app
        .post(
            &format!("/api/v1/admin/accounts/{account}/two-factor/reset"),
            Some(admin),
            json!({"reason": reason}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

async fn deliveries(app: &TestApp, admin: &str, query: &str) -> serde_json::Value {
    let reply = app
        .get(&format!("/api/v1/admin/notifications{query}"), Some(admin))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

async fn webhook_deliveries_are_signed_and_retried_with_back_off_until_taken(backend: Backend) {
    let hook = WebhookReceiver::start(2).await;
    let notify = Notify::new(None, Some(&hook));
    let app = notify.spawn(backend).await;
    let (admin, ada) = admin_and_user(&app, "ada@example.com").await;
    reset(&app, &admin, &ada, "lost phone").await;

    let first = hook.wait_for(1).await;
    assert_eq!(first[0].answered, 500);
    assert_eq!(
        verified_timestamp(first[0].header("deadbolt-signature"), &first[0].body),
        START.0
    );
    // The failure is visible to admins, with the next attempt 30 s later.
    let listed = eventually_listed(&app, &admin, "retrying").await;
    assert_eq!(listed["attempts"], 1);
    assert_eq!(listed["channel"], "webhook");
    assert!(
        listed["last_error"].as_str().unwrap().contains("500"),
        "{listed}"
    );
    assert_eq!(
        listed["next_attempt_at"],
        START.plus_seconds(30).to_rfc3339()
    );

    app.clock.advance(30);
    app.notifier.wake();
    let second = hook.wait_for(2).await;
    assert_eq!(second[1].answered, 500);
    let listed = eventually_listed_after(&app, &admin, "retrying", 2).await;
    assert_eq!(listed["attempts"], 2);
    // The wait doubles.
    assert_eq!(
        listed["next_attempt_at"],
        START.plus_seconds(30 + 60).to_rfc3339()
    );

    app.clock.advance(60);
    app.notifier.wake();
    let all = hook.wait_for(3).await;
    assert_eq!(all[2].answered, 204);
    let t = verified_timestamp(all[2].header("deadbolt-signature"), &all[2].body);
    assert_eq!(t, START.0 + 90, "signed at the time of sending");
    // Every attempt carries the same delivery, so receivers can drop duplicates.
    let ids: HashSet<String> = all
        .iter()
        .map(|p| p.header("deadbolt-delivery").to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    let body = all[2].json();
    assert_eq!(body["event"]["kind"], "two_factor_reset");
    assert_eq!(body["event"]["account"]["email"], "ada@example.com");
    assert_eq!(body["event"]["account"]["id"], ada.as_str());
    assert_eq!(body["event"]["details"]["reason"], "lost phone");
    assert_eq!(all[2].header("deadbolt-event"), "two_factor_reset");

    let listed = eventually_listed(&app, &admin, "delivered").await;
    assert_eq!(listed["attempts"], 3);
    assert!(listed["next_attempt_at"].is_null());
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains(
            r#"deadbolt_notification_attempts_total{channel="webhook",outcome="failed"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"deadbolt_notification_attempts_total{channel="webhook",outcome="delivered"} 1"#
        ),
        "{metrics}"
    );
}

/// Waits until the newest delivery has `status`, and returns it.
async fn eventually_listed(app: &TestApp, admin: &str, status: &str) -> serde_json::Value {
    eventually_listed_after(app, admin, status, 0).await
}

/// The newest delivery once it is `status` after at least `attempts` attempts (a receiver
/// sees an attempt before the outbox records its outcome).
async fn eventually_listed_after(
    app: &TestApp,
    admin: &str,
    status: &str,
    attempts: u64,
) -> serde_json::Value {
    for _ in 0..1200 {
        let page = deliveries(app, admin, "?limit=1").await;
        let newest = page["deliveries"][0].clone();
        if newest["status"] == status && newest["attempts"].as_u64() >= Some(attempts) {
            return newest;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the newest delivery never became {status} after {attempts} attempts");
}

/// Lets the failing webhook refuse all 8 attempts of the newest delivery, moving the clock
/// past each back-off.
async fn run_out_the_attempts(app: &TestApp, admin: &str, hook: &WebhookReceiver) {
    for attempt in 1..=8 {
        hook.wait_for(attempt).await;
        if attempt < 8 {
            // The receiver sees an attempt before the outbox records its outcome. The clock
            // moves only once the next attempt is scheduled; moved earlier, the next attempt
            // would be scheduled from the moved clock and never come due.
            eventually_listed_after(app, admin, "retrying", attempt as u64).await;
        }
        app.clock.advance(3_600);
        app.notifier.wake();
    }
}

async fn emails_reach_the_owner_after_a_transient_smtp_failure(backend: Backend) {
    let smtp = SmtpReceiver::start(0).await;
    let notify = Notify::new(Some(&smtp), None);
    let app = notify.spawn(backend).await;
    let (admin, ada) = admin_and_user(&app, "ada@example.com").await;
    // Sign-up's confirmation link goes first; then the receiver refuses one transaction.
    smtp.wait_for(1).await;
    let connected = smtp.connections().0;
    smtp.fail_next(1);
    reset(&app, &admin, &ada, "lost phone on a train").await;

    // The reset's first transaction is refused with 451; the retry comes after the back-off.
    eventually("the refused attempt", || {
        (smtp.connections().0 > connected).then_some(())
    })
    .await;
    let listed = eventually_listed(&app, &admin, "retrying").await;
    assert!(
        listed["last_error"].as_str().unwrap().contains("451"),
        "{listed}"
    );
    assert_eq!(listed["recipient"], "ada@example.com");
    assert_eq!(smtp.mails().len(), 1, "only the confirmation link so far");
    app.clock.advance(30);
    app.notifier.wake();
    let mails = smtp.wait_for(2).await;
    assert_eq!(mails.len(), 2);
    let mail = &mails[1];
    assert_eq!(mail.to, ["<ada@example.com>"]);
    assert_eq!(mail.from, "<security@deadbolt.test>");
    assert!(
        mail.data
            .contains("Subject: [Deadbolt] An administrator reset your two-factor"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("lost phone on a train"), "{}", mail.data);
    assert!(
        mail.data
            .contains("https://id.example.com/account/security"),
        "{}",
        mail.data
    );
    eventually_listed(&app, &admin, "delivered").await;
}

async fn a_reset_request_emails_every_instance_admin(backend: Backend) {
    let smtp = SmtpReceiver::start(0).await;
    let notify = Notify::new(Some(&smtp), None);
    let app = notify.spawn(backend).await;
    app.admin_signed_in("root@example.com").await;
    app.admin_signed_in("second-admin@example.com").await;
    let ada = app.enrolled("ada@example.com").await;
    // Signing up sends Ada a confirmation link; enabling two-factor tells her.
    let mails = smtp.wait_for(2).await;
    assert!(mails.iter().all(|mail| mail.to == ["<ada@example.com>"]));
    assert!(mails.iter().any(|mail| mail
        .data
        .contains("Two-factor authentication was turned on")));

    let challenge = app.challenge(&ada.email).await;
    let filed = app
        .post(
            "/api/v1/sessions/challenge/reset-request",
            None,
            json!({"challenge_token": challenge, "message": "My phone fell in the harbour"}),
        )
        .await;
    assert_eq!(filed.status, 202, "{}", filed.text);
    // Ada gets the link confirming her request (SPEC §11), each admin the request.
    let mails = smtp.wait_for(5).await;
    let (to_ada, to_admins): (Vec<_>, Vec<_>) = mails[2..]
        .iter()
        .partition(|mail| mail.to == ["<ada@example.com>"]);
    assert_eq!(to_ada.len(), 1);
    assert!(to_ada[0]
        .data
        .contains("Confirm your two-factor reset request"));
    let mut recipients: Vec<String> = to_admins.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["<root@example.com>", "<second-admin@example.com>"]
    );
    for mail in to_admins {
        assert!(
            mail.data
                .contains("Two-factor reset requested by ada@example.com"),
            "{}",
            mail.data
        );
        assert!(
            mail.data.contains("My phone fell in the harbour"),
            "{}",
            mail.data
        );
    }
}

async fn a_delivery_is_abandoned_after_its_last_attempt_and_an_admin_can_retry_it(
    backend: Backend,
) {
    let hook = WebhookReceiver::failing().await;
    let notify = Notify::new(None, Some(&hook));
    let app = notify.spawn(backend).await;
    let (admin, ada) = admin_and_user(&app, "ada@example.com").await;
    reset(&app, &admin, &ada, "lost phone").await;
    run_out_the_attempts(&app, &admin, &hook).await;
    let listed = eventually_listed(&app, &admin, "abandoned").await;
    assert_eq!(listed["attempts"], 8);
    assert!(listed["last_error"].as_str().unwrap().contains("500"));
    let page = deliveries(&app, &admin, "?status=abandoned").await;
    assert_eq!(page["counts"]["abandoned"], 1);
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains(
            r#"deadbolt_notification_attempts_total{channel="webhook",outcome="abandoned"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"deadbolt_notification_attempts_total{channel="webhook",outcome="failed"} 7"#
        ),
        "{metrics}"
    );

    // Only admins see or retry deliveries; only abandoned ones can be retried.
    let user = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/api/v1/admin/notifications", Some(&user))
        .await
        .assert_error(403, "forbidden");
    let id = listed["id"].as_i64().unwrap();
    let path = format!("/api/v1/admin/notifications/{id}/retry");
    app.post(&path, Some(&user), json!({}))
        .await
        .assert_error(403, "forbidden");
    app.post(
        "/api/v1/admin/notifications/999999/retry",
        Some(&admin),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    app.get("/api/v1/admin/notifications?status=lost", Some(&admin))
        .await
        .assert_error(422, "invalid_body");
    let retried = app.post(&path, Some(&admin), json!({})).await;
    assert_eq!(retried.status, 202, "{}", retried.text);
    hook.wait_for(9).await;
    eventually_listed(&app, &admin, "retrying").await;
    app.post(&path, Some(&admin), json!({}))
        .await
        .assert_error(409, "not_abandoned");
}

async fn a_pending_delivery_survives_a_restart(backend: Backend) {
    let hook = WebhookReceiver::start(1).await;
    let notify = Notify::new(None, Some(&hook));
    let mut first = notify.spawn(backend).await;
    let (admin, ada) = admin_and_user(&first, "ada@example.com").await;
    reset(&first, &admin, &ada, "lost phone").await;
    let failed = hook.wait_for(1).await;
    eventually_listed(&first, &admin, "retrying").await;
    first.stop();

    let second = respawn_with(&first, |file| notify.apply(file)).await;
    second.clock.advance(30);
    second.notifier.wake();
    let all = hook.wait_for(2).await;
    assert_eq!(all[1].answered, 204);
    assert_eq!(
        all[1].header("deadbolt-delivery"),
        failed[0].header("deadbolt-delivery")
    );
    let token = second.sign_in("root@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = eventually_listed(&second, &token, "delivered").await;
    assert_eq!(listed["attempts"], 2);
}

async fn a_hanging_smtp_server_never_delays_a_request(backend: Backend) {
    let smtp = SmtpReceiver::hanging().await;
    let notify = Notify::new(Some(&smtp), None);
    let app = notify.spawn(backend).await;
    let (admin, ada) = admin_and_user(&app, "ada@example.com").await;
    reset(&app, &admin, &ada, "first").await;
    // The worker takes the sign-up's confirmation link first, and hangs on it.
    eventually("the worker to connect", || {
        (smtp.connections().0 == 1).then_some(())
    })
    .await;
    // The worker is stuck in its first attempt (the server never answers). Requests that
    // queue more notifications still complete while it is.
    reset(&app, &admin, &ada, "second").await;
    reset(&app, &admin, &ada, "third").await;
    assert_eq!(
        smtp.connections(),
        (1, 1),
        "the requests completed while the first attempt was still hanging"
    );
    let page = deliveries(&app, &admin, "").await;
    // The sign-up's confirmation link (the attempt that hangs) and the three resets.
    assert_eq!(page["counts"]["pending"], 4, "{page}");
}

async fn only_sensitive_events_are_delivered(backend: Backend) {
    let hook = WebhookReceiver::start(0).await;
    let notify = Notify::new(None, Some(&hook));
    let app = notify.spawn(backend).await;
    let ada = app.enrolled("ada@example.com").await;
    // Sign-ins, failed sign-ins and a new enrolment attempt are recorded, not notified.
    let challenge = app.challenge(&ada.email).await;
    let code = app.code(&ada.secret);
    assert_eq!(app.answer_code(&challenge, &code).await.status, 201);
    app.sign_in(&ada.email, "not the password at all").await;
    // A reused code is.
    let again = app.challenge(&ada.email).await;
    app.answer_code(&again, &code)
        .await
        .assert_error(401, "code_reused");
    let posted = hook.wait_for(2).await;
    let kinds: Vec<String> = posted
        .iter()
        .map(|p| p.json()["event"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["enrollment_confirmed", "code_reused"]);
    let body = serde_json::to_string(&posted.iter().map(|p| p.json()).collect::<Vec<_>>()).unwrap();
    assert!(!body.contains(&ada.secret), "no secret in a notification");
    assert!(!body.contains(&code), "no code in a notification");
}

async fn several_nodes_deliver_each_notification_exactly_once(backend: Backend) {
    let hook = WebhookReceiver::start(0).await;
    let notify = Notify::new(None, Some(&hook));
    let a = notify.spawn(backend).await;
    let b = respawn_with(&a, |file| notify.apply(file)).await;
    let c = respawn_with(&a, |file| notify.apply(file)).await;
    let admin = a.admin_signed_in("root@example.com").await;
    let nodes = [&a, &b, &c];
    let mut ids = Vec::new();
    for n in 0..12 {
        let token = a.signed_in(&format!("user{n}@example.com")).await;
        ids.push(a.account_id(&token).await);
    }
    for (n, id) in ids.iter().enumerate() {
        reset(nodes[n % 3], &admin, id, "lost phone").await;
    }
    eventually("12 deliveries", || {
        (hook.posted().len() >= 12).then_some(())
    })
    .await;
    for _ in 0..1200 {
        let page = deliveries(&a, &admin, "").await;
        if page["counts"]["delivered"] == 12 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(deliveries(&a, &admin, "").await["counts"]["delivered"], 12);
    let posted = hook.posted();
    let distinct: HashSet<&str> = posted
        .iter()
        .map(|p| p.header("deadbolt-delivery"))
        .collect();
    assert_eq!(posted.len(), 12, "no delivery was sent twice");
    assert_eq!(distinct.len(), 12);
}

async fn the_admin_page_shows_deliveries_and_retries_an_abandoned_one(backend: Backend) {
    use crate::pages::{csrf_of, page_sign_in};
    let hook = WebhookReceiver::failing().await;
    let notify = Notify::new(None, Some(&hook));
    let app = notify.spawn(backend).await;
    let (admin, ada) = admin_and_user(&app, "ada@example.com").await;
    reset(&app, &admin, &ada, "lost phone").await;
    run_out_the_attempts(&app, &admin, &hook).await;
    let listed = eventually_listed(&app, &admin, "abandoned").await;
    let id = listed["id"].as_i64().unwrap();

    let (signed_in, _) = page_sign_in(&app, "root@example.com", "/admin").await;
    assert_eq!(signed_in.status(), 303);
    let html = app
        .client
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("0 delivered, 0 waiting, 0 being retried, 1 given up"),
        "{html}"
    );
    assert!(html.contains(r#"data-status="abandoned""#), "{html}");
    assert!(html.contains("the receiver answered 500"), "{html}");
    let action = format!("/admin/notifications/{id}/retry");
    assert!(html.contains(&action), "{html}");
    let retried = app
        .client
        .post(app.url(&action))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 303);
    assert_eq!(retried.headers()["location"], "/admin?done=retry");
    hook.wait_for(9).await;
    // Without the form's token, nothing is retried.
    let forged = app
        .client
        .post(app.url(&action))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

/// Every kind SPEC §5 calls sensitive is delivered to the owner, each with the details that
/// tell the cases apart; the actions that record them commit with their events.
async fn every_sensitive_event_reaches_its_owner(backend: Backend) {
    let hook = WebhookReceiver::start(0).await;
    let notify = Notify::new(None, Some(&hook));
    let app = notify.spawn(backend).await;
    let ada = app.enrolled("ada@example.com").await;

    // New recovery codes, confirmed with a recovery code: that code is used up and told.
    let regenerated = app
        .post(
            "/api/v1/me/two-factor/recovery-codes",
            Some(&ada.token),
            json!({"recovery_code": ada.recovery_codes[0]}),
        )
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.text);

    // Moving to a new device.
    let moving = app
        .post(
            "/api/v1/me/two-factor/enrollment",
            Some(&ada.token),
            json!({"code": app.code(&ada.secret)}),
        )
        .await;
    assert_eq!(moving.status, 201, "{}", moving.text);
    let new_secret = moving.body["secret"].as_str().unwrap().to_owned();
    app.clock.advance(30);
    let moved = app.confirm(&ada.token, &app.code(&new_secret)).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let codes: Vec<String> = moved.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    // Signing in with a recovery code, then a reused code.
    let challenge = app.challenge(&ada.email).await;
    let signed_in = app.answer_recovery(&challenge, &codes[0]).await;
    assert_eq!(signed_in.status, 201, "{}", signed_in.text);
    let token = signed_in.body["token"].as_str().unwrap().to_owned();
    app.clock.advance(30);
    let code = app.code(&new_secret);
    let challenge = app.challenge(&ada.email).await;
    assert_eq!(app.answer_code(&challenge, &code).await.status, 201);
    let challenge = app.challenge(&ada.email).await;
    app.answer_code(&challenge, &code)
        .await
        .assert_error(401, "code_reused");

    // Wrong codes at the dry-run check lock the second factor like any other.
    for _ in 0..9 {
        let checked = app
            .post(
                "/api/v1/me/two-factor/check",
                Some(&token),
                json!({"code": "000000"}),
            )
            .await;
        assert_eq!(checked.status, 200, "{}", checked.text);
    }
    app.post(
        "/api/v1/me/two-factor/check",
        Some(&token),
        json!({"code": "000000"}),
    )
    .await
    .assert_error(429, "too_many_attempts");

    // Turning it off, then a password guessed ten times.
    app.turn_off_two_factor(&token).await;
    for _ in 0..10 {
        app.sign_in(&ada.email, "wrong horse battery staple")
            .await
            .assert_error(401, "invalid_credentials");
    }

    let posted = hook.wait_for(9).await;
    let mut events: Vec<serde_json::Value> =
        posted.iter().map(|p| p.json()["event"].clone()).collect();
    events.sort_by_key(|e| e["id"].as_i64().unwrap());
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "enrollment_confirmed",
            "recovery_code_used",
            "recovery_codes_regenerated",
            "enrollment_confirmed",
            "recovery_code_used",
            "code_reused",
            "locked_out",
            "two_factor_disabled",
            "locked_out",
        ]
    );
    assert_eq!(events[0]["details"]["replaced"], false);
    assert_eq!(events[1]["details"]["purpose"], "proof");
    assert_eq!(
        events[3]["details"]["replaced"], true,
        "new device confirmed"
    );
    assert_eq!(events[4]["details"]["purpose"], "sign_in");
    assert_eq!(events[6]["details"]["factor"], "second_factor");
    assert_eq!(events[8]["details"]["factor"], "password");
    for event in &events {
        assert_eq!(event["account"]["email"], "ada@example.com");
    }
    let everything = serde_json::to_string(&events).unwrap();
    for secret in [
        &ada.secret,
        &new_secret,
        &code,
        &codes[0],
        &ada.recovery_codes[0],
    ] {
        assert!(
            !everything.contains(secret.as_str()),
            "no secret or code is sent"
        );
    }
    // Nothing else went out: sign-ins, failures and the enrolment start are only recorded.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(hook.posted().len(), 9);
}
