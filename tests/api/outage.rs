//! A database that fails during sign-in: every step answers `503 unavailable`, counts as an
//! error in `/metrics`, and judges and records nothing (a failure is never a wrong password).
//! PostgreSQL only: its connections can be cut from outside while the server runs.

use crate::helpers::*;

/// Cuts every connection to `database_url` and refuses new ones, or lets them in again.
async fn cut_off(database_url: &str, cut: bool) {
    use sqlx::Connection;
    let admin_url = std::env::var("DEADBOLT_TEST_PG_URL").expect("DEADBOLT_TEST_PG_URL");
    let name = database_url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("database name");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {cut}",
        cut = !cut
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    if cut {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(name)
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_database_is_unavailable_never_a_wrong_password() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = spawn_app(backend).await;
    let plain = app.signed_in("bob@example.com").await;
    let user = app.enrolled("ada@example.com").await;
    let challenge = app.challenge(&user.email).await;

    cut_off(&app.database_url, true).await;
    app.sign_in("bob@example.com", PASSWORD)
        .await
        .assert_error(503, "unavailable");
    app.sign_in("bob@example.com", "a wrong password, this one")
        .await
        .assert_error(503, "unavailable");
    app.answer_code(&challenge, &app.code(&user.secret))
        .await
        .assert_error(503, "unavailable");
    let metrics = app.get("/metrics", None).await.text;
    cut_off(&app.database_url, false).await;
    // The pool's connections died with the cut: wait (bounded) until the server reaches the
    // database again before looking at what it recorded.
    let mut back = false;
    for _ in 0..100 {
        if app.get("/api/v1/me", Some(&plain)).await.status == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "the server did not reach the database again");

    assert!(
        metrics.contains(r#"deadbolt_sign_ins_total{outcome="error"} 3"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"outcome="invalid_credentials""#),
        "{metrics}"
    );
    // Nothing was recorded as a failed sign-in or a failed challenge, nothing counted: the
    // right password and the right code still go through at once.
    let kinds = app.event_kinds(&plain).await;
    assert!(!kinds.iter().any(|k| k == "sign_in_failed"), "{kinds:?}");
    let kinds = app.event_kinds(&user.token).await;
    assert!(!kinds.iter().any(|k| k == "challenge_failed"), "{kinds:?}");
    assert_eq!(app.sign_in("bob@example.com", PASSWORD).await.status, 201);
    let signed_in = app.answer_code(&challenge, &app.code(&user.secret)).await;
    assert_eq!(signed_in.status, 201, "{}", signed_in.text);
}
