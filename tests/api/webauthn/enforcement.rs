//! Enforcement by factor (SPEC §13): a workspace or the instance may ask for a
//! phishing-resistant second factor. Only a security key or passkey meets it; a member with
//! an authenticator app alone is in grace, then blocked like one without two-factor, and
//! adding a key unblocks at once. Asking for it restarts the grace period.

use reqwest::Method;
use serde_json::{json, Value};

use super::soft_key::SoftKey;
use super::{webauthn_app, ORIGIN};
use crate::helpers::{Backend, Reply, TestApp};

backend_tests!(
    a_phishing_resistant_workspace_blocks_an_app_alone_after_its_grace,
    asking_for_a_phishing_resistant_factor_needs_one_and_restarts_the_grace,
    a_phishing_resistant_instance_policy_blocks_an_app_alone,
);

const DAY: i64 = 86_400;

impl TestApp {
    /// `PUT /workspaces/{id}/security` with a `required_factor`.
    pub async fn enforce_factor(
        &self,
        workspace: &str,
        token: &str,
        grace: u32,
        factor: &str,
    ) -> Reply {
        self.request(
            Method::PUT,
            &format!("/api/v1/workspaces/{workspace}/security"),
            Some(token),
            Some(json!({
                "enforcement": "all",
                "grace_period_days": grace,
                "required_factor": factor,
            })),
        )
        .await
    }

    /// `GET /workspaces/{id}` as `token` sees it: its status and `access`.
    async fn workspace_access(&self, workspace: &str, token: &str) -> (u16, Value) {
        let seen = self
            .get(&format!("/api/v1/workspaces/{workspace}"), Some(token))
            .await;
        (seen.status.as_u16(), seen.body["access"].clone())
    }
}

async fn a_phishing_resistant_workspace_blocks_an_app_alone_after_its_grace(backend: Backend) {
    let app = webauthn_app(backend).await;
    let mut owner_key = SoftKey::new(ORIGIN);
    let owner = app.with_key("owner@example.com", &mut owner_key).await;
    let bob = app.enrolled("bob@example.com").await;
    let mut carol_key = SoftKey::new(ORIGIN);
    let carol = app.with_key("carol@example.com", &mut carol_key).await;
    let id = app.create_workspace(&owner, "Acme").await;
    for (email, token) in [
        ("bob@example.com", &bob.token),
        ("carol@example.com", &carol),
    ] {
        app.invite_and_accept(&id, &owner, email, "member", token)
            .await;
    }
    let since = app.clock_now();
    let set = app
        .enforce_factor(&id, &owner, 3, "phishing_resistant")
        .await;
    set.assert_status(200);
    assert_eq!(set.body["required_factor"], "phishing_resistant");
    // Bob's authenticator app does not count: two of three.
    assert_eq!(
        (&set.body["enrolled_count"], &set.body["member_count"]),
        (&json!(2), &json!(3)),
        "{}",
        set.text
    );
    let deadline = since.plus_seconds(3 * DAY).to_rfc3339();
    assert_eq!(
        app.workspace_access(&id, &bob.token).await,
        (200, json!("grace"))
    );
    let me = app.get("/api/v1/me", Some(&bob.token)).await;
    assert_eq!(
        me.body["requirement"],
        json!({
            "required": true,
            "required_factor": "phishing_resistant",
            "access": "grace",
            "deadline": deadline,
        })
    );
    assert_eq!(me.body["two_factor"]["state"], "enabled");

    // At the deadline Bob is blocked, there and at forward-auth; Carol is not.
    app.clock.advance(3 * DAY);
    let blocked = app
        .get(&format!("/api/v1/workspaces/{id}"), Some(&bob.token))
        .await;
    blocked.assert_error(403, "two_factor_required");
    let authz = format!("/api/v1/authz?workspace={id}");
    assert_eq!(app.get(&authz, Some(&bob.token)).await.status, 403);
    assert_eq!(app.get(&authz, Some(&carol)).await.status, 200);
    assert_eq!(app.workspace_access(&id, &carol).await, (200, json!("ok")));
    let members = app
        .get(&format!("/api/v1/workspaces/{id}/members"), Some(&owner))
        .await;
    let row = |email: &str| {
        members.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .unwrap()
            .clone()
    };
    assert_eq!(row("bob@example.com")["access"], "blocked");
    assert_eq!(row("bob@example.com")["two_factor_enabled"], true);
    assert_eq!(row("carol@example.com")["access"], "ok");

    // A key of his own unblocks him at once (registering one is open to him).
    let mut bob_key = SoftKey::new(ORIGIN);
    app.register_key(&bob.token, &mut bob_key, "Bob's key")
        .await
        .assert_status(201);
    assert_eq!(
        app.workspace_access(&id, &bob.token).await,
        (200, json!("ok"))
    );
    assert_eq!(app.get(&authz, Some(&bob.token)).await.status, 200);

    // Back to any factor: his app alone would do again; nobody is blocked.
    let any = app.enforce_factor(&id, &owner, 3, "any").await;
    assert_eq!(any.body["enrolled_count"], 3, "{}", any.text);
}

async fn asking_for_a_phishing_resistant_factor_needs_one_and_restarts_the_grace(backend: Backend) {
    let app = webauthn_app(backend).await;
    let owner = app.enrolled("owner@example.com").await;
    let id = app.create_workspace(&owner.token, "Acme").await;
    app.enforce_factor(&id, &owner.token, 7, "strong")
        .await
        .assert_error(422, "invalid_body");
    // An owner with an app alone cannot ask others for a key.
    let refused = app
        .enforce_factor(&id, &owner.token, 7, "phishing_resistant")
        .await;
    refused.assert_error(409, "enable_two_factor_first");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("security key"),
        "{}",
        refused.text
    );
    // Any factor, on since now; a request without `required_factor` keeps it.
    let since = app.clock_now();
    let any = app.enforce(&id, &owner.token, "all", 7).await;
    any.assert_status(200);
    assert_eq!(any.body["required_factor"], "any");
    assert_eq!(any.body["enforced_since"], since.to_rfc3339());

    // Hours later (within the session's lifetime), with a key: asking for one restarts
    // the grace from now.
    app.clock.advance(6 * 3_600);
    let mut key = SoftKey::new(ORIGIN);
    app.register_key(&owner.token, &mut key, "Key")
        .await
        .assert_status(201);
    let tightened_at = app.clock_now();
    let strict = app
        .enforce_factor(&id, &owner.token, 7, "phishing_resistant")
        .await;
    strict.assert_status(200);
    assert_eq!(strict.body["enforced_since"], tightened_at.to_rfc3339());
    assert_eq!(
        strict.body["deadline"],
        tightened_at.plus_seconds(7 * DAY).to_rfc3339()
    );
    // Changing the grace alone keeps both the date and the factor.
    app.clock.advance(60);
    let kept = app.enforce(&id, &owner.token, "all", 14).await;
    assert_eq!(kept.body["required_factor"], "phishing_resistant");
    assert_eq!(kept.body["enforced_since"], tightened_at.to_rfc3339());
    let events = app
        .get(
            &format!("/api/v1/workspaces/{id}/events"),
            Some(&owner.token),
        )
        .await;
    let changed = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"]["to"]["required_factor"] == "phishing_resistant")
        .cloned();
    assert!(changed.is_some(), "{}", events.text);
}

async fn a_phishing_resistant_instance_policy_blocks_an_app_alone(backend: Backend) {
    let app = webauthn_app(backend).await;
    let root = app.admin_signed_in("root@example.com").await;
    let bob = app.enrolled("bob@example.com").await;
    let policy = |factor: &'static str| json!({"require_two_factor": "everyone", "grace_period_days": 0, "required_factor": factor});
    let put = |body: Value| {
        let root = root.clone();
        let app = &app;
        async move {
            app.request(
                Method::PUT,
                "/api/v1/admin/security",
                Some(&root),
                Some(body),
            )
            .await
        }
    };
    // The admin has no key, so cannot ask for one; the password alone cannot turn it on.
    put(policy("phishing_resistant"))
        .await
        .assert_error(409, "enable_two_factor_first");
    let mut root_key = SoftKey::new(ORIGIN);
    app.register_key(&root, &mut root_key, "Root's key")
        .await
        .assert_status(201);
    let set = put(policy("phishing_resistant")).await;
    set.assert_status(200);
    assert_eq!(set.body["required_factor"], "phishing_resistant");

    // Bob, with his app alone, is blocked everywhere but what lets him add a key.
    app.get("/api/v1/sessions", Some(&bob.token))
        .await
        .assert_error(403, "two_factor_required");
    let me = app.get("/api/v1/me", Some(&bob.token)).await;
    assert_eq!(me.body["requirement"]["access"], "blocked", "{}", me.text);
    let mut bob_key = SoftKey::new(ORIGIN);
    app.register_key(&bob.token, &mut bob_key, "Bob's key")
        .await
        .assert_status(201);
    app.get("/api/v1/sessions", Some(&bob.token))
        .await
        .assert_status(200);
    // Any factor again: the stored choice reads back.
    let any = put(policy("any")).await;
    assert_eq!(any.body["required_factor"], "any", "{}", any.text);
    let read = app.get("/api/v1/admin/security", Some(&root)).await;
    assert_eq!(read.body["required_factor"], "any");
}
