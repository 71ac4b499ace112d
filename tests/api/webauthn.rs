//! Security keys and passkeys (SPEC §13), with a software authenticator (`soft_key.rs`)
//! answering the real ceremonies: registering, listing, renaming, removing; ceremonies used
//! once, lapsing after 5 minutes, and finished on another PostgreSQL node.

mod enforcement;
mod passkey;
mod second_factor;
pub mod soft_key;

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{respawn_with, spawn_app, spawn_app_with, Backend, Reply, TestApp, PASSWORD};
use soft_key::SoftKey;

backend_tests!(
    a_key_is_registered_listed_renamed_and_removed_behind_a_proof,
    a_finished_registration_cannot_be_replayed,
    a_registration_ceremony_lapses_after_five_minutes,
    answers_from_another_origin_or_to_another_accounts_options_are_refused,
    without_a_domain_name_in_public_url_webauthn_is_unavailable,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ceremony_started_on_one_node_is_finished_on_the_other_once() {
        if let Some(backend) = crate::helpers::Backend::postgres() {
            super::a_ceremony_started_on_one_node_is_finished_on_the_other_once(backend).await
        }
    }
}

/// The public URL of the WebAuthn tests: its host, `localhost`, is the relying party id.
pub const ORIGIN: &str = "http://localhost:8080";

/// An app whose `public_url` is [`ORIGIN`].
pub async fn webauthn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |file| file.public_url = Some(ORIGIN.to_owned())).await
}

impl TestApp {
    /// `POST /me/webauthn/registration`: the creation options.
    pub async fn registration_options(&self, token: &str) -> Value {
        let options = self
            .post("/api/v1/me/webauthn/registration", Some(token), json!({}))
            .await;
        options.assert_status(200);
        options.body
    }

    /// `POST /me/webauthn/registration/finish` with `credential`.
    pub async fn finish_registration(&self, token: &str, name: &str, credential: &Value) -> Reply {
        self.post(
            "/api/v1/me/webauthn/registration/finish",
            Some(token),
            json!({"name": name, "credential": credential}),
        )
        .await
    }

    /// Registers a credential of `key` under `name`.
    pub async fn register_key(&self, token: &str, key: &mut SoftKey, name: &str) -> Reply {
        let options = self.registration_options(token).await;
        let credential = key.create(&options);
        self.finish_registration(token, name, &credential).await
    }

    /// `GET /me/webauthn`: the credentials' (id, name).
    pub async fn credentials(&self, token: &str) -> Vec<(String, String)> {
        let listed = self.get("/api/v1/me/webauthn", Some(token)).await;
        listed.assert_status(200);
        listed.body["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let field = |name: &str| c[name].as_str().unwrap().to_owned();
                (field("id"), field("name"))
            })
            .collect()
    }
}

async fn a_key_is_registered_listed_renamed_and_removed_behind_a_proof(backend: Backend) {
    let app = webauthn_app(backend).await;
    let token = app.signed_in("ada@example.com").await;
    let mut key = SoftKey::new(ORIGIN);
    let first = app.register_key(&token, &mut key, "  YubiKey 5 ").await;
    first.assert_status(201);
    assert_eq!(first.body["credential"]["name"], "YubiKey 5");
    // The first second factor comes with the recovery codes, shown once.
    let codes = first.body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 8, "{}", first.text);
    app.clock.advance(1);
    let mut phone = SoftKey::new(ORIGIN);
    let second = app.register_key(&token, &mut phone, "Phone").await;
    second.assert_status(201);
    assert!(
        second.body.get("recovery_codes").is_none(),
        "{}",
        second.text
    );
    let listed = app.credentials(&token).await;
    let names: Vec<&str> = listed.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(names, ["YubiKey 5", "Phone"]);
    let (key_id, phone_id) = (listed[0].0.clone(), listed[1].0.clone());

    let path = format!("/api/v1/me/webauthn/{key_id}");
    let rename = |name: &str| {
        app.request(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": name})),
        )
    };
    rename("Desk key").await.assert_status(204);
    rename(" ").await.assert_error(422, "invalid_body");
    rename(&"x".repeat(65))
        .await
        .assert_error(422, "invalid_body");
    assert_eq!(app.credentials(&token).await[0].1, "Desk key");
    // Another account's credential is not found.
    let other = app.signed_in("bea@example.com").await;
    app.request(
        Method::PATCH,
        &path,
        Some(&other),
        Some(json!({"name": "Mine"})),
    )
    .await
    .assert_error(404, "not_found");
    app.request(
        Method::DELETE,
        &path,
        Some(&other),
        Some(json!({"password": PASSWORD})),
    )
    .await
    .assert_error(404, "not_found");

    // Removing takes a proof; a wrong one changes nothing.
    let remove = |proof: Value| app.request(Method::DELETE, &path, Some(&token), Some(proof));
    remove(json!({}))
        .await
        .assert_error(403, "confirmation_failed");
    remove(json!({"password": "not the password"}))
        .await
        .assert_error(403, "confirmation_failed");
    assert_eq!(app.credentials(&token).await.len(), 2);
    remove(json!({"password": PASSWORD}))
        .await
        .assert_status(204);
    let left = app.credentials(&token).await;
    assert_eq!(left, [(phone_id, "Phone".to_owned())]);
    remove(json!({"password": PASSWORD}))
        .await
        .assert_error(404, "not_found");

    let kinds = app.event_kinds(&token).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "webauthn_added").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(kinds[0], "webauthn_removed", "{kinds:?}");
}

async fn a_finished_registration_cannot_be_replayed(backend: Backend) {
    let app = webauthn_app(backend).await;
    let token = app.signed_in("ada@example.com").await;
    let mut key = SoftKey::new(ORIGIN);
    let options = app.registration_options(&token).await;
    let credential = key.create(&options);
    app.finish_registration(&token, "Key", &credential)
        .await
        .assert_status(201);
    app.finish_registration(&token, "Key again", &credential)
        .await
        .assert_error(409, "invalid_ceremony");
    assert_eq!(app.credentials(&token).await.len(), 1);
}

async fn a_registration_ceremony_lapses_after_five_minutes(backend: Backend) {
    let app = webauthn_app(backend).await;
    let token = app.signed_in("ada@example.com").await;
    let mut key = SoftKey::new(ORIGIN);
    let options = app.registration_options(&token).await;
    app.clock.advance(299);
    let credential = key.create(&options);
    app.finish_registration(&token, "In time", &credential)
        .await
        .assert_status(201);
    let options = app.registration_options(&token).await;
    app.clock.advance(300);
    let credential = key.create(&options);
    app.finish_registration(&token, "Too late", &credential)
        .await
        .assert_error(409, "invalid_ceremony");
    assert_eq!(app.credentials(&token).await.len(), 1);
    // The lapsed ceremony is still kept until the purge takes it.
    let purged = app.store.purge_ceremonies(app.clock_now()).await.unwrap();
    assert_eq!(purged, 1);
}

async fn answers_from_another_origin_or_to_another_accounts_options_are_refused(backend: Backend) {
    let app = webauthn_app(backend).await;
    let ada = app.signed_in("ada@example.com").await;
    let bea = app.signed_in("bea@example.com").await;
    // A phishing site relays the options; its browser reports its own origin.
    let mut phished = SoftKey::new("http://localhost.evil.example:8080");
    app.register_key(&ada, &mut phished, "Phished")
        .await
        .assert_error(401, "invalid_webauthn");
    // Bea's options answered on Ada's session name no ceremony of Ada's (and Bea's is
    // spent by the attempt).
    let mut key = SoftKey::new(ORIGIN);
    let options = app.registration_options(&bea).await;
    let credential = key.create(&options);
    app.finish_registration(&ada, "Not mine", &credential)
        .await
        .assert_error(409, "invalid_ceremony");
    app.finish_registration(&bea, "Mine", &credential)
        .await
        .assert_error(409, "invalid_ceremony");
    assert!(app.credentials(&ada).await.is_empty());
    assert!(app.credentials(&bea).await.is_empty());
}

async fn without_a_domain_name_in_public_url_webauthn_is_unavailable(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.signed_in("ada@example.com").await;
    app.post("/api/v1/me/webauthn/registration", Some(&token), json!({}))
        .await
        .assert_error(409, "webauthn_unavailable");
    assert!(app.credentials(&token).await.is_empty());
}

/// Options from one node, answered on the other: it registers. Then 16 racers, half on
/// each node, answer one set of options with the same credential: exactly one registers,
/// and every other finds the ceremony spent.
async fn a_ceremony_started_on_one_node_is_finished_on_the_other_once(backend: Backend) {
    let first = webauthn_app(backend).await;
    let second = respawn_with(&first, |file| file.public_url = Some(ORIGIN.to_owned())).await;
    let token = first.signed_in("ada@example.com").await;
    let mut key = SoftKey::new(ORIGIN);
    let options = first.registration_options(&token).await;
    let credential = key.create(&options);
    second
        .finish_registration(&token, "Across", &credential)
        .await
        .assert_status(201);

    let options = second.registration_options(&token).await;
    let credential = key.create(&options);
    let racers = (0..16).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        let (token, credential) = (&token, &credential);
        async move { app.finish_registration(token, "Raced", credential).await }
    });
    let replies = join_all(racers).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.assert_error(409, "invalid_ceremony");
    }
    assert_eq!(first.credentials(&token).await.len(), 2);
}
