//! Instance administration: the audited two-factor reset, lost-device reset requests,
//! account search and the filtered audit trail.

use crate::helpers::*;
use serde_json::json;

async fn an_admin_reset_turns_two_factor_off_ends_sessions_and_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let user = app.enrolled("ada@example.com").await;
    let ada_id = app.account_id(&user.token).await;
    let path = format!("/api/v1/admin/accounts/{ada_id}/two-factor/reset");
    app.post(&path, Some(&admin), json!({}))
        .await
        .assert_error(422, "reason_required");
    app.post(&path, Some(&admin), json!({"reason": "   "}))
        .await
        .assert_error(422, "reason_required");
    app.post(&path, Some(&user.token), json!({"reason": "me"}))
        .await
        .assert_error(403, "forbidden");
    app.post(
        "/api/v1/admin/accounts/nobody/two-factor/reset",
        Some(&admin),
        json!({"reason": "x"}),
    )
    .await
    .assert_error(404, "not_found");

    let reset = app
        .post(
            &path,
            Some(&admin),
            json!({"reason": "Lost phone, verified by video call"}),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(reset.body["was_enabled"], true);
    assert_eq!(reset.body["sessions_revoked"], 1);
    // Her sessions are gone; the password alone signs her in; she can re-enrol.
    app.get("/api/v1/me", Some(&user.token))
        .await
        .assert_error(401, "unauthenticated");
    let signed_in = app.sign_in(&user.email, PASSWORD).await;
    assert_eq!(
        signed_in.body["status"], "authenticated",
        "{}",
        signed_in.text
    );
    let token = signed_in.body["token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.body["two_factor"]["state"], "not_configured");
    assert_eq!(app.event_kinds(token).await[1], "two_factor_reset");

    // The audit trail names the actor and the reason.
    let events = app
        .get("/api/v1/admin/events?kind=two_factor_reset", Some(&admin))
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    let event = &events.body["events"][0];
    assert_eq!(
        event["details"]["reason"],
        "Lost phone, verified by video call"
    );
    assert_eq!(event["details"]["by"], "admin");
    assert_eq!(event["details"]["sessions_revoked"], 1);
    let admin_id = app.account_id(&admin).await;
    assert_eq!(event["actor_id"], admin_id.as_str(), "{event}");
    assert_eq!(events.body["events"].as_array().unwrap().len(), 1);

    // The old recovery codes died with the secret: after enrolling again they are refused.
    let enrollment = app.enroll(token).await;
    let secret = enrollment.body["secret"].as_str().unwrap().to_owned();
    let confirmed = app.confirm(token, &app.code(&secret)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    app.clock.advance(30);
    let challenge = app.challenge(&user.email).await;
    app.answer_recovery(&challenge, &user.recovery_codes[0])
        .await
        .assert_error(401, "invalid_recovery_code");
}

/// Filings racing on one account leave one open request and one audit row.
async fn racing_reset_requests_leave_one_open_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let user = app.enrolled("ada@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let filings = (0..8).map(|n| {
        app.post(
            "/api/v1/sessions/challenge/reset-request",
            None,
            json!({"challenge_token": challenge, "message": format!("attempt {n}")}),
        )
    });
    let replies = futures::future::join_all(filings).await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, 202, "{}", reply.text);
            reply.body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "every filing answers with the one open request"
    );
    let listed = app.get("/api/v1/admin/reset-requests", Some(&admin)).await;
    assert_eq!(listed.body["requests"].as_array().unwrap().len(), 1);
    let events = app
        .get("/api/v1/admin/events?kind=reset_requested", Some(&admin))
        .await;
    assert_eq!(events.body["events"].as_array().unwrap().len(), 1);
}

/// The database itself refuses to change or remove an audit row.
async fn the_audit_trail_is_append_only_in_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in("ada@example.com").await;
    let statements = [
        "UPDATE security_events SET kind = 'nothing_happened'",
        "DELETE FROM security_events",
    ];
    for statement in statements {
        let refused = match backend {
            Backend::Sqlite => {
                let file = app.database_url.strip_prefix("sqlite://").unwrap();
                let conn = rusqlite::Connection::open(file).unwrap();
                conn.execute(statement, [])
                    .map(|done| done as u64)
                    .map_err(|e| e.to_string())
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&app.database_url)
                    .await
                    .unwrap();
                sqlx::query(statement)
                    .execute(&mut conn)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(|e| e.to_string())
            }
        };
        let error = refused.expect_err(statement).to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    let token = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(app
        .event_kinds(&token)
        .await
        .contains(&"sign_in_succeeded".to_owned()));
}

async fn a_stuck_person_files_a_reset_request_that_a_reset_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let user = app.enrolled("ada@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let path = "/api/v1/sessions/challenge/reset-request";
    app.post(
        path,
        None,
        json!({"challenge_token": "forged", "message": "help"}),
    )
    .await
    .assert_error(401, "invalid_challenge");
    app.post(
        path,
        None,
        json!({"challenge_token": challenge, "message": " "}),
    )
    .await
    .assert_error(422, "invalid_body");
    let filed = app
        .post(
            path,
            None,
            json!({"challenge_token": challenge, "message": "Phone fell in the sea"}),
        )
        .await;
    assert_eq!(filed.status, 202, "{}", filed.text);
    let again = app
        .post(
            path,
            None,
            json!({"challenge_token": challenge, "message": "Still stuck"}),
        )
        .await;
    assert_eq!(
        again.body["id"], filed.body["id"],
        "one open request per account"
    );

    let listed = app.get("/api/v1/admin/reset-requests", Some(&admin)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let requests = listed.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["email"], "ada@example.com");
    assert_eq!(requests[0]["message"], "Phone fell in the sea");
    app.get("/api/v1/admin/reset-requests", Some(&user.token))
        .await
        .assert_error(403, "forbidden");

    let account_id = requests[0]["account_id"].as_str().unwrap();
    let reset = app
        .post(
            &format!("/api/v1/admin/accounts/{account_id}/two-factor/reset"),
            Some(&admin),
            json!({"reason": "Request answered"}),
        )
        .await;
    assert_eq!(reset.body["requests_closed"], 1, "{}", reset.text);
    let listed = app.get("/api/v1/admin/reset-requests", Some(&admin)).await;
    assert_eq!(listed.body["requests"], json!([]));
}

async fn admins_search_accounts_with_their_two_factor_state(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    app.enrolled("ada@example.com").await;
    for name in ["bob", "carol", "dave"] {
        app.create_account(&format!("{name}@Example.org"), PASSWORD)
            .await;
    }
    let found = app
        .get(
            "/api/v1/admin/accounts?query=EXAMPLE.ORG&limit=2",
            Some(&admin),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    let emails: Vec<_> = found.body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].clone())
        .collect();
    assert_eq!(
        emails,
        [json!("bob@example.org"), json!("carol@example.org")]
    );
    let next = found.body["next_after"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/admin/accounts?query=example.org&after={next}"),
            Some(&admin),
        )
        .await;
    assert_eq!(rest.body["accounts"][0]["email"], "dave@example.org");
    assert!(rest.body.get("next_after").is_none());
    let ada = app
        .get("/api/v1/admin/accounts?query=ada", Some(&admin))
        .await;
    assert_eq!(ada.body["accounts"][0]["two_factor"], "enabled");
    assert!(ada.body["accounts"][0]["last_sign_in_at"].is_string());
    // An enrolment under way shows as pending until it lapses.
    let erin = app.signed_in("erin@example.net").await;
    assert_eq!(app.enroll(&erin).await.status, 201);
    let state = |reply: &Reply| reply.body["accounts"][0]["two_factor"].clone();
    let path = "/api/v1/admin/accounts?query=erin";
    assert_eq!(state(&app.get(path, Some(&admin)).await), "pending");
    app.clock.advance(11 * 60);
    assert_eq!(state(&app.get(path, Some(&admin)).await), "not_configured");
    let percent = app
        .get("/api/v1/admin/accounts?query=%25", Some(&admin))
        .await;
    assert_eq!(
        percent.body["accounts"],
        json!([]),
        "% matches itself, not everything"
    );
    let everyone = app.get("/api/v1/admin/accounts", Some(&admin)).await;
    assert_eq!(everyone.body["accounts"].as_array().unwrap().len(), 6);
    let user = app.sign_in("bob@example.org", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/api/v1/admin/accounts", Some(&user))
        .await
        .assert_error(403, "forbidden");
}

async fn admins_filter_the_audit_trail(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let user = app.enrolled("ada@example.com").await;
    let ada_id = app.account_id(&user.token).await;
    app.clock.advance(3_600);
    let later = app.clock_now();
    app.sign_in(&user.email, "wrong password entirely").await;
    let by_account = app
        .get(
            &format!("/api/v1/admin/events?account={ada_id}&limit=100"),
            Some(&admin),
        )
        .await;
    assert_eq!(by_account.status, 200, "{}", by_account.text);
    let events = by_account.body["events"].as_array().unwrap();
    // Sign-in, enrolment started and confirmed (the failed sign-in is recorded off the
    // request path and waited for below).
    assert!(events.len() >= 3, "{}", by_account.text);
    assert!(events
        .iter()
        .all(|e| e["kind"] != "sign_in_succeeded" || e["details"]["method"].is_string()));
    // A failed sign-in is recorded off the request path (so it costs no time): wait for it.
    let mut kinds = Vec::new();
    for _ in 0..200 {
        let since = app
            .get(
                &format!("/api/v1/admin/events?account={ada_id}&since={}", later.0),
                Some(&admin),
            )
            .await;
        kinds = since.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].clone())
            .collect();
        if !kinds.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(kinds, [json!("sign_in_failed")]);
    let until = app
        .get(
            &format!("/api/v1/admin/events?account={ada_id}&until={}", later.0),
            Some(&admin),
        )
        .await;
    assert!(until.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["kind"] != "sign_in_failed"));
    let page = app.get("/api/v1/admin/events?limit=1", Some(&admin)).await;
    let before = page.body["next_before"].as_i64().unwrap();
    let next = app
        .get(
            &format!("/api/v1/admin/events?limit=1&before={before}"),
            Some(&admin),
        )
        .await;
    assert!(next.body["events"][0]["id"].as_i64().unwrap() < before);
    app.get("/api/v1/admin/events", Some(&user.token))
        .await
        .assert_error(403, "forbidden");
    app.get("/api/v1/admin/events?since=yesterday", Some(&admin))
        .await
        .assert_error(422, "invalid_body");
}

backend_tests!(
    an_admin_reset_turns_two_factor_off_ends_sessions_and_is_audited,
    a_stuck_person_files_a_reset_request_that_a_reset_answers,
    racing_reset_requests_leave_one_open_request,
    the_audit_trail_is_append_only_in_the_database,
    the_command_line_reset_is_audited_with_its_operator,
    admins_search_accounts_with_their_two_factor_state,
    admins_filter_the_audit_trail,
    each_role_sees_exactly_the_events_it_may,
);

/// The ids of the accounts a page of events is about.
fn subjects(reply: &Reply) -> std::collections::BTreeSet<String> {
    reply.body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.text))
        .iter()
        .map(|e| e["account_id"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn each_role_sees_exactly_the_events_it_may(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.admin_signed_in("root@example.com").await;
    let owner = app.enrolled("owner@example.com").await;
    let carol = app.enrolled("carol@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let dave = app.signed_in("dave@example.com").await;
    let ids = [
        app.account_id(&owner.token).await,
        app.account_id(&carol.token).await,
        app.account_id(&bob).await,
        app.account_id(&dave).await,
    ];
    let [owner_id, carol_id, bob_id, dave_id] = &ids;
    let acme = app.create_workspace(&owner.token, "Acme").await;
    app.invite_and_accept(
        &acme,
        &owner.token,
        "carol@example.com",
        "admin",
        &carol.token,
    )
    .await;
    app.invite_and_accept(&acme, &owner.token, "bob@example.com", "member", &bob)
        .await;
    app.enforce(&acme, &owner.token, "all", 7).await;
    // Dave, outside the workspace, has a personal event nobody but he and admins see.
    app.sign_in("dave@example.com", "not dave's password at all")
        .await;

    // Users: their own events, and only theirs.
    for (token, id) in [(&bob, bob_id), (&dave, dave_id), (&owner.token, owner_id)] {
        let mine = app.get("/api/v1/me/events?limit=100", Some(token)).await;
        assert_eq!(subjects(&mine), [id.clone()].into(), "{}", mine.text);
    }

    // Workspace owners and admins: the workspace's events; members and outsiders: none.
    let path = format!("/api/v1/workspaces/{acme}/events?limit=100");
    for token in [&owner.token, &carol.token] {
        let seen = app.get(&path, Some(token)).await;
        assert_eq!(seen.status, 200, "{}", seen.text);
        let kinds: Vec<&str> = seen.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"enforcement_changed"), "{kinds:?}");
        assert!(kinds.contains(&"member_joined"), "{kinds:?}");
        assert!(
            !kinds
                .iter()
                .any(|k| k.starts_with("sign_in") || k.starts_with("enrollment")),
            "personal events stay personal: {kinds:?}"
        );
        let about = subjects(&seen);
        assert!(
            about.contains(carol_id) && about.contains(bob_id),
            "{about:?}"
        );
        assert!(!about.contains(dave_id));
    }
    for token in [&bob, &dave] {
        let refused = app.get(&path, Some(token)).await;
        assert!(
            refused.status == 403 || refused.status == 404,
            "{}",
            refused.text
        );
    }

    // Instance admins: everything, including Dave's failed sign-in.
    let mut all = Reply::read(
        app.client
            .get(app.url("/api/v1/admin/events?limit=100"))
            .bearer_auth(&root)
            .send()
            .await
            .unwrap(),
    )
    .await;
    for _ in 0..200 {
        if subjects(&all).contains(dave_id) {
            break;
        }
        // The failed sign-in is recorded off the request path.
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        all = app.get("/api/v1/admin/events?limit=100", Some(&root)).await;
    }
    let everyone = subjects(&all);
    for id in &ids {
        assert!(everyone.contains(id), "{id} missing from {everyone:?}");
    }
}

/// `deadbolt user reset-two-factor` against the same database: the same reset, audited with
/// the operator who ran it; no reason, no reset.
async fn the_command_line_reset_is_audited_with_its_operator(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let user = app.enrolled("ada@example.com").await;
    let reset = |reason: &str| {
        crate::cli::deadbolt(app.dir.path())
            .args(["--database", &app.database_url, "user", "reset-two-factor"])
            .args(["ada@example.com", "--reason", reason])
            .env("USER", "ops-alice")
            .env_remove("SUDO_USER")
            .output()
            .unwrap()
    };
    let refused = reset("  ");
    assert!(!refused.status.success(), "{refused:?}");
    assert_eq!(app.get("/api/v1/me", Some(&user.token)).await.status, 200);

    let done = reset("Lost phone, ticket 4711");
    assert!(done.status.success(), "{done:?}");
    let stdout = String::from_utf8(done.stdout).unwrap();
    assert!(stdout.contains("1 session(s) ended"), "{stdout}");
    app.get("/api/v1/me", Some(&user.token))
        .await
        .assert_error(401, "unauthenticated");
    let signed_in = app.sign_in(&user.email, PASSWORD).await;
    assert_eq!(
        signed_in.body["status"], "authenticated",
        "{}",
        signed_in.text
    );
    let events = app
        .get("/api/v1/admin/events?kind=two_factor_reset", Some(&admin))
        .await;
    let event = &events.body["events"][0];
    assert_eq!(event["details"]["by"], "cli", "{event}");
    assert_eq!(event["details"]["operator"], "ops-alice", "{event}");
    assert_eq!(event["details"]["reason"], "Lost phone, ticket 4711");
    assert!(event["actor_id"].is_null(), "{event}");
}

/// The admin page lists the OpenID Connect clients, with their kind, source and rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_lists_the_openid_connect_clients() {
    let app = spawn_app(Backend::Sqlite).await;
    let root = app.admin_signed_in("root@example.com").await;
    let created = app
        .post(
            "/api/v1/admin/oidc/clients",
            Some(&root),
            json!({
                "client_id": "wiki",
                "name": "The team wiki",
                "redirect_uris": ["https://wiki.example.com/callback"],
                "require_two_factor": true,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    crate::pages::page_sign_in(&app, "root@example.com", "").await;
    let (status, html) = crate::pages::get_html(&app, "/admin").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-client-id="wiki""#), "{html}");
    for shown in [
        "The team wiki",
        "confidential",
        "https://wiki.example.com/callback",
        "two factors required",
    ] {
        assert!(html.contains(shown), "{shown}");
    }
}
