//! Sign-in, the session list, sign-out, revocation and lifetimes.

use crate::helpers::*;
use deadbolt::clock::Clock;
use deadbolt::domain::ids::Token;

async fn sign_in_returns_a_256_bit_token_that_reaches_me(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    let reply = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["status"], "authenticated");
    let token = reply.body["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "base64url of 32 bytes");
    assert!(reply.body["session"]["id"].is_string());
    // Default absolute lifetime: 30 days.
    let expires = reply.body["session"]["expires_at"].as_str().unwrap();
    assert_eq!(expires, START.plus_seconds(30 * 86_400).to_rfc3339());

    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["email"], "ada@example.com");
    assert_eq!(me.body["is_admin"], false);
    assert_eq!(me.body["two_factor"]["state"], "not_configured");
    assert_eq!(me.body["two_factor"]["recovery_codes_remaining"], 0);
    assert_eq!(me.body["requirement"]["access"], "ok");
}

async fn tokens_are_stored_only_as_digests(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.signed_in("ada@example.com").await;
    let presented = Token::from_presented(&token);
    let found = app.store.session_by_token(&presented.hash()).await.unwrap();
    assert!(found.is_some());
    // Looking up by the raw token bytes finds nothing: only the SHA-256 is kept.
    let raw = deadbolt::domain::ids::TokenHash(token.as_bytes().to_vec());
    assert!(app.store.session_by_token(&raw).await.unwrap().is_none());
}

async fn unknown_email_and_wrong_password_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    let wrong = app
        .sign_in("ada@example.com", "not the password at all")
        .await;
    let unknown = app.sign_in("nobody@example.com", PASSWORD).await;
    let malformed = app.sign_in("not-an-email", PASSWORD).await;
    for reply in [&wrong, &unknown, &malformed] {
        reply.assert_error(401, "invalid_credentials");
    }
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, malformed.body);
}

async fn protected_routes_need_a_valid_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/api/v1/me", None)
        .await
        .assert_error(401, "unauthenticated");
    app.get("/api/v1/me", Some("forged-token"))
        .await
        .assert_error(401, "unauthenticated");
    let token = app.signed_in("ada@example.com").await;
    let basic = app
        .client
        .get(app.url("/api/v1/me"))
        .header("Authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    Reply::read(basic)
        .await
        .assert_error(401, "unauthenticated");
    let lowercase_scheme = app
        .client
        .get(app.url("/api/v1/me"))
        .header("Authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase_scheme.status(), 200);
    app.get("/api/v1/sessions", None)
        .await
        .assert_error(401, "unauthenticated");
    app.delete("/api/v1/sessions/current", None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn sessions_are_listed_with_the_current_one_marked(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in("ada@example.com").await;
    app.clock.advance(120);
    let second = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.signed_in("bob@example.com").await;

    let list = app.get("/api/v1/sessions", Some(&second)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let sessions = list.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "only Ada's own sessions: {}", list.text);
    assert_eq!(sessions[0]["current"], true, "newest first");
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert_eq!(sessions[1]["created_at"], START.to_rfc3339());
}

async fn sign_out_ends_only_the_current_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.signed_in("ada@example.com").await;
    let second = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app.delete("/api/v1/sessions/current", Some(&first)).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    app.get("/api/v1/me", Some(&first))
        .await
        .assert_error(401, "unauthenticated");
    assert_eq!(app.get("/api/v1/me", Some(&second)).await.status, 200);
}

async fn a_session_can_be_revoked_by_its_owner_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada_laptop = app.signed_in("ada@example.com").await;
    let ada_phone = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = app.signed_in("bob@example.com").await;
    let sessions = app.get("/api/v1/sessions", Some(&ada_laptop)).await;
    let phone_id = sessions.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob cannot revoke Ada's session, and learns nothing about it.
    app.delete(&format!("/api/v1/sessions/{phone_id}"), Some(&bob))
        .await
        .assert_error(404, "not_found");
    assert_eq!(app.get("/api/v1/me", Some(&ada_phone)).await.status, 200);

    let reply = app
        .delete(&format!("/api/v1/sessions/{phone_id}"), Some(&ada_laptop))
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    app.get("/api/v1/me", Some(&ada_phone))
        .await
        .assert_error(401, "unauthenticated");
    app.delete(&format!("/api/v1/sessions/{phone_id}"), Some(&ada_laptop))
        .await
        .assert_error(404, "not_found");
    app.delete("/api/v1/sessions/no-such-session", Some(&ada_laptop))
        .await
        .assert_error(404, "not_found");
}

async fn an_idle_session_ends_after_the_idle_timeout(backend: Backend) {
    let app = spawn_app_with(backend, |file| {
        file.session = Some(deadbolt::config::FileSession {
            idle_timeout: Some("1h".into()),
            lifetime: Some("1d".into()),
        })
    })
    .await;
    let token = app.signed_in("ada@example.com").await;
    app.clock.advance(3_599);
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 200);
    // That use renewed the idle timer.
    app.clock.advance(3_599);
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 200);
    app.clock.advance(3_600);
    app.get("/api/v1/me", Some(&token))
        .await
        .assert_error(401, "unauthenticated");
}

async fn an_active_session_still_ends_at_its_absolute_lifetime(backend: Backend) {
    let app = spawn_app_with(backend, |file| {
        file.session = Some(deadbolt::config::FileSession {
            idle_timeout: Some("1h".into()),
            lifetime: Some("3h".into()),
        })
    })
    .await;
    let token = app.signed_in("ada@example.com").await;
    for _ in 0..5 {
        app.clock.advance(35 * 60);
        assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 200);
    }
    app.clock.advance(6 * 60); // 3h01 after sign-in
    app.get("/api/v1/me", Some(&token))
        .await
        .assert_error(401, "unauthenticated");
    // Ended sessions disappear from the list and from the database.
    let fresh = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = app.get("/api/v1/sessions", Some(&fresh)).await;
    assert_eq!(
        list.body["sessions"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
}

async fn ended_sessions_are_purged(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in("ada@example.com").await;
    let now = app.clock.now();
    assert_eq!(app.store.purge_expired_sessions(now).await.unwrap(), 0);
    let later = now.plus_seconds(31 * 86_400);
    assert_eq!(app.store.purge_expired_sessions(later).await.unwrap(), 1);
}

async fn sign_in_records_the_last_sign_in_time(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    assert_eq!(app.last_sign_in("ada@example.com").await, None);
    app.clock.advance(500);
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 201);
    assert_eq!(
        app.last_sign_in("ada@example.com").await,
        Some(START.plus_seconds(500))
    );
    // A wrong password is an event too, but not a sign-in.
    app.clock.advance(100);
    assert_eq!(app.sign_in("ada@example.com", "wrong").await.status, 401);
    assert_eq!(
        app.last_sign_in("ada@example.com").await,
        Some(START.plus_seconds(500))
    );
}

async fn a_second_factor_sign_in_is_the_last_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let grace = app.enrolled("grace@example.com").await;
    let enrolled_at = app.last_sign_in("grace@example.com").await.unwrap();
    // The password step alone signs nobody in; a wrong code does not either.
    app.clock.advance(60);
    let challenge = app.challenge("grace@example.com").await;
    assert_eq!(app.answer_code(&challenge, "000000").await.status, 401);
    assert_eq!(
        app.last_sign_in("grace@example.com").await,
        Some(enrolled_at)
    );
    // The code (on PostgreSQL, the batched completion) does.
    let answered = app.answer_code(&challenge, &app.code(&grace.secret)).await;
    assert_eq!(answered.status, 201, "{}", answered.text);
    let by_code = app.clock.now();
    assert!(by_code > enrolled_at);
    assert_eq!(app.last_sign_in("grace@example.com").await, Some(by_code));
    // So does a recovery code.
    app.clock.advance(60);
    let challenge = app.challenge("grace@example.com").await;
    let recovered = app
        .answer_recovery(&challenge, &grace.recovery_codes[0])
        .await;
    assert_eq!(recovered.status, 201, "{}", recovered.text);
    assert_eq!(
        app.last_sign_in("grace@example.com").await,
        Some(by_code.plus_seconds(60))
    );
}

/// Every byte SQLite keeps for the app: the database file and its write-ahead log.
pub fn sqlite_bytes(app: &TestApp) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["deadbolt.db", "deadbolt.db-wal"] {
        if let Ok(mut content) = std::fs::read(app.dir.path().join(name)) {
            bytes.append(&mut content);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_file_never_holds_a_password_or_token_in_clear() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.signed_in("ada@example.com").await;
    let bytes = sqlite_bytes(&app);
    assert!(
        contains(&bytes, "ada@example.com"),
        "the check reads the right file"
    );
    assert!(!contains(&bytes, PASSWORD));
    assert!(!contains(&bytes, &token));
}

backend_tests!(
    sign_in_returns_a_256_bit_token_that_reaches_me,
    tokens_are_stored_only_as_digests,
    unknown_email_and_wrong_password_get_the_same_answer,
    protected_routes_need_a_valid_bearer_token,
    sessions_are_listed_with_the_current_one_marked,
    sign_out_ends_only_the_current_session,
    a_session_can_be_revoked_by_its_owner_only,
    an_idle_session_ends_after_the_idle_timeout,
    an_active_session_still_ends_at_its_absolute_lifetime,
    ended_sessions_are_purged,
    sign_in_records_the_last_sign_in_time,
    a_second_factor_sign_in_is_the_last_sign_in,
);
