//! The applications a person let sign them in, and withdrawing that consent: over the API
//! (`GET /me/applications`, `DELETE /me/applications/{client_id}`) and the security page.

use reqwest::StatusCode;

use super::driver::{
    authorize_url, provider, userinfo, Browser, Person, REDIRECT, SECRET, VERIFIER,
};
use crate::helpers::{Backend, TestApp};

/// The confidential client `rp`'s code exchanged (client_secret_basic): its access and
/// refresh tokens.
async fn rp_tokens(app: &TestApp, code: &str) -> (String, String) {
    let response = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .basic_auth("rp", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let token = |name: &str| body[name].as_str().unwrap().to_owned();
    (token("access_token"), token("refresh_token"))
}

/// Whether `rp`'s token is active, by introspection.
async fn rp_holds(app: &TestApp, token: &str) -> bool {
    let answer: serde_json::Value =
        super::tokens::as_rp(app, "/oauth2/introspect", &[("token", token)])
            .await
            .json()
            .await
            .unwrap();
    answer["active"] == serde_json::json!(true)
}

async fn a_person_withdraws_consent_and_the_application_asks_again(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let session = app.signed_in("ada@example.com").await;
    let ada = Person {
        email: "ada@example.com",
        secret: None,
    };
    let browser = Browser::new();
    let offline = authorize_url(&app, "rp", VERIFIER, &[]).replace(
        "scope=openid+email+profile",
        "scope=openid+email+profile+offline_access",
    );
    let ended = browser.follow(&app, &offline, &ada).await;
    let (access, refresh) = rp_tokens(&app, &ended.param("code").unwrap()).await;
    assert_eq!(userinfo(&app.base, &access).await.status(), StatusCode::OK);
    assert!(rp_holds(&app, &refresh).await, "a live refresh token");
    let listed = app.get("/api/v1/me/applications", Some(&session)).await;
    listed.assert_status(200);
    assert_eq!(listed.body["applications"][0]["client_id"], "rp");
    assert_eq!(listed.body["applications"][0]["name"], "App rp");
    // The security page lists it with a Revoke button.
    crate::pages::page_sign_in(&app, "ada@example.com", "").await;
    let (_, html) = crate::pages::get_html(&app, "/account/security").await;
    assert!(html.contains(r#"data-client-id="rp""#), "{html}");
    assert!(html.contains("/account/security/applications/rp/revoke"));

    app.delete("/api/v1/me/applications/rp", Some(&session))
        .await
        .assert_status(204);
    app.delete("/api/v1/me/applications/rp", Some(&session))
        .await
        .assert_error(404, "not_found");
    // What it held ends now, and next time it asks again.
    assert_eq!(
        userinfo(&app.base, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        !rp_holds(&app, &refresh).await,
        "the refresh token ended too"
    );
    let listed = app.get("/api/v1/me/applications", Some(&session)).await;
    assert_eq!(listed.body["applications"], serde_json::json!([]));
    let declining = Browser {
        decline: true,
        ..Browser::new()
    };
    let asked = declining
        .follow(&app, &authorize_url(&app, "rp", VERIFIER, &[]), &ada)
        .await;
    assert_eq!(asked.param("error").as_deref(), Some("access_denied"));
    assert!(app
        .event_kinds(&session)
        .await
        .contains(&"oidc_consent_revoked".to_owned()));
}

backend_tests!(a_person_withdraws_consent_and_the_application_asks_again);
