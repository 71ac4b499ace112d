//! The instance-wide requirement (config and `/admin/security`) and forward-auth
//! (`/api/v1/authz`).

use crate::helpers::*;
use deadbolt::config::{FilePolicy, RequireTwoFactor};
use reqwest::Method;
use serde_json::json;

async fn a_blocked_account_reaches_only_enrolment_sign_out_and_me(backend: Backend) {
    let app = spawn_app_with(backend, |file| {
        file.policy = Some(FilePolicy {
            require_two_factor: Some(RequireTwoFactor::Everyone),
            grace_period_days: Some(0),
            required_factor: None,
        })
    })
    .await;
    let token = app.signed_in("ada@example.com").await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["requirement"]["required"], true);
    assert_eq!(me.body["requirement"]["access"], "blocked");
    for (method, path) in [
        (Method::GET, "/api/v1/sessions"),
        (Method::GET, "/api/v1/workspaces"),
        (Method::GET, "/api/v1/me/events"),
    ] {
        let reply = app.request(method, path, Some(&token), None).await;
        reply.assert_error(403, "two_factor_required");
        assert_eq!(reply.body["error"]["deadline"], START.to_rfc3339());
    }
    app.post("/api/v1/workspaces", Some(&token), json!({"name": "x"}))
        .await
        .assert_error(403, "two_factor_required");
    // Enrolment is reachable, and enrolling lifts the block.
    let secret = app.enroll(&token).await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.confirm(&token, &app.code(&secret)).await.status, 200);
    assert_eq!(app.get("/api/v1/sessions", Some(&token)).await.status, 200);
    // Sign-out is always reachable.
    let other = app.signed_in("bob@example.com").await;
    assert_eq!(
        app.delete("/api/v1/sessions/current", Some(&other))
            .await
            .status,
        204
    );
}

async fn grace_lets_covered_accounts_in_until_the_deadline(backend: Backend) {
    let app = spawn_app_with(backend, |file| {
        file.policy = Some(FilePolicy {
            require_two_factor: Some(RequireTwoFactor::Everyone),
            grace_period_days: Some(7),
            required_factor: None,
        })
    })
    .await;
    let token = app.signed_in("ada@example.com").await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["requirement"]["access"], "grace");
    assert_eq!(
        me.body["requirement"]["deadline"],
        START.plus_seconds(7 * 86_400).to_rfc3339()
    );
    assert_eq!(app.get("/api/v1/sessions", Some(&token)).await.status, 200);
    app.clock.advance(7 * 86_400 - 60);
    assert_eq!(app.get("/api/v1/sessions", Some(&token)).await.status, 200);
    app.clock.advance(60);
    app.get("/api/v1/sessions", Some(&token))
        .await
        .assert_error(403, "two_factor_required");
}

async fn instance_admins_set_the_policy_at_run_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let user = app.signed_in("ada@example.com").await;
    let policy = app.get("/api/v1/admin/security", Some(&admin)).await;
    assert_eq!(policy.status, 200, "{}", policy.text);
    assert_eq!(policy.body["require_two_factor"], "off");
    assert_eq!(policy.body["source"], "config");
    app.get("/api/v1/admin/security", Some(&user))
        .await
        .assert_error(403, "forbidden");
    let put = |token: String, body: serde_json::Value| {
        let app = &app;
        async move {
            app.request(
                Method::PUT,
                "/api/v1/admin/security",
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    put(
        user.clone(),
        json!({"require_two_factor": "everyone", "grace_period_days": 0}),
    )
    .await
    .assert_error(403, "forbidden");
    put(
        admin.clone(),
        json!({"require_two_factor": "everyone", "grace_period_days": 0}),
    )
    .await
    .assert_error(409, "enable_two_factor_first");
    // The admin enrols (allowed while not yet covered), then turns it on for admins only.
    let secret = app.enroll(&admin).await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.confirm(&admin, &app.code(&secret)).await;
    put(
        admin.clone(),
        json!({"require_two_factor": "admins", "grace_period_days": 9}),
    )
    .await
    .assert_error(422, "invalid_grace_period");
    let set = put(
        admin.clone(),
        json!({"require_two_factor": "everyone", "grace_period_days": 3}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["source"], "admin");
    assert_eq!(set.body["enforced_since"], START.to_rfc3339());
    assert_eq!(
        set.body["deadline"],
        START.plus_seconds(3 * 86_400).to_rfc3339()
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&user)).await.body["requirement"]["access"],
        "grace"
    );
    app.clock.advance(3 * 86_400);
    app.get("/api/v1/workspaces", Some(&user))
        .await
        .assert_error(403, "two_factor_required");
    // Off unblocks everyone.
    let fresh_admin = app.sign_in("root@example.com", PASSWORD).await;
    let challenge = fresh_admin.body["challenge"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = app.answer_code(&challenge, &app.code(&secret)).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        put(
            admin,
            json!({"require_two_factor": "off", "grace_period_days": 0})
        )
        .await
        .status,
        200
    );
    let user = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get("/api/v1/workspaces", Some(&user)).await.status, 200);
}

async fn an_admin_choice_survives_a_restart_and_config_changes_apply(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.store.as_ref();
    use deadbolt::admin::sync_instance_policy;
    use deadbolt::config::{PolicyConfig, RequireTwoFactor as R};
    use deadbolt::domain::workspace::{InstanceScope, PolicySource};
    let configured = PolicyConfig {
        require_two_factor: R::Admins,
        grace_period_days: 14,
        required_factor: deadbolt::domain::workspace::RequiredFactor::Any,
    };
    sync_instance_policy(store, configured, START.plus_seconds(10))
        .await
        .unwrap();
    let policy = store.instance_policy().await.unwrap().unwrap();
    assert_eq!(
        (policy.scope, policy.source),
        (InstanceScope::Admins, PolicySource::Config)
    );
    assert_eq!(policy.enforced_since, Some(START.plus_seconds(10)));
    // The same configuration at the next start keeps the original date.
    sync_instance_policy(store, configured, START.plus_seconds(99))
        .await
        .unwrap();
    assert_eq!(
        store
            .instance_policy()
            .await
            .unwrap()
            .unwrap()
            .enforced_since,
        Some(START.plus_seconds(10))
    );
    // An admin's choice is kept across restarts whatever the file says.
    let mut admin_set = policy;
    admin_set.source = PolicySource::Admin;
    admin_set.scope = InstanceScope::Everyone;
    store.set_instance_policy(&admin_set).await.unwrap();
    sync_instance_policy(
        store,
        PolicyConfig {
            require_two_factor: R::Off,
            grace_period_days: 0,
            required_factor: deadbolt::domain::workspace::RequiredFactor::Any,
        },
        START,
    )
    .await
    .unwrap();
    assert_eq!(
        store.instance_policy().await.unwrap().unwrap().scope,
        InstanceScope::Everyone
    );
}

async fn authz_answers_for_a_reverse_proxy(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.enrolled("owner@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let eve = app.signed_in("eve@example.com").await;
    let id = app.create_workspace(&owner.token, "Acme").await;
    app.invite_and_accept(&id, &owner.token, "bob@example.com", "member", &bob)
        .await;
    let authz = format!("/api/v1/authz?workspace={id}");

    // Not signed in: 401 with the sign-in URL keeping the original URL.
    let anonymous = app
        .client
        .get(app.url(&authz))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Forwarded-Uri", "/reports?id=7")
        .send()
        .await
        .unwrap();
    let anonymous = Reply::read(anonymous).await;
    anonymous.assert_error(401, "unauthenticated");
    let location = anonymous.header("location").unwrap();
    assert_eq!(
        location,
        format!(
            "{}/login?next=https%3A%2F%2Fapp%2Eexample%2Ecom%2Freports%3Fid%3D7",
            app.state_public_url()
        )
    );

    // A member: 200 with identity headers.
    let allowed = app.get(&authz, Some(&bob)).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    assert_eq!(allowed.header("remote-email"), Some("bob@example.com"));
    assert_eq!(allowed.header("remote-workspace-role"), Some("member"));
    assert_eq!(
        allowed.header("remote-user"),
        Some(app.account_id(&bob).await.as_str())
    );
    assert_eq!(allowed.header("deadbolt-access"), None);
    // The session cookie works as well as the bearer token.
    let by_cookie = app
        .client
        .get(app.url(&authz))
        .header("Cookie", format!("theme=dark; deadbolt_session={bob}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);

    // Not a member: 403.
    app.get(&authz, Some(&eve))
        .await
        .assert_error(403, "forbidden");
    // In grace: allowed, and told so.
    app.enforce(&id, &owner.token, "all", 7).await;
    let grace = app.get(&authz, Some(&bob)).await;
    assert_eq!(grace.status, 200);
    assert_eq!(grace.header("deadbolt-access"), Some("grace"));
    assert_eq!(
        grace.header("deadbolt-deadline"),
        Some(
            app.clock_now()
                .plus_seconds(7 * 86_400)
                .to_rfc3339()
                .as_str()
        )
    );
    // Blocked: 403 two_factor_required.
    app.clock.advance(7 * 86_400);
    let bob = app.sign_in("bob@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&authz, Some(&bob))
        .await
        .assert_error(403, "two_factor_required");
    // A revoked session is refused at once.
    let owner_token = {
        let challenge = app.challenge(&owner.email).await;
        app.answer_code(&challenge, &app.code(&owner.secret))
            .await
            .body["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(app.get(&authz, Some(&owner_token)).await.status, 200);
    app.delete("/api/v1/sessions/current", Some(&owner_token))
        .await;
    app.get(&authz, Some(&owner_token))
        .await
        .assert_error(401, "unauthenticated");
    app.get("/api/v1/authz", Some(&bob))
        .await
        .assert_error(422, "invalid_body");
}

backend_tests!(
    a_blocked_account_reaches_only_enrolment_sign_out_and_me,
    grace_lets_covered_accounts_in_until_the_deadline,
    instance_admins_set_the_policy_at_run_time,
    an_admin_choice_survives_a_restart_and_config_changes_apply,
    authz_answers_for_a_reverse_proxy,
);
