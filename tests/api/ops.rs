//! `/healthz`, `/readyz`, `/metrics` and the OpenAPI document.

use crate::helpers::*;
use reqwest::Method;

async fn healthz_and_readyz_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.text, "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.text, "ready");
}

async fn metrics_count_requests_by_route_and_sign_in_outcomes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_account("ada@example.com", PASSWORD).await;
    app.sign_in("ada@example.com", PASSWORD).await;
    app.sign_in("ada@example.com", "wrong wrong wrong wrong")
        .await;
    app.get("/healthz", None).await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    let text = &metrics.text;
    assert!(
        text.contains(
            r#"deadbolt_http_requests_total{method="POST",route="/api/v1/sessions",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"deadbolt_http_requests_total{method="POST",route="/api/v1/sessions",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"deadbolt_sign_ins_total{outcome="success"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"deadbolt_sign_ins_total{outcome="invalid_credentials"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"deadbolt_http_request_duration_seconds_count{method="GET",route="/healthz"} 1"#
        ),
        "{text}"
    );
    // Raw paths never become labels.
    let token = app.signed_in("bob@example.com").await;
    app.delete("/api/v1/sessions/some-session-id", Some(&token))
        .await;
    let text = app.get("/metrics", None).await.text;
    assert!(text.contains(r#"route="/api/v1/sessions/{id}""#), "{text}");
    assert!(!text.contains("some-session-id"), "{text}");
}

/// Every route the server has, by method and path.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/accounts"),
    ("post", "/api/v1/sessions"),
    ("get", "/api/v1/sessions"),
    ("delete", "/api/v1/sessions/current"),
    ("delete", "/api/v1/sessions/{id}"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/me/events"),
    ("delete", "/api/v1/me"),
    ("post", "/api/v1/sessions/challenge"),
    ("delete", "/api/v1/sessions/challenge"),
    ("post", "/api/v1/me/two-factor/enrollment"),
    ("delete", "/api/v1/me/two-factor/enrollment"),
    ("get", "/api/v1/me/two-factor/enrollment/qr.png"),
    ("post", "/api/v1/me/two-factor/enrollment/confirm"),
    ("post", "/api/v1/me/two-factor/check"),
    ("post", "/api/v1/email/verify"),
    ("post", "/api/v1/me/email/proof"),
    ("post", "/api/v1/me/email/verification"),
    ("put", "/api/v1/me/email"),
    ("put", "/api/v1/me/password"),
    ("get", "/api/v1/me/applications"),
    ("delete", "/api/v1/me/applications/{client_id}"),
    ("post", "/api/v1/password/forgot"),
    ("post", "/api/v1/password/reset"),
    ("post", "/api/v1/sessions/email"),
    ("post", "/api/v1/sessions/email/verify"),
    ("post", "/api/v1/me/two-factor/recovery-codes"),
    ("delete", "/api/v1/me/two-factor"),
    ("post", "/api/v1/workspaces"),
    ("get", "/api/v1/workspaces"),
    ("get", "/api/v1/workspaces/{id}"),
    ("get", "/api/v1/workspaces/{id}/members"),
    ("patch", "/api/v1/workspaces/{id}/members/{account_id}"),
    ("delete", "/api/v1/workspaces/{id}/members/{account_id}"),
    ("post", "/api/v1/workspaces/{id}/invitations"),
    ("post", "/api/v1/invitations/{token}/accept"),
    ("get", "/api/v1/workspaces/{id}/security"),
    ("put", "/api/v1/workspaces/{id}/security"),
    ("get", "/api/v1/workspaces/{id}/events"),
    ("get", "/api/v1/authz"),
    ("get", "/api/v1/admin/security"),
    ("put", "/api/v1/admin/security"),
    ("post", "/api/v1/admin/accounts/{id}/two-factor/reset"),
    ("post", "/api/v1/admin/accounts/{id}/suspend"),
    ("post", "/api/v1/admin/accounts/{id}/unsuspend"),
    ("delete", "/api/v1/admin/accounts/{id}"),
    ("get", "/api/v1/admin/reset-requests"),
    ("post", "/api/v1/reset-requests/confirm"),
    ("get", "/api/v1/workspaces/{id}/reset-requests"),
    (
        "post",
        "/api/v1/workspaces/{id}/reset-requests/{request_id}/vouch",
    ),
    ("get", "/api/v1/admin/accounts"),
    ("get", "/api/v1/admin/events"),
    ("get", "/api/v1/admin/notifications"),
    ("post", "/api/v1/admin/notifications/{id}/retry"),
    ("get", "/api/v1/admin/oidc/clients"),
    ("post", "/api/v1/admin/oidc/clients"),
    ("delete", "/api/v1/admin/oidc/clients/{client_id}"),
    ("post", "/api/v1/sessions/challenge/reset-request"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/me/webauthn"),
    ("post", "/api/v1/me/webauthn/registration"),
    ("post", "/api/v1/me/webauthn/registration/finish"),
    ("patch", "/api/v1/me/webauthn/{id}"),
    ("delete", "/api/v1/me/webauthn/{id}"),
    ("post", "/api/v1/me/webauthn/proof"),
    ("post", "/api/v1/sessions/challenge/webauthn"),
    ("post", "/api/v1/sessions/passkey"),
    ("post", "/api/v1/sessions/passkey/finish"),
    ("post", "/api/v1/me/tokens"),
    ("get", "/api/v1/me/tokens"),
    ("delete", "/api/v1/me/tokens/{id}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

async fn the_openapi_document_lists_every_route_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(document.status, 200);
    assert!(document.body["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = Vec::new();
    for (path, item) in document.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    // And every documented route exists: it answers something other than 404/405.
    for (method, path) in &expected {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let path = path
            .replace("{id}", "x")
            .replace("{account_id}", "x")
            .replace("{request_id}", "x")
            .replace("{token}", "x")
            .replace("{client_id}", "x");
        let reply = app.request(method.clone(), &path, None, None).await;
        assert!(
            reply.status != 404 && reply.status != 405,
            "{method} {path} -> {}",
            reply.status
        );
    }
    // Error responses and the bearer scheme are described.
    assert!(document.body["components"]["schemas"]["ErrorBody"].is_object());
    assert!(document.body["components"]["securitySchemes"]["bearer"].is_object());
}

backend_tests!(
    healthz_and_readyz_answer,
    metrics_count_requests_by_route_and_sign_in_outcomes,
    the_openapi_document_lists_every_route_and_nothing_else,
);
