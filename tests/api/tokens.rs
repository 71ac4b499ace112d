//! API tokens (SPEC §14): created behind a proof and shown once, a bearer credential for the
//! API and forward-auth under the owner's enforcement, never for security settings; revoked
//! by their owner, an admin reset, a password reset, two-factor turned off or a suspension,
//! on every node at once.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::email::{link_token, mailing_app, nth_mail, text, RESET};
use crate::helpers::{respawn, spawn_app, Backend, Reply, TestApp, PASSWORD};

backend_tests!(
    a_token_is_shown_once_and_works_as_a_bearer_until_revoked,
    creating_a_token_needs_a_proof_a_name_and_a_lifetime_of_a_year_at_most,
    a_token_expires_at_its_deadline,
    a_token_never_reaches_a_security_setting,
    a_token_passes_forward_auth_under_its_owners_enforcement,
    a_token_obeys_the_instance_policy,
    an_admin_reset_two_factor_off_and_a_suspension_revoke_tokens,
    a_password_reset_revokes_tokens_and_creation_is_told_to_the_owner,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_page_creates_shows_once_and_revokes_a_token() {
    the_security_page_creates_shows_once_and_revokes(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_lists_every_accounts_tokens_from_the_command_line() {
    let app = spawn_app(Backend::Sqlite).await;
    let session = app.signed_in("ada@example.com").await;
    let (secret, id) = token_of(&app, &session).await;
    app.get("/api/v1/me", Some(&secret))
        .await
        .assert_status(200);
    let output = crate::cli::deadbolt(app.dir.path())
        .args(["--database", &app.database_url, "user", "list", "--tokens"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|line| line.starts_with("ada@example.com"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("deploy script") && line.contains(&id),
        "{line}"
    );
    assert!(!line.contains("never"), "used once: {line}");
    assert!(!stdout.contains(&secret[4..]), "never the token: {stdout}");
    assert!(stdout.contains("1 token(s)"), "{stdout}");
}

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_revoked_on_one_node_is_refused_by_the_other_at_once() {
        if let Some(backend) = crate::helpers::Backend::postgres() {
            super::a_token_revoked_on_one_node_is_refused_by_the_other_at_once(backend).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_racing_a_tokens_first_use_record_it_once() {
        if let Some(backend) = crate::helpers::Backend::postgres() {
            super::two_nodes_racing_a_tokens_first_use_record_it_once(backend).await
        }
    }
}

/// `POST /me/tokens` by the session `session`, with the password as proof.
async fn create_token(app: &TestApp, session: &str, name: &str, days: u32) -> Reply {
    app.post(
        "/api/v1/me/tokens",
        Some(session),
        json!({"name": name, "expires_in_days": days, "password": PASSWORD}),
    )
    .await
}

/// A new token of the session's account: its secret and its id.
async fn token_of(app: &TestApp, session: &str) -> (String, String) {
    let created = create_token(app, session, "deploy script", 30).await;
    created.assert_status(201);
    let secret = created.body["token"].as_str().unwrap().to_owned();
    (secret, created.body["id"].as_str().unwrap().to_owned())
}

/// The session's tokens as listed.
async fn listed(app: &TestApp, session: &str) -> Vec<Value> {
    let reply = app.get("/api/v1/me/tokens", Some(session)).await;
    reply.assert_status(200);
    reply.body["tokens"].as_array().unwrap().clone()
}

/// The account's events of `kind`, newest first.
async fn events_of(app: &TestApp, session: &str, kind: &str) -> Vec<Value> {
    let reply = app.get("/api/v1/me/events?limit=100", Some(session)).await;
    reply.assert_status(200);
    reply.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["kind"] == kind)
        .cloned()
        .collect()
}

async fn a_token_is_shown_once_and_works_as_a_bearer_until_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.signed_in("ada@example.com").await;
    let created = create_token(&app, &session, "  deploy script ", 30).await;
    created.assert_status(201);
    let secret = created.body["token"].as_str().unwrap();
    assert!(
        secret.starts_with("dbt_") && secret.len() == 4 + 43,
        "{secret}"
    );
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.body["name"], "deploy script");
    assert!(created.body["last_used_at"].is_null());
    // Listed without its secret, never used yet.
    let tokens = listed(&app, &session).await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["id"], id);
    assert!(tokens[0].get("token").is_none(), "{}", tokens[0]);
    assert!(tokens[0]["last_used_at"].is_null());
    // A bearer for the API: the same account.
    let me = app.get("/api/v1/me", Some(secret)).await;
    me.assert_status(200);
    assert_eq!(me.body["email"], "ada@example.com");
    app.get("/api/v1/workspaces", Some(secret))
        .await
        .assert_status(200);
    // Its first use is recorded once, and shown.
    app.clock.advance(10);
    app.get("/api/v1/me", Some(secret)).await.assert_status(200);
    let first = events_of(&app, &session, "api_token_first_used").await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["details"]["token_id"], id);
    assert_eq!(
        events_of(&app, &session, "api_token_created").await.len(),
        1
    );
    let tokens = listed(&app, &session).await;
    assert_eq!(
        tokens[0]["last_used_at"], tokens[0]["created_at"],
        "first used at creation time"
    );
    // A use a minute later moves it.
    app.clock.advance(60);
    app.get("/api/v1/me", Some(secret)).await.assert_status(200);
    let tokens = listed(&app, &session).await;
    assert_ne!(tokens[0]["last_used_at"], tokens[0]["created_at"]);
    // A token in a cookie is no session; an unknown token is no token.
    app.get("/api/v1/me", Some("dbt_unknown"))
        .await
        .assert_error(401, "unauthenticated");
    // Revoked: refused at once, recorded; a second revocation finds nothing.
    app.delete(&format!("/api/v1/me/tokens/{id}"), Some(&session))
        .await
        .assert_status(204);
    app.get("/api/v1/me", Some(secret))
        .await
        .assert_error(401, "unauthenticated");
    app.delete(&format!("/api/v1/me/tokens/{id}"), Some(&session))
        .await
        .assert_error(404, "not_found");
    let revoked = events_of(&app, &session, "api_token_revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["details"]["token_id"], id);
    assert!(listed(&app, &session).await.is_empty());
    // Someone else's token cannot be revoked by id.
    let (_, other_id) = token_of(&app, &app.signed_in("bea@example.com").await).await;
    app.delete(&format!("/api/v1/me/tokens/{other_id}"), Some(&session))
        .await
        .assert_error(404, "not_found");
}

async fn creating_a_token_needs_a_proof_a_name_and_a_lifetime_of_a_year_at_most(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = app.enrolled("ada@example.com").await;
    let session = &enrolled.token;
    let create = |body: Value| app.post("/api/v1/me/tokens", Some(session), body);
    create(json!({"name": "ci", "expires_in_days": 30}))
        .await
        .assert_error(403, "confirmation_failed");
    create(json!({"name": "ci", "expires_in_days": 30, "password": "wrong horse"}))
        .await
        .assert_error(403, "confirmation_failed");
    for days in [0, 366] {
        create(json!({"name": "ci", "expires_in_days": days, "password": PASSWORD}))
            .await
            .assert_error(422, "invalid_body");
    }
    create(json!({"name": " ", "expires_in_days": 30, "password": PASSWORD}))
        .await
        .assert_error(422, "invalid_body");
    create(json!({"name": "ci", "expires_in_days": 30, "password": PASSWORD, "scope": "all"}))
        .await
        .assert_error(422, "invalid_body");
    assert!(listed(&app, session).await.is_empty());
    // A code proves it too; a year is the longest.
    let created = create(json!({
        "name": "ci", "expires_in_days": 365, "code": app.code(&enrolled.secret)
    }))
    .await;
    created.assert_status(201);
    let year = 365 * 86_400;
    let at = |field: &str| {
        let text = created.body[field].as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    };
    assert_eq!(at("expires_at") - at("created_at"), year);
}

async fn a_token_expires_at_its_deadline(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.signed_in("ada@example.com").await;
    let created = create_token(&app, &session, "ci", 1).await;
    created.assert_status(201);
    let secret = created.body["token"].as_str().unwrap();
    app.clock.advance(86_399);
    app.get("/api/v1/me", Some(secret)).await.assert_status(200);
    app.clock.advance(1);
    app.get("/api/v1/me", Some(secret))
        .await
        .assert_error(401, "unauthenticated");
    // Still listed, with its expiry, until revoked.
    assert_eq!(listed(&app, &session).await.len(), 1);
}

/// The routes a token may never reach (SPEC §14: two-factor, security keys, password,
/// e-mail, tokens, sessions, and deleting the account or withdrawing an application's
/// consent), as OpenAPI operations; every other route takes a token (or no one at all).
const SECURITY_SETTINGS: &[&str] = &[
    "GET /api/v1/sessions",
    "DELETE /api/v1/sessions/current",
    "DELETE /api/v1/sessions/{id}",
    "DELETE /api/v1/me",
    "DELETE /api/v1/me/applications/{client_id}",
    "POST /api/v1/me/two-factor/enrollment",
    "DELETE /api/v1/me/two-factor/enrollment",
    "GET /api/v1/me/two-factor/enrollment/qr.png",
    "POST /api/v1/me/two-factor/enrollment/confirm",
    "POST /api/v1/me/two-factor/check",
    "POST /api/v1/me/two-factor/recovery-codes",
    "DELETE /api/v1/me/two-factor",
    "PUT /api/v1/me/email",
    "POST /api/v1/me/email/verification",
    "POST /api/v1/me/email/proof",
    "PUT /api/v1/me/password",
    "POST /api/v1/me/tokens",
    "GET /api/v1/me/tokens",
    "DELETE /api/v1/me/tokens/{id}",
    "GET /api/v1/me/webauthn",
    "POST /api/v1/me/webauthn/registration",
    "POST /api/v1/me/webauthn/registration/finish",
    "PATCH /api/v1/me/webauthn/{id}",
    "DELETE /api/v1/me/webauthn/{id}",
    "POST /api/v1/me/webauthn/proof",
];

/// Walks every operation of the OpenAPI document with a token: exactly the security
/// settings answer `403 token_not_allowed`. An operation added later is decided here: a
/// new security setting that took a token, or a route that refused one, fails this test.
async fn a_token_never_reaches_a_security_setting(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let (secret, _) = token_of(&app, &admin).await;
    let document = app.get("/api/v1/openapi.json", None).await;
    document.assert_status(200);
    let paths = document.body["paths"].as_object().unwrap();
    let mut refused = Vec::new();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let concrete = path
                .replace("{id}", "x")
                .replace("{client_id}", "x")
                .replace("{account_id}", "x")
                .replace("{token}", "x");
            let body = operation.get("requestBody").map(|_| json!({}));
            let reply = app
                .request(method.clone(), &concrete, Some(&secret), body)
                .await;
            if reply.code() == "token_not_allowed" {
                reply.assert_error(403, "token_not_allowed");
                refused.push(format!("{method} {path}"));
            }
        }
    }
    refused.sort();
    let mut expected: Vec<String> = SECURITY_SETTINGS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(refused, expected);
    // The pages take a session only: a token is no one there.
    let page = app.get("/account/security", Some(&secret)).await;
    assert_ne!(page.status, 200, "{}", page.text);
    // Nothing changed: the token still works, the admin still has no two-factor.
    let me = app.get("/api/v1/me", Some(&secret)).await;
    me.assert_status(200);
    assert_eq!(me.body["two_factor"]["state"], "not_configured");
}

/// `GET /authz?workspace=…` with `token` as the bearer.
async fn authz(app: &TestApp, token: &str, workspace: &str) -> Reply {
    app.get(&format!("/api/v1/authz?workspace={workspace}"), Some(token))
        .await
}

async fn a_token_passes_forward_auth_under_its_owners_enforcement(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.enrolled("owner@example.com").await;
    let workspace = app.create_workspace(&owner.token, "Acme").await;
    let member = app.signed_in("ada@example.com").await;
    app.invite_and_accept(
        &workspace,
        &owner.token,
        "ada@example.com",
        "member",
        &member,
    )
    .await
    .assert_status(200);
    let (secret, _) = token_of(&app, &member).await;
    let (stranger, _) = token_of(&app, &app.signed_in("eve@example.com").await).await;
    // A member gets in with the identity headers.
    let allowed = authz(&app, &secret, &workspace).await;
    allowed.assert_status(200);
    assert_eq!(
        allowed.header("remote-user"),
        Some(app.account_id(&member).await.as_str())
    );
    assert_eq!(allowed.header("remote-email"), Some("ada@example.com"));
    assert_eq!(allowed.header("remote-workspace-role"), Some("member"));
    assert_eq!(allowed.header("deadbolt-access"), None);
    // A non-member does not.
    authz(&app, &stranger, &workspace)
        .await
        .assert_error(403, "forbidden");
    // Enforcement with a week's grace: still in, told so.
    app.enforce(&workspace, &owner.token, "all", 7)
        .await
        .assert_status(200);
    let grace = authz(&app, &secret, &workspace).await;
    grace.assert_status(200);
    assert_eq!(grace.header("deadbolt-access"), Some("grace"));
    assert!(grace.header("deadbolt-deadline").is_some());
    // The workspace API sees the same.
    let seen = app
        .get(&format!("/api/v1/workspaces/{workspace}"), Some(&secret))
        .await;
    seen.assert_status(200);
    assert_eq!(seen.body["access"], "grace");
    // Past the deadline: blocked, as its owner's session would be.
    app.clock.advance(7 * 86_400 + 1);
    authz(&app, &secret, &workspace)
        .await
        .assert_error(403, "two_factor_required");
    app.get(&format!("/api/v1/workspaces/{workspace}"), Some(&secret))
        .await
        .assert_error(403, "two_factor_required");
    // Not signed in at all: the sign-in redirect.
    let nobody = app
        .client
        .get(app.url(&format!("/api/v1/authz?workspace={workspace}")))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), 401);
}

async fn a_token_obeys_the_instance_policy(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let enrollment = app.enroll(&admin).await;
    let secret = enrollment.body["secret"].as_str().unwrap();
    app.confirm(&admin, &app.code(secret))
        .await
        .assert_status(200);
    let session = app.signed_in("ada@example.com").await;
    let (secret, _) = token_of(&app, &session).await;
    app.request(
        Method::PUT,
        "/api/v1/admin/security",
        Some(&admin),
        Some(json!({"require_two_factor": "everyone", "grace_period_days": 0})),
    )
    .await
    .assert_status(200);
    // Blocked like its owner: `/me` only (to see why), nothing else.
    app.get("/api/v1/me", Some(&secret))
        .await
        .assert_status(200);
    app.get("/api/v1/workspaces", Some(&secret))
        .await
        .assert_error(403, "two_factor_required");
}

async fn an_admin_reset_two_factor_off_and_a_suspension_revoke_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let ada = app.enrolled("ada@example.com").await;
    let ada_id = app.account_id(&ada.token).await;
    // Turning two-factor off revokes them, recorded with the cause.
    let (first, first_id) = token_of(&app, &ada.token).await;
    let (second, _) = token_of(&app, &ada.token).await;
    app.get("/api/v1/me", Some(&first)).await.assert_status(200);
    app.turn_off_two_factor(&ada.token).await;
    for secret in [&first, &second] {
        app.get("/api/v1/me", Some(secret))
            .await
            .assert_error(401, "unauthenticated");
    }
    let revoked = events_of(&app, &ada.token, "api_token_revoked").await;
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert!(revoked
        .iter()
        .all(|event| event["details"]["because"] == "two_factor_disabled"));
    assert!(revoked
        .iter()
        .any(|event| event["details"]["token_id"] == first_id.as_str()));
    // An admin reset revokes them.
    let (third, _) = token_of(&app, &ada.token).await;
    app.post(
        &format!("/api/v1/admin/accounts/{ada_id}/two-factor/reset"),
        Some(&admin),
        json!({"reason": "lost phone", "force": true}),
    )
    .await
    .assert_status(200);
    app.get("/api/v1/me", Some(&third))
        .await
        .assert_error(401, "unauthenticated");
    // A suspension revokes them, and they do not come back with the account.
    let session = app.signed_in("bea@example.com").await;
    let bea_id = app.account_id(&session).await;
    let (fourth, _) = token_of(&app, &session).await;
    app.post(
        &format!("/api/v1/admin/accounts/{bea_id}/suspend"),
        Some(&admin),
        json!({"reason": "offboarding"}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/api/v1/admin/accounts/{bea_id}/unsuspend"),
        Some(&admin),
        json!({"reason": "back"}),
    )
    .await
    .assert_status(200);
    app.get("/api/v1/me", Some(&fourth))
        .await
        .assert_error(401, "unauthenticated");
}

async fn a_password_reset_revokes_tokens_and_creation_is_told_to_the_owner(backend: Backend) {
    let (app, smtp) = mailing_app(backend).await;
    let session = app.signed_in("ada@example.com").await;
    let (secret, _) = token_of(&app, &session).await;
    let notice = nth_mail(&smtp, "ada@example.com", "A new API token was created", 1).await;
    assert!(text(&notice).contains("deploy script"), "{}", text(&notice));
    assert!(!text(&notice).contains(&secret[4..]), "never the secret");
    app.get("/api/v1/me", Some(&secret))
        .await
        .assert_status(200);
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "ada@example.com"}),
    )
    .await
    .assert_status(202);
    let mail = nth_mail(&smtp, "ada@example.com", RESET, 1).await;
    app.post(
        "/api/v1/password/reset",
        None,
        json!({
            "token": link_token(&mail, "/reset-password/"),
            "new_password": "an entirely new horse battery"
        }),
    )
    .await
    .assert_status(200);
    app.get("/api/v1/me", Some(&secret))
        .await
        .assert_error(401, "unauthenticated");
    let session = app
        .sign_in("ada@example.com", "an entirely new horse battery")
        .await;
    let session = session.body["token"].as_str().unwrap();
    let revoked = events_of(&app, session, "api_token_revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["details"]["because"], "password_reset");
}

/// Node B remembers the token; revoked through node A, B refuses it on its very next
/// request, for the API and for forward-auth.
async fn a_token_revoked_on_one_node_is_refused_by_the_other_at_once(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = respawn(&first).await;
    let session = first.signed_in("ada@example.com").await;
    let workspace = first.create_workspace(&session, "Acme").await;
    let (secret, id) = token_of(&first, &session).await;
    for _ in 0..3 {
        second
            .get("/api/v1/me", Some(&secret))
            .await
            .assert_status(200);
        authz(&second, &secret, &workspace).await.assert_status(200);
    }
    first
        .delete(&format!("/api/v1/me/tokens/{id}"), Some(&session))
        .await
        .assert_status(204);
    second
        .get("/api/v1/me", Some(&secret))
        .await
        .assert_error(401, "unauthenticated");
    authz(&second, &secret, &workspace)
        .await
        .assert_error(401, "unauthenticated");
}

/// Sixteen requests with a new token, half on each of two nodes: its first use is recorded
/// exactly once.
async fn two_nodes_racing_a_tokens_first_use_record_it_once(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = respawn(&first).await;
    let session = first.signed_in("ada@example.com").await;
    let (secret, _) = token_of(&first, &session).await;
    let racers = (0..16).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        let secret = secret.clone();
        async move { app.get("/api/v1/me", Some(&secret)).await.status }
    });
    let statuses = join_all(racers).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    assert_eq!(
        events_of(&first, &session, "api_token_first_used")
            .await
            .len(),
        1
    );
}

/// The tokens section of `/account/security` (a session's page): creating needs the proof,
/// the new token is shown once and works, and its Revoke button ends it.
async fn the_security_page_creates_shows_once_and_revokes(backend: Backend) {
    use crate::pages::{csrf_of, get_html, page_sign_in, post_form};
    let app = spawn_app(backend).await;
    let session = app.signed_in("ada@example.com").await;
    page_sign_in(&app, "ada@example.com", "").await;
    let (_, html) = get_html(&app, "/account/security").await;
    assert!(html.contains("id=\"tokens\""), "{html}");
    assert!(html.contains("You have no API tokens."));
    let csrf = csrf_of(&html);
    // A wrong proof creates nothing and says so.
    let refused = post_form(
        &app,
        "/account/security/tokens",
        &[
            ("csrf", &csrf),
            ("name", "deploy"),
            ("expires_in_days", "30"),
            ("password", "not my password"),
        ],
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("No token was created."));
    assert!(listed(&app, &session).await.is_empty());
    // Without the CSRF token: refused.
    let forged = post_form(
        &app,
        "/account/security/tokens",
        &[
            ("name", "deploy"),
            ("expires_in_days", "30"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(forged.status(), 403);
    assert!(listed(&app, &session).await.is_empty());
    let created = post_form(
        &app,
        "/account/security/tokens",
        &[
            ("csrf", &csrf),
            ("name", "deploy"),
            ("expires_in_days", "90"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let marker = "id=\"new-token-value\" class=\"secret\">";
    let start = html.find(marker).expect("the new token") + marker.len();
    let secret = html[start..start + html[start..].find('<').unwrap()].to_owned();
    assert!(secret.starts_with("dbt_"), "{secret}");
    app.get("/api/v1/me", Some(&secret))
        .await
        .assert_status(200);
    // Shown once: the page again lists it by name only.
    let (_, html) = get_html(&app, "/account/security").await;
    assert!(!html.contains(&secret), "shown once");
    assert!(html.contains("<strong>deploy</strong>"), "{html}");
    let id = listed(&app, &session).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = format!("/account/security/tokens/{id}/revoke");
    assert!(html.contains(&revoke), "{html}");
    let revoked = post_form(&app, &revoke, &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(revoked.status(), 200);
    assert!(revoked
        .text()
        .await
        .unwrap()
        .contains("The token was revoked."));
    app.get("/api/v1/me", Some(&secret))
        .await
        .assert_error(401, "unauthenticated");
}
