//! Bad input gets the SPEC's error shape and loses nothing; every response carries the
//! security headers and a request id.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = app.client.request(method, app.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    Reply::read(request.send().await.unwrap()).await
}

const JSON: Option<&str> = Some("application/json");

async fn malformed_json_is_400_on_every_body_route(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/api/v1/accounts", "/api/v1/sessions"] {
        for body in [
            &b"{\"email\": "[..],
            b"not json",
            b"",
            b"{\"email\":\"a\",}",
        ] {
            raw(&app, Method::POST, path, JSON, body.to_vec())
                .await
                .assert_error(400, "malformed_json");
        }
    }
}

async fn unknown_fields_wrong_types_and_missing_fields_are_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        json!({"email": "ada@example.com", "password": PASSWORD, "admin": true}),
        json!({"email": "ada@example.com", "password": 12345678}),
        json!({"email": ["ada@example.com"], "password": PASSWORD}),
        json!({"password": PASSWORD}),
        json!(["ada@example.com", PASSWORD]),
    ];
    for body in &cases {
        let reply = app.post("/api/v1/accounts", None, body.clone()).await;
        reply.assert_error(422, "invalid_body");
        let reply = app.post("/api/v1/sessions", None, body.clone()).await;
        reply.assert_error(422, "invalid_body");
    }
    // The unknown field is named, so the client can fix it.
    let reply = app.post("/api/v1/accounts", None, cases[0].clone()).await;
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin"),
        "{}",
        reply.text
    );
    // Nothing was created by any of it.
    assert_eq!(app.store.count_accounts().await.unwrap(), 0);
}

async fn a_body_over_64_kib_is_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let padding = "x".repeat(70 * 1024);
    let body =
        serde_json::to_vec(&json!({"email": "ada@example.com", "password": padding})).unwrap();
    raw(&app, Method::POST, "/api/v1/accounts", JSON, body.clone())
        .await
        .assert_error(413, "body_too_large");
    raw(&app, Method::POST, "/api/v1/sessions", JSON, body)
        .await
        .assert_error(413, "body_too_large");
    assert_eq!(app.store.count_accounts().await.unwrap(), 0);
}

async fn a_body_that_is_not_json_is_415(backend: Backend) {
    let app = spawn_app(backend).await;
    let body =
        serde_json::to_vec(&json!({"email": "ada@example.com", "password": PASSWORD})).unwrap();
    raw(
        &app,
        Method::POST,
        "/api/v1/accounts",
        Some("text/plain"),
        body.clone(),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    raw(&app, Method::POST, "/api/v1/sessions", None, body)
        .await
        .assert_error(415, "unsupported_media_type");
}

async fn unknown_api_paths_are_404_and_wrong_methods_405_in_the_error_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/api/v1/nothing-here", None)
        .await
        .assert_error(404, "not_found");
    app.get("/api/v2/me", None)
        .await
        .assert_error(404, "not_found");
    app.request(Method::PUT, "/api/v1/accounts", None, Some(json!({})))
        .await
        .assert_error(405, "method_not_allowed");
    app.request(Method::PATCH, "/api/v1/me", None, None)
        .await
        .assert_error(405, "method_not_allowed");
}

async fn every_response_carries_security_headers_and_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let replies = [
        app.get("/healthz", None).await,
        app.get("/api/v1/me", None).await,
        app.get("/api/v1/nothing", None).await,
        app.create_account("ada@example.com", PASSWORD).await,
    ];
    for reply in &replies {
        let csp = reply.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
        assert!(reply
            .header("x-request-id")
            .is_some_and(|id| id.len() >= 16));
    }
    // API answers are never cached.
    assert_eq!(replies[1].header("cache-control"), Some("no-store"));
    // A request id given by a proxy is kept.
    let reply = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "proxy-request-42")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.headers()["x-request-id"], "proxy-request-42");
}

async fn errors_are_json_with_a_code_and_a_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app.get("/api/v1/me", None).await;
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let error = reply.body["error"].as_object().unwrap();
    assert_eq!(error.len(), 2, "{}", reply.text);
    assert!(reply.body.as_object().unwrap().len() == 1);
}

backend_tests!(
    malformed_json_is_400_on_every_body_route,
    unknown_fields_wrong_types_and_missing_fields_are_422,
    a_body_over_64_kib_is_413,
    a_body_that_is_not_json_is_415,
    unknown_api_paths_are_404_and_wrong_methods_405_in_the_error_shape,
    every_response_carries_security_headers_and_a_request_id,
    errors_are_json_with_a_code_and_a_message,
);
