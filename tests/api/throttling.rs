//! Password throttling: per typed address (10 consecutive failures, growing back-off) and
//! per client address (100 failures in 15 minutes), counted in the database. Time moves
//! with the injected clock, never with sleeps.

use crate::helpers::*;
use futures::future::join_all;

const WRONG: &str = "definitely not the password";

fn retry_after(reply: &Reply) -> u64 {
    reply.header("retry-after").unwrap().parse().unwrap()
}

async fn ten_wrong_passwords_lock_the_account_for_a_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    for _ in 0..10 {
        app.sign_in("ada@example.com", WRONG)
            .await
            .assert_error(401, "invalid_credentials");
    }
    // Locked: even the right password is refused, with Retry-After.
    let locked = app.sign_in("ada@example.com", PASSWORD).await;
    locked.assert_error(429, "too_many_attempts");
    assert_eq!(retry_after(&locked), 60);
    app.clock.advance(59);
    let still = app.sign_in("ada@example.com", PASSWORD).await;
    still.assert_error(429, "too_many_attempts");
    assert_eq!(retry_after(&still), 1);
    app.clock.advance(1);
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 201);

    // The success reset the count: nine more failures do not lock.
    for _ in 0..9 {
        app.sign_in("ada@example.com", WRONG)
            .await
            .assert_error(401, "invalid_credentials");
    }
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 201);
}

async fn the_lock_doubles_with_each_further_failure(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    for _ in 0..10 {
        app.sign_in("ada@example.com", WRONG).await;
    }
    app.clock.advance(60);
    app.sign_in("ada@example.com", WRONG)
        .await
        .assert_error(401, "invalid_credentials");
    let locked = app.sign_in("ada@example.com", WRONG).await;
    locked.assert_error(429, "too_many_attempts");
    assert_eq!(retry_after(&locked), 120);
    app.clock.advance(120);
    app.sign_in("ada@example.com", WRONG).await;
    assert_eq!(
        retry_after(&app.sign_in("ada@example.com", WRONG).await),
        240
    );
}

async fn an_unknown_email_is_throttled_exactly_like_a_known_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..11 {
        known.push(app.sign_in("ada@example.com", WRONG).await);
        unknown.push(app.sign_in("ghost@example.com", WRONG).await);
    }
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!(k.status, u.status);
        assert_eq!(k.body, u.body);
        assert_eq!(k.header("retry-after"), u.header("retry-after"));
    }
    assert_eq!(known[10].status, 429);
}

async fn concurrent_guesses_never_check_more_than_ten_passwords(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    let burst = join_all((0..30).map(|_| app.sign_in("ada@example.com", WRONG))).await;
    let mut checked = burst.iter().filter(|r| r.status == 401).count();
    for reply in burst.iter().filter(|r| r.status != 401) {
        reply.assert_error(429, "too_many_attempts");
    }
    // Whatever the interleaving, the lock comes after exactly ten checked guesses.
    loop {
        let reply = app.sign_in("ada@example.com", WRONG).await;
        if reply.status == 429 {
            break;
        }
        reply.assert_error(401, "invalid_credentials");
        checked += 1;
        assert!(checked <= 10, "more than ten guesses were checked");
    }
    assert_eq!(checked, 10);
}

async fn one_address_gets_at_most_a_hundred_failures_in_fifteen_minutes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    // 99 failures spread over many accounts, so no per-account lock applies.
    let started = app.clock_now();
    for i in 0..99 {
        app.sign_in(&format!("user{i}@example.com"), WRONG)
            .await
            .assert_error(401, "invalid_credentials");
    }
    // Successes do not count against the address.
    for _ in 0..2 {
        assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 201);
    }
    app.clock.advance(300);
    app.sign_in("user99@example.com", WRONG)
        .await
        .assert_error(401, "invalid_credentials");
    let blocked = app.sign_in("ada@example.com", PASSWORD).await;
    blocked.assert_error(429, "too_many_attempts");
    assert_eq!(
        retry_after(&blocked),
        600,
        "until the window that began at the first failure ends"
    );
    app.clock.set(started.plus_seconds(900));
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 201);
}

backend_tests!(
    ten_wrong_passwords_lock_the_account_for_a_minute,
    the_lock_doubles_with_each_further_failure,
    an_unknown_email_is_throttled_exactly_like_a_known_one,
    concurrent_guesses_never_check_more_than_ten_passwords,
    one_address_gets_at_most_a_hundred_failures_in_fifteen_minutes,
);

async fn behind_a_trusted_proxy_each_client_is_counted_apart(backend: Backend) {
    let app = spawn_app_with(backend, |file| {
        file.trusted_proxies = Some(vec!["127.0.0.1".to_owned()])
    })
    .await;
    app.create_account("ada@example.com", PASSWORD).await;
    let from = |client: &'static str, email: String, password: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/api/v1/sessions"))
                .header("X-Forwarded-For", client)
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap();
            Reply::read(response).await
        }
    };
    for i in 0..100 {
        from("203.0.113.9", format!("u{i}@example.com"), WRONG).await;
    }
    from("203.0.113.9", "ada@example.com".into(), PASSWORD)
        .await
        .assert_error(429, "too_many_attempts");
    // Another client behind the same proxy is not blocked, and is recorded as itself.
    let other = from("198.51.100.1", "ada@example.com".into(), PASSWORD).await;
    assert_eq!(other.status, 201, "{}", other.text);
    let token = other.body["token"].as_str().unwrap();
    let sessions = app.get("/api/v1/sessions", Some(token)).await;
    assert_eq!(sessions.body["sessions"][0]["ip"], "198.51.100.1");
}

async fn without_a_trusted_proxy_forwarded_for_is_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    let response = app
        .client
        .post(app.url("/api/v1/sessions"))
        .header("X-Forwarded-For", "203.0.113.9")
        .json(&serde_json::json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = Reply::read(response).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sessions = app.get("/api/v1/sessions", Some(&token)).await;
    assert_eq!(sessions.body["sessions"][0]["ip"], "127.0.0.1");
}

mod proxies {
    use super::*;
    backend_tests!(
        behind_a_trusted_proxy_each_client_is_counted_apart,
        without_a_trusted_proxy_forwarded_for_is_ignored,
    );
}
