//! Signing in with a passkey alone (SPEC §13): with user verification it is two factors in
//! one (`amr` `hwk`/`swk`, `user`, `mfa`); without it, never; its ceremony answers once
//! and lapses; its user handle must be its credential's.

use deadbolt::domain::ids::SessionId;
use deadbolt::domain::oidc::SignInRecord;
use serde_json::{json, Value};

use super::soft_key::SoftKey;
use super::{webauthn_app, ORIGIN};
use crate::helpers::{Backend, Reply, TestApp};

backend_tests!(
    a_passkey_that_verifies_its_user_signs_in_alone_as_two_factors,
    without_user_verification_a_passkey_never_signs_in_alone,
    a_passkey_answer_is_used_once_and_lapses_after_five_minutes,
    a_passkey_must_name_its_own_user,
    passkey_options_and_refused_answers_are_throttled_by_client_address,
);

impl TestApp {
    /// `POST /sessions/passkey`: the options.
    pub async fn passkey_options(&self) -> Value {
        let options = self.post("/api/v1/sessions/passkey", None, json!({})).await;
        options.assert_status(200);
        options.body
    }

    /// `POST /sessions/passkey/finish`.
    pub async fn finish_passkey(&self, answer: &Value) -> Reply {
        self.post(
            "/api/v1/sessions/passkey/finish",
            None,
            json!({"credential": answer}),
        )
        .await
    }

    /// The `amr` an ID token of the session `id` would carry.
    pub async fn session_amr(&self, id: &str) -> Vec<String> {
        let (methods, at) = self
            .store
            .session_sign_in(&SessionId(id.to_owned()))
            .await
            .unwrap()
            .unwrap();
        SignInRecord::parse(&methods, at).amr()
    }
}

async fn a_passkey_that_verifies_its_user_signs_in_alone_as_two_factors(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut key = SoftKey::new(ORIGIN);
    app.with_key("ada@example.com", &mut key).await;
    let options = app.passkey_options().await;
    // Any passkey of this site may answer, and it must verify its user.
    assert!(options["publicKey"]["allowCredentials"]
        .as_array()
        .is_none_or(Vec::is_empty));
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert!(options.get("mediation").is_none(), "{options}");
    let signed_in = app.finish_passkey(&key.get(&options)).await;
    signed_in.assert_status(201);
    assert_eq!(signed_in.body["status"], "authenticated");
    let token = signed_in.body["token"].as_str().unwrap();
    app.get("/api/v1/me", Some(token)).await.assert_status(200);
    let session = signed_in.body["session"]["id"].as_str().unwrap();
    assert_eq!(app.session_amr(session).await, ["hwk", "user", "mfa"]);
    let kinds = app.event_kinds(token).await;
    assert_eq!(
        kinds[..2],
        ["sign_in_succeeded", "webauthn_used"],
        "{kinds:?}"
    );

    // A synced passkey is a software key.
    let mut synced = SoftKey::new(ORIGIN);
    synced.backup_eligible = true;
    app.with_key("bea@example.com", &mut synced).await;
    let signed_in = app
        .finish_passkey(&synced.get(&app.passkey_options().await))
        .await;
    signed_in.assert_status(201);
    let session = signed_in.body["session"]["id"].as_str().unwrap();
    assert_eq!(app.session_amr(session).await, ["swk", "user", "mfa"]);
}

async fn without_user_verification_a_passkey_never_signs_in_alone(backend: Backend) {
    let app = webauthn_app(backend).await;
    // A discoverable key without a PIN or biometric: a second factor, never a passkey.
    let mut key = SoftKey::new(ORIGIN);
    key.user_verifies = false;
    let token = app.with_key("ada@example.com", &mut key).await;
    let options = app.passkey_options().await;
    let answer = key.get(&options);
    app.finish_passkey(&answer)
        .await
        .assert_error(401, "invalid_webauthn");
    // It still serves as the second factor after the password.
    app.sign_in_with_key("ada@example.com", &mut key)
        .await
        .assert_status(201);
    let kinds = app.event_kinds(&token).await;
    assert!(
        !kinds.contains(&"webauthn_counter_anomaly".to_owned()),
        "{kinds:?}"
    );
}

async fn a_passkey_answer_is_used_once_and_lapses_after_five_minutes(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut key = SoftKey::new(ORIGIN);
    app.with_key("ada@example.com", &mut key).await;
    let answer = key.get(&app.passkey_options().await);
    app.finish_passkey(&answer).await.assert_status(201);
    app.finish_passkey(&answer)
        .await
        .assert_error(409, "invalid_ceremony");
    let options = app.passkey_options().await;
    app.clock.advance(300);
    app.finish_passkey(&key.get(&options))
        .await
        .assert_error(409, "invalid_ceremony");
}

/// The user handle a passkey returns must be that of its credential's account: Bea's key
/// answering with Ada's handle signs nobody in.
async fn a_passkey_must_name_its_own_user(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut ada = SoftKey::new(ORIGIN);
    app.with_key("ada@example.com", &mut ada).await;
    let mut bea = SoftKey::new(ORIGIN);
    app.with_key("bea@example.com", &mut bea).await;
    let ada_handle = ada.get(&app.passkey_options().await)["response"]["userHandle"].clone();
    let mut answer = bea.get(&app.passkey_options().await);
    answer["response"]["userHandle"] = ada_handle;
    app.finish_passkey(&answer)
        .await
        .assert_error(401, "invalid_webauthn");
}

/// Asking needs no account, so both steps count against the client address: 300 options in
/// 15 minutes, and 100 refused answers (a right one is taken back).
async fn passkey_options_and_refused_answers_are_throttled_by_client_address(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut key = SoftKey::new(ORIGIN);
    app.with_key("ada@example.com", &mut key).await;
    let options = app.passkey_options().await;
    let answer = key.get(&options);
    app.finish_passkey(&answer).await.assert_status(201);
    // The spent answer again, refused each time, until the address is throttled.
    for _ in 0..100 {
        app.finish_passkey(&answer)
            .await
            .assert_error(409, "invalid_ceremony");
    }
    app.finish_passkey(&answer)
        .await
        .assert_error(429, "too_many_attempts");
    // A right answer from there waits too; a quarter of an hour later one signs in.
    let fresh = key.get(&app.passkey_options().await);
    app.finish_passkey(&fresh)
        .await
        .assert_error(429, "too_many_attempts");
    app.clock.advance(15 * 60);
    let fresh = key.get(&app.passkey_options().await);
    app.finish_passkey(&fresh).await.assert_status(201);

    // Options: 300 from one address in 15 minutes (one asked in this window), then none.
    for _ in 1..300 {
        app.passkey_options().await;
    }
    app.post("/api/v1/sessions/passkey", None, json!({}))
        .await
        .assert_error(429, "too_many_attempts");
    app.clock.advance(15 * 60);
    app.passkey_options().await;
}
