//! Accounts proven by e-mail (SPEC §11), over the API, with a real SMTP receiver on
//! loopback that the links and codes are read out of: verification, passwordless accounts
//! signing in by link or code, the e-mailed proof, forgotten and changed passwords, and the
//! same answer for every address.

use deadbolt::config::{FileConfig, FileNotify};
use futures::future::join_all;
use serde_json::json;

use crate::helpers::{respawn_with, spawn_app, spawn_app_with, Backend, TestApp, PASSWORD};
use crate::pages::csrf_of;
use crate::receivers::{eventually, Mail, SmtpReceiver};

backend_tests!(
    sign_up_sends_a_verification_link_whose_post_verifies_the_address,
    a_passwordless_account_signs_in_by_link_or_by_code,
    five_wrong_codes_void_an_email_sign_in,
    every_request_that_names_an_address_answers_alike,
    a_passwordless_account_proves_its_mailbox_to_change_two_factor,
    a_passwordless_account_with_two_factor_still_meets_the_challenge,
    a_forgotten_password_is_reset_by_link_and_two_factor_still_asks,
    a_password_change_needs_a_proof_and_ends_the_other_sessions,
    without_smtp_the_email_flows_answer_503,
    a_link_page_spends_nothing_until_its_button_is_pressed,
    a_suspended_account_signs_in_by_email_no_more,
    a_deleted_account_is_told_at_its_former_address,
    an_address_change_waits_for_its_link_and_tells_the_old_address,
    what_was_sent_before_dies_with_a_new_address_password_or_suspension,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_racing_one_email_sign_in_make_one_session() {
        if let Some(backend) = crate::helpers::Backend::postgres() {
            super::two_nodes_racing_one_email_sign_in_make_one_session(backend).await
        }
    }
}

/// Where the links of the messages point.
pub const PUBLIC_URL: &str = "https://id.example.com";

/// `file` sending e-mail to `smtp`, its links under [`PUBLIC_URL`].
pub fn with_smtp(file: &mut FileConfig, smtp: &SmtpReceiver) {
    sending_to(file, smtp);
    file.public_url = Some(PUBLIC_URL.to_owned());
}

/// `file` sending e-mail to `smtp`, its public URL left alone (a browser test's, on
/// plain http).
pub fn sending_to(file: &mut FileConfig, smtp: &SmtpReceiver) {
    file.notify = Some(FileNotify {
        smtp_url: Some(smtp.url.clone()),
        from: Some("Deadbolt <security@deadbolt.test>".to_owned()),
        webhook_url: None,
        webhook_secret_file: None,
    });
}

/// A server that sends e-mail to a receiver of its own.
pub async fn mailing_app(backend: Backend) -> (TestApp, SmtpReceiver) {
    let smtp = SmtpReceiver::start(0).await;
    let app = spawn_app_with(backend, |file| with_smtp(file, &smtp)).await;
    (app, smtp)
}

/// The message, its SMTP dot-stuffing and quoted-printable encoding undone.
pub fn text(mail: &Mail) -> String {
    let unstuffed: Vec<&str> = mail
        .data
        .lines()
        .map(|line| {
            line.strip_prefix('.')
                .filter(|_| line.starts_with(".."))
                .unwrap_or(line)
        })
        .collect();
    let folded = unstuffed.join("\n").replace("=\n", "");
    let mut decoded = Vec::with_capacity(folded.len());
    let bytes = folded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The token of the link to `path` in `mail` (under this test's public URL, or the
/// default one).
pub fn link_token(mail: &Mail, path: &str) -> String {
    let body = text(mail);
    let base = if body.contains(PUBLIC_URL) {
        PUBLIC_URL
    } else {
        "http://127.0.0.1:8080"
    };
    let prefix = format!("{base}{path}");
    let start = body
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link to {path} in {body}"))
        + prefix.len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The code (`XXXX-XXXX`) in `mail`.
pub fn code_in(mail: &Mail) -> String {
    let body = text(mail);
    let start = body.find("Code: ").expect("a code") + "Code: ".len();
    body[start..start + 9].to_owned()
}

/// The messages to `to` whose subject holds `subject`, in the order they arrived.
fn mails(smtp: &SmtpReceiver, to: &str, subject: &str) -> Vec<Mail> {
    smtp.mails()
        .into_iter()
        .filter(|mail| mail.to.iter().any(|rcpt| rcpt.contains(to)))
        .filter(|mail| {
            text(mail)
                .lines()
                .any(|line| line.starts_with("Subject:") && line.contains(subject))
        })
        .collect()
}

/// Waits for the `n`th message (1-based) to `to` whose subject holds `subject`.
pub async fn nth_mail(smtp: &SmtpReceiver, to: &str, subject: &str, n: usize) -> Mail {
    eventually(&format!("e-mail {n} to {to} on {subject}"), || {
        mails(smtp, to, subject).get(n - 1).cloned()
    })
    .await
}

/// Subjects of the messages carrying a token, and of the notices.
pub const SIGN_IN: &str = "sign-in link";
pub const VERIFY: &str = "Confirm your e-mail address";
pub const RESET: &str = "Reset your password";
pub const PROOF: &str = "confirmation code";

/// A new session of the existing account `email` (password `PASSWORD`, no two-factor).
async fn session_of(app: &TestApp, email: &str) -> String {
    let reply = app.sign_in(email, PASSWORD).await;
    reply.assert_status(201);
    reply.body["token"].as_str().unwrap().to_owned()
}

/// A passwordless account for `email`, signed in through its first message; its token.
pub async fn passwordless(app: &TestApp, smtp: &SmtpReceiver, email: &str) -> String {
    app.post("/api/v1/accounts", None, json!({"email": email}))
        .await
        .assert_status(201);
    let mail = nth_mail(smtp, email, SIGN_IN, 1).await;
    let token = link_token(&mail, "/login/email/");
    let reply = app
        .post(
            "/api/v1/sessions/email/verify",
            None,
            json!({"token": token}),
        )
        .await;
    reply.assert_status(201);
    reply.body["token"].as_str().unwrap().to_owned()
}

async fn sign_up_sends_a_verification_link_whose_post_verifies_the_address(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    let first = nth_mail(&smtp, "ada@example.com", VERIFY, 1).await;
    assert!(text(&first).contains("Confirm"), "{}", text(&first));
    let first = link_token(&first, "/verify-email/");
    let token = session_of(&app, "ada@example.com").await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["email_verified"], false);
    assert_eq!(me.body["has_password"], true);
    // Asking again sends a new link, which voids the first.
    app.post("/api/v1/me/email/verification", Some(&token), json!({}))
        .await
        .assert_status(202);
    let second = nth_mail(&smtp, "ada@example.com", VERIFY, 2).await;
    let second = link_token(&second, "/verify-email/");
    assert_ne!(first, second);
    app.post("/api/v1/email/verify", None, json!({"token": first}))
        .await
        .assert_error(422, "invalid_token");
    let verified = app
        .post("/api/v1/email/verify", None, json!({"token": second}))
        .await;
    verified.assert_status(200);
    assert_eq!(verified.body["email"], "ada@example.com");
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["email_verified"], true);
    assert_eq!(
        me.body["email_verified_at"].as_str(),
        Some(app.clock_now().to_rfc3339().as_str())
    );
    // Once only.
    app.post("/api/v1/email/verify", None, json!({"token": second}))
        .await
        .assert_error(422, "invalid_token");
    assert!(app
        .event_kinds(&token)
        .await
        .contains(&"email_verified".to_owned()));
    // Admins see it too.
    let admin = app.admin_signed_in("root@example.com").await;
    let listed = app
        .get("/api/v1/admin/accounts?query=ada@", Some(&admin))
        .await;
    assert_eq!(
        listed.body["accounts"][0]["email_verified"], true,
        "{}",
        listed.text
    );
    assert_eq!(listed.body["accounts"][0]["has_password"], true);
}

async fn a_passwordless_account_signs_in_by_link_or_by_code(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    let created = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": "bea@example.com"}),
        )
        .await;
    created.assert_status(201);
    // No password opens it.
    app.sign_in("bea@example.com", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    // The first message signs in (and so verifies the address).
    let welcome = nth_mail(&smtp, "bea@example.com", SIGN_IN, 1).await;
    let code = code_in(&welcome);
    let signed_in = app
        .post(
            "/api/v1/sessions/email/verify",
            None,
            json!({"email": "BEA@example.com", "code": code.to_lowercase()}),
        )
        .await;
    signed_in.assert_status(201);
    assert_eq!(signed_in.body["status"], "authenticated");
    let token = signed_in.body["token"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["has_password"], false);
    assert_eq!(me.body["email_verified"], true);
    // The code and the link are one token: spent once.
    let link = link_token(&welcome, "/login/email/");
    app.post(
        "/api/v1/sessions/email/verify",
        None,
        json!({"token": link}),
    )
    .await
    .assert_error(422, "invalid_token");
    // Asking to sign in by e-mail sends a new link, which signs in.
    let asked = app
        .post(
            "/api/v1/sessions/email",
            None,
            json!({"email": "bea@example.com"}),
        )
        .await;
    asked.assert_status(202);
    assert_eq!(asked.body, json!({"status": "email_sent"}));
    let second = nth_mail(&smtp, "bea@example.com", SIGN_IN, 2).await;
    let link = link_token(&second, "/login/email/");
    let by_link = app
        .post(
            "/api/v1/sessions/email/verify",
            None,
            json!({"token": link}),
        )
        .await;
    by_link.assert_status(201);
    assert_ne!(by_link.body["token"], signed_in.body["token"]);
    // Neither field, or both kinds, is a malformed answer.
    app.post(
        "/api/v1/sessions/email/verify",
        None,
        json!({"email": "bea@example.com"}),
    )
    .await
    .assert_error(422, "invalid_body");
}

async fn five_wrong_codes_void_an_email_sign_in(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    passwordless(&app, &smtp, "bea@example.com").await;
    app.post(
        "/api/v1/sessions/email",
        None,
        json!({"email": "bea@example.com"}),
    )
    .await
    .assert_status(202);
    let code = code_in(&nth_mail(&smtp, "bea@example.com", SIGN_IN, 2).await);
    let wrong = if code.starts_with('A') {
        "BBBB-BBBB"
    } else {
        "AAAA-AAAA"
    };
    let answer = |code: String| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/sessions/email/verify",
                None,
                json!({"email": "bea@example.com", "code": code}),
            )
            .await
        }
    };
    for _ in 0..5 {
        answer(wrong.to_owned())
            .await
            .assert_error(401, "invalid_code");
    }
    answer(code).await.assert_error(401, "invalid_code");
    // A code typed for another address matches nothing either.
    app.post(
        "/api/v1/sessions/email",
        None,
        json!({"email": "bea@example.com"}),
    )
    .await
    .assert_status(202);
    let code = code_in(&nth_mail(&smtp, "bea@example.com", SIGN_IN, 3).await);
    passwordless(&app, &smtp, "cy@example.com").await;
    app.post(
        "/api/v1/sessions/email/verify",
        None,
        json!({"email": "cy@example.com", "code": code}),
    )
    .await
    .assert_error(401, "invalid_code");
    // The new message started the count again: its code works.
    answer(code).await.assert_status(201);
    // An address with no account counts its wrong codes the same way.
    for _ in 0..5 {
        app.post(
            "/api/v1/sessions/email/verify",
            None,
            json!({"email": "nobody@example.com", "code": wrong}),
        )
        .await
        .assert_error(401, "invalid_code");
    }
    let counted = app
        .store
        .throttle_counter("email-code:sign_in:nobody@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.failures, 5);
}

async fn every_request_that_names_an_address_answers_alike(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    passwordless(&app, &smtp, "bea@example.com").await;
    let sent_before = smtp.wait_for(2).await.len();
    // An e-mail sign-in for an account with a password, and for no account; a forgotten
    // password for no account: each answers as for a real one, and sends nothing.
    for (path, email) in [
        ("/api/v1/sessions/email", "ada@example.com"),
        ("/api/v1/sessions/email", "nobody@example.com"),
        ("/api/v1/password/forgot", "nobody@example.com"),
        ("/api/v1/sessions/email", "bea@example.com"),
    ] {
        let reply = app.post(path, None, json!({"email": email})).await;
        reply.assert_status(202);
        assert_eq!(
            reply.body,
            json!({"status": "email_sent"}),
            "{path} {email}"
        );
    }
    // Only Bea's arrives; the outbox holds nothing else.
    nth_mail(&smtp, "bea@example.com", SIGN_IN, 2).await;
    let deliveries = app.store.deliveries(None, None, 100).await.unwrap();
    assert_eq!(deliveries.len(), sent_before + 1, "{deliveries:?}");
    assert_eq!(
        smtp.mails()
            .iter()
            .filter(|m| m.to.iter().any(|r| r.contains("nobody")))
            .count(),
        0
    );
    // Throttled by the address and purpose, known or not, after five an hour (one reset was
    // asked above; the sign-in message asked for the same address counts apart).
    for _ in 0..4 {
        app.post(
            "/api/v1/password/forgot",
            None,
            json!({"email": "nobody@example.com"}),
        )
        .await
        .assert_status(202);
    }
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "nobody@example.com"}),
    )
    .await
    .assert_error(429, "too_many_attempts");
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "not an address"}),
    )
    .await
    .assert_error(422, "invalid_email");
}

async fn a_passwordless_account_proves_its_mailbox_to_change_two_factor(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    let token = passwordless(&app, &smtp, "bea@example.com").await;
    let enrolled = app.enroll(&token).await;
    enrolled.assert_status(201);
    let secret = enrolled.body["secret"].as_str().unwrap().to_owned();
    let code = crate::helpers::totp_code(&secret, app.clock_now());
    app.confirm(&token, &code).await.assert_status(200);
    app.clock.advance(30);
    // A password proves nothing for an account without one.
    let refused = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/me/two-factor",
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    refused.assert_error(403, "confirmation_failed");
    app.post("/api/v1/me/email/proof", Some(&token), json!({}))
        .await
        .assert_status(202);
    let proof = code_in(&nth_mail(&smtp, "bea@example.com", PROOF, 1).await);
    let turned_off = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/me/two-factor",
            Some(&token),
            Some(json!({"email_code": proof})),
        )
        .await;
    turned_off.assert_status(200);
    // Used up.
    let again = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/me/two-factor",
            Some(&token),
            Some(json!({"email_code": proof})),
        )
        .await;
    assert_eq!(
        again.status, 409,
        "two-factor is off already: {:?}",
        again.body
    );
}

async fn a_passwordless_account_with_two_factor_still_meets_the_challenge(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    let token = passwordless(&app, &smtp, "bea@example.com").await;
    let enrolled = app.enroll(&token).await;
    let secret = enrolled.body["secret"].as_str().unwrap().to_owned();
    let code = crate::helpers::totp_code(&secret, app.clock_now());
    app.confirm(&token, &code).await.assert_status(200);
    app.post(
        "/api/v1/sessions/email",
        None,
        json!({"email": "bea@example.com"}),
    )
    .await
    .assert_status(202);
    let link = link_token(
        &nth_mail(&smtp, "bea@example.com", SIGN_IN, 2).await,
        "/login/email/",
    );
    let step = app
        .post(
            "/api/v1/sessions/email/verify",
            None,
            json!({"token": link}),
        )
        .await;
    step.assert_status(200);
    assert_eq!(step.body["status"], "two_factor_required");
    app.clock.advance(30);
    let challenge = step.body["challenge"]["token"].as_str().unwrap();
    let code = crate::helpers::totp_code(&secret, app.clock_now());
    app.answer_code(challenge, &code).await.assert_status(201);
}

async fn a_forgotten_password_is_reset_by_link_and_two_factor_still_asks(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    let enrolled = app.enrolled("ada@example.com").await;
    let old_session = enrolled.token.clone();
    // Sign-up's verification link, then the reset link.
    nth_mail(&smtp, "ada@example.com", VERIFY, 1).await;
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "Ada@Example.com"}),
    )
    .await
    .assert_status(202);
    let mail = nth_mail(&smtp, "ada@example.com", RESET, 1).await;
    assert!(
        text(&mail).contains("Reset your password"),
        "{}",
        text(&mail)
    );
    let token = link_token(&mail, "/reset-password/");
    // A weak password is refused and the link still works.
    app.post(
        "/api/v1/password/reset",
        None,
        json!({"token": token, "new_password": "password"}),
    )
    .await
    .assert_error(422, "weak_password");
    let new_password = "an entirely new horse battery";
    let reset = app
        .post(
            "/api/v1/password/reset",
            None,
            json!({"token": token, "new_password": new_password}),
        )
        .await;
    reset.assert_status(200);
    app.post(
        "/api/v1/password/reset",
        None,
        json!({"token": token, "new_password": "yet another fine passphrase"}),
    )
    .await
    .assert_error(422, "invalid_token");
    // Every session ended; the old password is gone; two-factor still asks.
    app.get("/api/v1/me", Some(&old_session))
        .await
        .assert_error(401, "unauthenticated");
    app.sign_in("ada@example.com", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    let step = app.sign_in("ada@example.com", new_password).await;
    step.assert_status(200);
    assert_eq!(step.body["status"], "two_factor_required");
    // Recorded, and the owner told.
    let notice = nth_mail(&smtp, "ada@example.com", "Your password was reset", 1).await;
    assert!(
        text(&notice).contains("password was reset"),
        "{}",
        text(&notice)
    );
    app.clock.advance(30);
    let challenge = step.body["challenge"]["token"].as_str().unwrap();
    let signed_in = app
        .answer_code(challenge, &app.code(&enrolled.secret))
        .await;
    signed_in.assert_status(201);
    let session = signed_in.body["token"].as_str().unwrap();
    let kinds = app.event_kinds(session).await;
    assert!(kinds.contains(&"password_reset".to_owned()), "{kinds:?}");
    let me = app.get("/api/v1/me", Some(session)).await;
    assert_eq!(
        me.body["email_verified"], true,
        "a reset proves the mailbox"
    );
}

async fn a_password_change_needs_a_proof_and_ends_the_other_sessions(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    let here = session_of(&app, "ada@example.com").await;
    let elsewhere = session_of(&app, "ada@example.com").await;
    let new_password = "a different long passphrase";
    let change = |proof: serde_json::Value| {
        let mut body = json!({"new_password": new_password});
        body.as_object_mut()
            .unwrap()
            .extend(proof.as_object().unwrap().clone());
        let (app, here) = (&app, here.clone());
        async move {
            app.request(
                reqwest::Method::PUT,
                "/api/v1/me/password",
                Some(&here),
                Some(body),
            )
            .await
        }
    };
    change(json!({"password": "not the password"}))
        .await
        .assert_error(403, "confirmation_failed");
    change(json!({}))
        .await
        .assert_error(403, "confirmation_failed");
    app.get("/api/v1/me", Some(&elsewhere))
        .await
        .assert_status(200);
    change(json!({"password": PASSWORD}))
        .await
        .assert_status(200);
    app.get("/api/v1/me", Some(&here)).await.assert_status(200);
    app.get("/api/v1/me", Some(&elsewhere))
        .await
        .assert_error(401, "unauthenticated");
    app.sign_in("ada@example.com", new_password)
        .await
        .assert_status(201);
    let notice = nth_mail(&smtp, "ada@example.com", "Your password was changed", 1).await;
    assert!(
        text(&notice).contains("password was changed"),
        "{}",
        text(&notice)
    );
}

async fn without_smtp_the_email_flows_answer_503(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    let token = session_of(&app, "ada@example.com").await;
    for (path, auth, body) in [
        (
            "/api/v1/sessions/email",
            None,
            json!({"email": "ada@example.com"}),
        ),
        (
            "/api/v1/password/forgot",
            None,
            json!({"email": "ada@example.com"}),
        ),
        (
            "/api/v1/accounts",
            None,
            json!({"email": "bea@example.com"}),
        ),
        (
            "/api/v1/me/email/verification",
            Some(token.as_str()),
            json!({}),
        ),
        ("/api/v1/me/email/proof", Some(token.as_str()), json!({})),
    ] {
        app.post(path, auth, body)
            .await
            .assert_error(503, "email_unavailable");
    }
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["email_verified"], false);
}

/// Two PostgreSQL nodes, each answering half of 16 racers with the same message's link or
/// code: exactly one session.
async fn two_nodes_racing_one_email_sign_in_make_one_session(backend: Backend) {
    let (first, smtp) = mailing_app(backend).await;
    passwordless(&first, &smtp, "bea@example.com").await;
    let second = respawn_with(&first, |file| with_smtp(file, &smtp)).await;
    first
        .post(
            "/api/v1/sessions/email",
            None,
            json!({"email": "bea@example.com"}),
        )
        .await
        .assert_status(202);
    let mail = nth_mail(&smtp, "bea@example.com", SIGN_IN, 2).await;
    let (link, code) = (link_token(&mail, "/login/email/"), code_in(&mail));
    let racers = (0..16).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        let body = if n % 4 < 2 {
            json!({"token": link})
        } else {
            json!({"email": "bea@example.com", "code": code})
        };
        async move {
            app.post("/api/v1/sessions/email/verify", None, body)
                .await
                .status
        }
    });
    let statuses = join_all(racers).await;
    assert_eq!(
        statuses.iter().filter(|status| **status == 201).count(),
        1,
        "{statuses:?}"
    );
}

/// Each link page: its GET (as a mail scanner's prefetch) says what it is for and spends
/// nothing, however often; only its button's POST does, once.
async fn a_link_page_spends_nothing_until_its_button_is_pressed(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    app.post(
        "/api/v1/accounts",
        None,
        json!({"email": "bea@example.com"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "ada@example.com"}),
    )
    .await
    .assert_status(202);
    let verify = link_token(
        &nth_mail(&smtp, "ada@example.com", VERIFY, 1).await,
        "/verify-email/",
    );
    let sign_in = link_token(
        &nth_mail(&smtp, "bea@example.com", SIGN_IN, 1).await,
        "/login/email/",
    );
    let reset = link_token(
        &nth_mail(&smtp, "ada@example.com", RESET, 1).await,
        "/reset-password/",
    );
    let pages = [
        (
            format!("/verify-email/{verify}"),
            "Confirm ada@example.com",
            vec![],
        ),
        (
            format!("/login/email/{sign_in}"),
            "Sign in as bea@example.com",
            vec![],
        ),
        (
            format!("/reset-password/{reset}"),
            "new password for ada@example.com",
            vec![("new_password", "a brand new passphrase here")],
        ),
    ];
    for (path, says, fields) in pages {
        for _ in 0..3 {
            let html = app.client.get(app.url(&path)).send().await.unwrap();
            assert_eq!(html.status(), 200, "{path}");
            let html = html.text().await.unwrap();
            assert!(html.contains(says), "{path}: {html}");
            assert!(
                html.contains(&format!("action=\"{path}\"")),
                "{path}: one button"
            );
        }
        let html = app.client.get(app.url(&path)).send().await.unwrap();
        let csrf = csrf_of(&html.text().await.unwrap());
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields.iter().copied());
        let pressed = app
            .client
            .post(app.url(&path))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            pressed.status().is_success() || pressed.status().is_redirection(),
            "{path}: {}",
            pressed.status()
        );
        let again = app.client.get(app.url(&path)).send().await.unwrap();
        let again = again.text().await.unwrap();
        assert!(
            again.contains("This link does not work"),
            "{path}: spent once"
        );
    }
    // What the buttons did: Ada's address verified and her password replaced.
    app.sign_in("ada@example.com", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    let ada = app
        .sign_in("ada@example.com", "a brand new passphrase here")
        .await;
    ada.assert_status(201);
    let ada = ada.body["token"].as_str().unwrap();
    let kinds = app.event_kinds(ada).await;
    for kind in ["email_verified", "password_reset"] {
        assert!(kinds.contains(&kind.to_owned()), "{kind}: {kinds:?}");
    }
}

async fn a_suspended_account_signs_in_by_email_no_more(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    passwordless(&app, &smtp, "bea@example.com").await;
    app.post(
        "/api/v1/sessions/email",
        None,
        json!({"email": "bea@example.com"}),
    )
    .await
    .assert_status(202);
    let link = link_token(
        &nth_mail(&smtp, "bea@example.com", SIGN_IN, 2).await,
        "/login/email/",
    );
    let admin = app.admin_signed_in("root@example.com").await;
    let bea = app
        .store
        .account_by_email(&deadbolt::domain::email::Email::parse("bea@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    app.post(
        &format!("/api/v1/admin/accounts/{}/suspend", bea.id.as_str()),
        Some(&admin),
        json!({"reason": "abuse report"}),
    )
    .await
    .assert_status(200);
    // A link sent before dies with the suspension.
    app.post(
        "/api/v1/sessions/email/verify",
        None,
        json!({"token": link}),
    )
    .await
    .assert_error(422, "invalid_token");
    // No new link goes out; the answer is the same.
    let before = app.store.deliveries(None, None, 100).await.unwrap().len();
    app.post(
        "/api/v1/sessions/email",
        None,
        json!({"email": "bea@example.com"}),
    )
    .await
    .assert_status(202);
    let after = app.store.deliveries(None, None, 100).await.unwrap();
    assert_eq!(after.len(), before, "{after:?}");
}

async fn a_deleted_account_is_told_at_its_former_address(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    let token = session_of(&app, "ada@example.com").await;
    app.request(
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(&token),
        Some(json!({"password": PASSWORD})),
    )
    .await
    .assert_status(204);
    let farewell = nth_mail(&smtp, "ada@example.com", "account was deleted", 1).await;
    assert!(
        text(&farewell).contains("at your request"),
        "{}",
        text(&farewell)
    );
}

async fn an_address_change_waits_for_its_link_and_tells_the_old_address(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    for email in ["ada@example.com", "bea@example.com"] {
        app.create_account(email, PASSWORD).await.assert_status(201);
    }
    let token = session_of(&app, "ada@example.com").await;
    let change = |body: serde_json::Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.request(
                reqwest::Method::PUT,
                "/api/v1/me/email",
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    change(json!({"email": "ada@new.example", "password": "not it"}))
        .await
        .assert_error(403, "confirmation_failed");
    change(json!({"email": "Ada@Example.com", "password": PASSWORD}))
        .await
        .assert_error(422, "invalid_body");
    change(json!({"email": "bea@example.com", "password": PASSWORD}))
        .await
        .assert_error(409, "email_taken");
    let asked = change(json!({"email": "ada@new.example", "password": PASSWORD})).await;
    asked.assert_status(202);
    // Nothing moves until the link is used.
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["email"], "ada@example.com");
    let mail = nth_mail(
        &smtp,
        "ada@new.example",
        "Confirm your new e-mail address",
        1,
    )
    .await;
    let link = link_token(&mail, "/verify-email/");
    let moved = app
        .post("/api/v1/email/verify", None, json!({"token": link}))
        .await;
    moved.assert_status(200);
    assert_eq!(moved.body["email"], "ada@new.example");
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["email"], "ada@new.example");
    assert_eq!(me.body["email_verified"], true);
    app.sign_in("ada@example.com", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    app.sign_in("ada@new.example", PASSWORD)
        .await
        .assert_status(201);
    let notice = nth_mail(&smtp, "ada@example.com", "address was changed", 1).await;
    assert!(
        text(&notice).contains("ada@new.example"),
        "{}",
        text(&notice)
    );
    assert!(app
        .event_kinds(&token)
        .await
        .contains(&"email_changed".to_owned()));
}

/// A message asked for before an account moves, takes a new password or is suspended proves
/// nothing after: a thief's pending address change dies with the owner's password reset, a
/// code sent to the old address signs in no more, a sign-in link dies when a password is
/// set, and a suspended account is sent no reset link.
async fn what_was_sent_before_dies_with_a_new_address_password_or_suspension(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    // A thief holding Ada's session and password asks to move her account to their address.
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    let stolen = session_of(&app, "ada@example.com").await;
    let body = json!({"email": "thief@evil.example", "password": PASSWORD});
    app.request(
        reqwest::Method::PUT,
        "/api/v1/me/email",
        Some(&stolen),
        Some(body),
    )
    .await
    .assert_status(202);
    let theirs = link_token(
        &nth_mail(&smtp, "thief@evil.example", "new e-mail address", 1).await,
        "/verify-email/",
    );
    // Ada resets her password by e-mail: the thief's link dies with every session.
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "ada@example.com"}),
    )
    .await
    .assert_status(202);
    let reset = link_token(
        &nth_mail(&smtp, "ada@example.com", RESET, 1).await,
        "/reset-password/",
    );
    let new_password = "a long fresh passphrase here";
    app.post(
        "/api/v1/password/reset",
        None,
        json!({"token": reset, "new_password": new_password}),
    )
    .await
    .assert_status(200);
    app.post("/api/v1/email/verify", None, json!({"token": theirs}))
        .await
        .assert_error(422, "invalid_token");
    let ada = app.sign_in("ada@example.com", new_password).await;
    ada.assert_status(201);

    // Bea, without a password, moves to a new address: a code sent to the old one before
    // signs in no more.
    let bea = passwordless(&app, &smtp, "bea@example.com").await;
    app.post(
        "/api/v1/sessions/email",
        None,
        json!({"email": "bea@example.com"}),
    )
    .await
    .assert_status(202);
    let old_code = code_in(&nth_mail(&smtp, "bea@example.com", SIGN_IN, 2).await);
    app.post("/api/v1/me/email/proof", Some(&bea), json!({}))
        .await
        .assert_status(202);
    let proof = code_in(&nth_mail(&smtp, "bea@example.com", PROOF, 1).await);
    let body = json!({"email": "bea@new.example", "email_code": proof});
    app.request(
        reqwest::Method::PUT,
        "/api/v1/me/email",
        Some(&bea),
        Some(body),
    )
    .await
    .assert_status(202);
    let moving = link_token(
        &nth_mail(&smtp, "bea@new.example", "new e-mail address", 1).await,
        "/verify-email/",
    );
    app.post("/api/v1/email/verify", None, json!({"token": moving}))
        .await
        .assert_status(200);
    app.post(
        "/api/v1/sessions/email/verify",
        None,
        json!({"email": "bea@example.com", "code": old_code}),
    )
    .await
    .assert_error(401, "invalid_code");

    // A sign-in link asked for before Bea sets a password dies when she does.
    app.post(
        "/api/v1/sessions/email",
        None,
        json!({"email": "bea@new.example"}),
    )
    .await
    .assert_status(202);
    let link = link_token(
        &nth_mail(&smtp, "bea@new.example", SIGN_IN, 1).await,
        "/login/email/",
    );
    app.post("/api/v1/me/email/proof", Some(&bea), json!({}))
        .await
        .assert_status(202);
    let proof = code_in(&nth_mail(&smtp, "bea@new.example", PROOF, 1).await);
    let body = json!({"new_password": new_password, "email_code": proof});
    app.request(
        reqwest::Method::PUT,
        "/api/v1/me/password",
        Some(&bea),
        Some(body),
    )
    .await
    .assert_status(200);
    app.post(
        "/api/v1/sessions/email/verify",
        None,
        json!({"token": link}),
    )
    .await
    .assert_error(422, "invalid_token");

    // A suspended account is sent no reset link, and a link sent before dies.
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "ada@example.com"}),
    )
    .await
    .assert_status(202);
    let before = link_token(
        &nth_mail(&smtp, "ada@example.com", RESET, 2).await,
        "/reset-password/",
    );
    let admin = app.admin_signed_in("root@example.com").await;
    let id = app.account_id(ada.body["token"].as_str().unwrap()).await;
    app.post(
        &format!("/api/v1/admin/accounts/{id}/suspend"),
        Some(&admin),
        json!({"reason": "abuse report"}),
    )
    .await
    .assert_status(200);
    app.post(
        "/api/v1/password/reset",
        None,
        json!({"token": before, "new_password": "another long passphrase"}),
    )
    .await
    .assert_error(422, "invalid_token");
    let sent = app.store.deliveries(None, None, 100).await.unwrap().len();
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "ada@example.com"}),
    )
    .await
    .assert_status(202);
    assert_eq!(
        app.store.deliveries(None, None, 100).await.unwrap().len(),
        sent
    );
}
