//! A security key or passkey as the second factor (SPEC §13): it turns two-factor on, is
//! offered by the challenge and answers it, is a proof; a replayed answer, a lapsed
//! ceremony and a counter that goes backwards are refused; two PostgreSQL nodes share its
//! ceremonies.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use super::soft_key::SoftKey;
use super::{webauthn_app, ORIGIN};
use crate::helpers::{respawn_with, Backend, Reply, TestApp, PASSWORD};

backend_tests!(
    a_key_alone_turns_two_factor_on_and_answers_the_challenge,
    a_spent_answer_is_refused_and_counted,
    a_counter_that_goes_backwards_is_refused_and_recorded,
    a_key_confirms_a_change_once_and_not_after_five_minutes,
    turning_two_factor_off_removes_the_keys_too,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_share_the_ceremony_and_one_answer_signs_in_once() {
        if let Some(backend) = crate::helpers::Backend::postgres() {
            super::two_nodes_share_the_ceremony_and_one_answer_signs_in_once(backend).await
        }
    }
}

impl TestApp {
    /// An account with one security key (its first second factor); its session token.
    pub async fn with_key(&self, email: &str, key: &mut SoftKey) -> String {
        let token = self.signed_in(email).await;
        self.register_key(&token, key, "Key")
            .await
            .assert_status(201);
        token
    }

    /// `POST /sessions/challenge/webauthn`: the request options.
    pub async fn challenge_options(&self, challenge: &str) -> Reply {
        self.post(
            "/api/v1/sessions/challenge/webauthn",
            None,
            json!({"challenge_token": challenge}),
        )
        .await
    }

    /// `POST /sessions/challenge` with a WebAuthn answer.
    pub async fn answer_webauthn(&self, challenge: &str, answer: &Value) -> Reply {
        self.post(
            "/api/v1/sessions/challenge",
            None,
            json!({"challenge_token": challenge, "webauthn": answer}),
        )
        .await
    }

    /// Signs in with the password and `key`.
    pub async fn sign_in_with_key(&self, email: &str, key: &mut SoftKey) -> Reply {
        let challenge = self.challenge(email).await;
        let options = self.challenge_options(&challenge).await;
        options.assert_status(200);
        let answer = key.get(&options.body);
        self.answer_webauthn(&challenge, &answer).await
    }
}

async fn a_key_alone_turns_two_factor_on_and_answers_the_challenge(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut key = SoftKey::new(ORIGIN);
    let token = app.with_key("ada@example.com", &mut key).await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["two_factor"]["state"], "enabled", "{}", me.text);
    assert_eq!(me.body["two_factor"]["recovery_codes_remaining"], 8);

    let signed_in = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(signed_in.body["status"], "two_factor_required");
    let methods = &signed_in.body["challenge"]["methods"];
    assert_eq!(
        *methods,
        json!(["webauthn", "recovery_code"]),
        "{}",
        signed_in.text
    );
    let challenge = signed_in.body["challenge"]["token"].as_str().unwrap();
    // A code answers nothing for an account without an authenticator app.
    app.answer_code(challenge, "123456")
        .await
        .assert_error(409, "not_enabled");
    let options = app.challenge_options(challenge).await;
    options.assert_status(200);
    let allowed = options.body["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(allowed.len(), 1, "{}", options.text);
    let answer = key.get(&options.body);
    let done = app.answer_webauthn(challenge, &answer).await;
    done.assert_status(201);
    let session = done.body["token"].as_str().unwrap();
    app.get("/api/v1/me", Some(session))
        .await
        .assert_status(200);
    let kinds = app.event_kinds(session).await;
    assert_eq!(
        kinds[..2],
        ["sign_in_succeeded", "webauthn_used"],
        "{kinds:?}"
    );
    // An unknown challenge gets no options.
    app.challenge_options("no-such-challenge")
        .await
        .assert_error(401, "invalid_challenge");
}

/// The answer to one challenge's options, given again (to the same challenge or the next):
/// its ceremony is spent, so it is refused, and counted like a wrong code.
async fn a_spent_answer_is_refused_and_counted(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut key = SoftKey::new(ORIGIN);
    app.with_key("ada@example.com", &mut key).await;
    let challenge = app.challenge("ada@example.com").await;
    let options = app.challenge_options(&challenge).await;
    let answer = key.get(&options.body);
    app.answer_webauthn(&challenge, &answer)
        .await
        .assert_status(201);
    let next = app.challenge("ada@example.com").await;
    app.answer_webauthn(&next, &answer)
        .await
        .assert_error(409, "invalid_ceremony");
    // An answer to options the next challenge never asked for is no better.
    let options = app.challenge_options(&next).await;
    let mut forged = key.get(&options.body);
    forged["response"]["signature"] = answer["response"]["signature"].clone();
    app.answer_webauthn(&next, &forged)
        .await
        .assert_error(401, "invalid_webauthn");
    let signed_in = app.sign_in_with_key("ada@example.com", &mut key).await;
    signed_in.assert_status(201);
    let kinds = app
        .event_kinds(signed_in.body["token"].as_str().unwrap())
        .await;
    let failed = kinds.iter().filter(|k| *k == "challenge_failed").count();
    assert_eq!(failed, 2, "{kinds:?}");
}

/// A copy of a key that fell behind the original answers with a counter that does not move
/// forward: refused, recorded, and the owner told.
async fn a_counter_that_goes_backwards_is_refused_and_recorded(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut key = SoftKey::new(ORIGIN);
    let token = app.with_key("ada@example.com", &mut key).await;
    let mut copy = key.clone();
    app.sign_in_with_key("ada@example.com", &mut key)
        .await
        .assert_status(201);
    app.sign_in_with_key("ada@example.com", &mut copy)
        .await
        .assert_error(401, "invalid_webauthn");
    let kinds = app.event_kinds(&token).await;
    assert!(
        kinds.contains(&"webauthn_counter_anomaly".to_owned()),
        "{kinds:?}"
    );
    // The original, ahead, still signs in.
    app.sign_in_with_key("ada@example.com", &mut key)
        .await
        .assert_status(201);
    // A key that keeps no counter (always 0) is not an anomaly.
    let mut counterless = SoftKey::new(ORIGIN);
    counterless.counter = None;
    app.with_key("bea@example.com", &mut counterless).await;
    for _ in 0..2 {
        app.sign_in_with_key("bea@example.com", &mut counterless)
            .await
            .assert_status(201);
    }
}

async fn a_key_confirms_a_change_once_and_not_after_five_minutes(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut key = SoftKey::new(ORIGIN);
    let token = app.with_key("ada@example.com", &mut key).await;
    let mut second = SoftKey::new(ORIGIN);
    app.register_key(&token, &mut second, "Second")
        .await
        .assert_status(201);
    let listed = app.credentials(&token).await;
    let path = format!("/api/v1/me/webauthn/{}", listed[1].0);
    let proof_options = || app.post("/api/v1/me/webauthn/proof", Some(&token), json!({}));
    // Lapsed options prove nothing.
    let options = proof_options().await;
    options.assert_status(200);
    app.clock.advance(301);
    let late = key.get(&options.body);
    app.request(
        Method::DELETE,
        &path,
        Some(&token),
        Some(json!({"webauthn": late})),
    )
    .await
    .assert_error(403, "confirmation_failed");
    let options = proof_options().await;
    let answer = key.get(&options.body);
    let remove = |proof: Value| app.request(Method::DELETE, &path, Some(&token), Some(proof));
    remove(json!({"webauthn": answer})).await.assert_status(204);
    assert_eq!(app.credentials(&token).await.len(), 1);
    // The same answer again proves nothing.
    let path = format!("/api/v1/me/webauthn/{}", listed[0].0);
    app.request(
        Method::DELETE,
        &path,
        Some(&token),
        Some(json!({"webauthn": answer})),
    )
    .await
    .assert_error(403, "confirmation_failed");
    assert!(app
        .event_kinds(&token)
        .await
        .contains(&"webauthn_used".to_owned()));
}

async fn turning_two_factor_off_removes_the_keys_too(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut key = SoftKey::new(ORIGIN);
    let token = app.with_key("ada@example.com", &mut key).await;
    app.turn_off_two_factor(&token).await;
    assert!(app.credentials(&token).await.is_empty());
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(
        me.body["two_factor"]["state"], "not_configured",
        "{}",
        me.text
    );
    let signed_in = app.sign_in("ada@example.com", PASSWORD).await;
    signed_in.assert_status(201);
}

/// Options from one node answered on the other sign in; 16 racers, half on each node, with
/// one answer: exactly one session.
async fn two_nodes_share_the_ceremony_and_one_answer_signs_in_once(backend: Backend) {
    let first = webauthn_app(backend).await;
    let second = respawn_with(&first, |file| file.public_url = Some(ORIGIN.to_owned())).await;
    let mut key = SoftKey::new(ORIGIN);
    first.with_key("ada@example.com", &mut key).await;
    let challenge = first.challenge("ada@example.com").await;
    let options = first.challenge_options(&challenge).await;
    let answer = key.get(&options.body);
    second
        .answer_webauthn(&challenge, &answer)
        .await
        .assert_status(201);

    let challenge = second.challenge("ada@example.com").await;
    let options = second.challenge_options(&challenge).await;
    let answer = key.get(&options.body);
    let racers = (0..16).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        let (challenge, answer) = (&challenge, &answer);
        async move { app.answer_webauthn(challenge, answer).await.status }
    });
    let statuses = join_all(racers).await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 1, "{statuses:?}");
}
