//! `POST /api/v1/accounts`.

use crate::helpers::*;
use deadbolt::config::SignupMode;
use futures::future::join_all;
use serde_json::json;

async fn signup_creates_an_account_with_a_normalized_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .create_account("  Ada.Lovelace@Example.COM ", PASSWORD)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["email"], "ada.lovelace@example.com");
    assert_eq!(reply.body["id"].as_str().map(str::len), Some(32));
    // The account signs in with any spelling of the address.
    let signed_in = app.sign_in("ADA.lovelace@example.com", PASSWORD).await;
    assert_eq!(signed_in.status, 201, "{}", signed_in.text);
}

async fn the_same_email_in_another_case_is_taken(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.create_account("ada@example.com", PASSWORD).await.status,
        201
    );
    app.create_account("ADA@EXAMPLE.COM", PASSWORD)
        .await
        .assert_error(409, "email_taken");
}

async fn concurrent_signups_with_one_email_create_one_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let attempts = (0..6).map(|_| app.create_account("race@example.com", PASSWORD));
    let replies = join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1);
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.assert_error(409, "email_taken");
    }
    assert_eq!(app.store.count_accounts().await.unwrap(), 1);
}

async fn invalid_email_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for email in ["", "ada", "ada@localhost", "a b@example.com"] {
        app.create_account(email, PASSWORD)
            .await
            .assert_error(422, "invalid_email");
    }
}

async fn weak_passwords_are_refused_with_advice(backend: Backend) {
    let app = spawn_app(backend).await;
    for password in ["short", "password123", "ada@example.com", "aaaaaaaaaaaa"] {
        let reply = app.create_account("ada@example.com", password).await;
        reply.assert_error(422, "weak_password");
    }
    let long = "x".repeat(300);
    app.create_account("ada@example.com", &long)
        .await
        .assert_error(422, "weak_password");
    assert_eq!(app.store.count_accounts().await.unwrap(), 0);
}

async fn a_name_is_kept_and_an_overlong_one_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": "ada@example.com", "password": PASSWORD, "name": "  Ada L. "}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.body["name"],
        "Ada L."
    );
    let reply = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": "bob@example.com", "password": PASSWORD, "name": "x".repeat(101)}),
        )
        .await;
    reply.assert_error(422, "invalid_body");
}

async fn closed_signup_refuses_new_accounts(backend: Backend) {
    let app = spawn_app_with(backend, |file| file.signup = Some(SignupMode::Closed)).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_error(403, "signup_closed");
    assert_eq!(app.store.count_accounts().await.unwrap(), 0);
}

async fn password_hashes_are_argon2id_with_owasp_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    let email = deadbolt::domain::email::Email::parse("ada@example.com").unwrap();
    let account = app.store.account_by_email(&email).await.unwrap().unwrap();
    let hash = account.password_hash.unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

backend_tests!(
    signup_creates_an_account_with_a_normalized_email,
    the_same_email_in_another_case_is_taken,
    concurrent_signups_with_one_email_create_one_account,
    invalid_email_is_refused,
    weak_passwords_are_refused_with_advice,
    a_name_is_kept_and_an_overlong_one_refused,
    closed_signup_refuses_new_accounts,
    password_hashes_are_argon2id_with_owasp_parameters,
);
