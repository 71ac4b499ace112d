//! Back-channel logout: a session that issued tokens to a client with a
//! `backchannel_logout_uri` ends, and a signed logout token reaches the client through the
//! durable queue, retried while the receiver fails.

use std::path::Path;

use deadbolt::config::{FileConfig, FileOidcClient};
use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

use super::driver::{authorize_url, claims_of, client, configure_clients, REDIRECT, VERIFIER};
use crate::helpers::{respawn_with, Backend, TestApp};
use crate::receivers::WebhookReceiver;

/// Tokens for `client_id` (public, trusted) under the session `token`.
async fn tokens_for(app: &TestApp, client_id: &str, token: &str) -> Value {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize_url(app, client_id, VERIFIER, &[]))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    let response = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Where `client_id`'s back-channel logouts stand, as the admin API says.
async fn logouts_of(app: &TestApp, admin: &str, client_id: &str) -> Value {
    let clients = app.get("/api/v1/admin/oidc/clients", Some(admin)).await;
    assert_eq!(clients.status, 200, "{}", clients.text);
    let mut all = clients.body["clients"].as_array().unwrap().iter();
    let found = all.find(|client| client["client_id"] == client_id);
    found.unwrap()["backchannel_logouts"].clone()
}

/// The test clients, and `bcl` (public, trusted) with a back-channel logout URI.
fn with_bcl(file: &mut FileConfig, secret_file: &Path, uri: &str) {
    configure_clients(file, secret_file);
    let clients = file.oidc.as_mut().unwrap().clients.as_mut().unwrap();
    clients.push(FileOidcClient {
        public: Some(true),
        trusted: Some(true),
        backchannel_logout_uri: Some(uri.to_owned()),
        ..client("bcl")
    });
}

async fn a_session_ending_sends_a_logout_token(backend: Backend) {
    let receiver = WebhookReceiver::start(1).await;
    let secrets = tempfile::tempdir().unwrap();
    let path = secrets.path().join("rp.secret");
    let mut app =
        crate::helpers::spawn_app_with(backend, |file| with_bcl(file, &path, &receiver.url)).await;
    let ivo = app.signed_in("ivo@example.com").await;
    let tokens = tokens_for(&app, "bcl", &ivo).await;
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    // A session that issued nothing to it tells it nothing.
    let other = app.signed_in("jo@example.com").await;
    tokens_for(&app, "spa", &other).await;
    app.delete("/api/v1/sessions/current", Some(&other))
        .await
        .assert_status(204);

    app.delete("/api/v1/sessions/current", Some(&ivo))
        .await
        .assert_status(204);
    // The receiver fails the first attempt; the retry is due 30 s later, and survives a
    // restart (the queue is in the database).
    receiver.wait_for(1).await;
    // An instance admin sees it waiting, with the failure.
    let root = app.admin_signed_in("root@example.com").await;
    let queue = logouts_of(&app, &root, "bcl").await;
    assert_eq!(
        (queue["waiting"].as_i64(), queue["delivered"].as_i64()),
        (Some(1), Some(0))
    );
    assert!(
        queue["last_error"].as_str().unwrap().contains("500"),
        "{queue}"
    );
    let page = app.get("/admin", Some(&root)).await.text;
    assert!(
        page.contains("back-channel logouts: 0 delivered, 1 waiting"),
        "{page}"
    );
    app.stop();
    let app = respawn_with(&app, |file| with_bcl(file, &path, &receiver.url)).await;
    app.clock.advance(31);
    let posted = receiver.wait_for(2).await;
    assert_eq!(posted.len(), 2);
    // The receiver answered before the worker records the delivery: wait for that commit.
    let mut queue = logouts_of(&app, &root, "bcl").await;
    for _ in 0..50 {
        if queue["delivered"].as_i64() == Some(1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        queue = logouts_of(&app, &root, "bcl").await;
    }
    assert_eq!(
        (queue["waiting"].as_i64(), queue["delivered"].as_i64()),
        (Some(0), Some(1))
    );
    assert!(queue["last_error"].is_null(), "{queue}");
    let delivered = &posted[1];
    assert_eq!(delivered.answered.as_u16(), 204);
    assert_eq!(
        delivered.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&delivered.body).unwrap();
    assert_eq!(form.len(), 1);
    assert_eq!(form[0].0, "logout_token");
    let logout = &form[0].1;
    let claims = claims_of(logout);
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    assert_eq!(claims["aud"], "bcl");
    assert_eq!(claims["iss"], id_token["iss"]);
    assert_eq!(claims["sub"], id_token["sub"]);
    assert_eq!(claims["sid"], id_token["sid"]);
    assert!(claims["jti"].is_string() && claims.get("nonce").is_none());
    // Signed like ID tokens: it verifies against the JWKS.
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(app.url("/oauth2/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(logout).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&["bcl"]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(
        logout,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap();
    // Nothing more is sent.
    app.clock.advance(3600);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(receiver.posted().len(), 2);
}

/// Deleting an account ends its sessions in the same transaction, and each client that holds
/// a token from one is told, though the account, its tokens and its sessions are gone by the
/// time the logout token is sent.
async fn deleting_an_account_sends_a_logout_token(backend: Backend) {
    let receiver = WebhookReceiver::start(0).await;
    let secrets = tempfile::tempdir().unwrap();
    let path = secrets.path().join("rp.secret");
    let app =
        crate::helpers::spawn_app_with(backend, |file| with_bcl(file, &path, &receiver.url)).await;
    let ivo = app.signed_in("ivo@example.com").await;
    let id_token = claims_of(
        tokens_for(&app, "bcl", &ivo).await["id_token"]
            .as_str()
            .unwrap(),
    );
    app.request(
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(&ivo),
        Some(json!({"password": crate::helpers::PASSWORD})),
    )
    .await
    .assert_status(204);
    let posted = receiver.wait_for(1).await;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&posted[0].body).unwrap();
    let claims = claims_of(&form[0].1);
    assert_eq!(claims["aud"], "bcl");
    assert_eq!(claims["sub"], id_token["sub"]);
    assert_eq!(claims["sid"], id_token["sid"]);
}

backend_tests!(
    a_session_ending_sends_a_logout_token,
    deleting_an_account_sends_a_logout_token
);
