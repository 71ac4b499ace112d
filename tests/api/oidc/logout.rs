//! RP-initiated logout (`end_session_endpoint`): a hint naming the browser's session signs
//! out at once, anything else asks to confirm; the redirect goes only to a registered
//! `post_logout_redirect_uri`, with `state`; the session's tokens end with it.

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use super::driver::{
    authorize_url, exchange, field, provider, userinfo, Browser, Person, LOGGED_OUT, VERIFIER,
};
use crate::helpers::{Backend, TestApp};

/// Signs the browser in through an authorization for `spa`; the tokens.
async fn sign_in(app: &TestApp, browser: &Browser, person: &Person<'_>) -> Value {
    let url = authorize_url(app, "spa", VERIFIER, &[])
        .replace("scope=openid+email+profile", "scope=openid+offline_access");
    let ended = browser.follow(app, &url, person).await;
    let (status, tokens) = exchange(&app.base, &ended.param("code").unwrap(), VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> Url {
    let mut url = Url::parse(&app.url("/oauth2/logout")).unwrap();
    for (key, value) in params {
        url.query_pairs_mut().append_pair(key, value);
    }
    url
}

async fn session_alive(app: &TestApp, tokens: &Value) -> bool {
    let access = tokens["access_token"].as_str().unwrap();
    userinfo(&app.base, access).await.status() == StatusCode::OK
}

async fn rp_initiated_logout(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    app.signed_in("hal@example.com").await;
    let hal = Person {
        email: "hal@example.com",
        secret: None,
    };
    let browser = Browser::new();
    let tokens = sign_in(&app, &browser, &hal).await;
    let hint = tokens["id_token"].as_str().unwrap();
    assert!(super::driver::claims_of(hint)["sid"].is_string());

    // An unregistered post_logout_redirect_uri, or a hint we did not sign: an error page.
    for params in [
        vec![
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/elsewhere"),
        ],
        vec![
            ("id_token_hint", "e30.e30.e30"),
            ("post_logout_redirect_uri", LOGGED_OUT),
        ],
    ] {
        let response = browser
            .http
            .get(logout_url(&app, &params))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    assert!(session_alive(&app, &tokens).await);

    // The hint names this browser's session: signed out at once, back with state.
    let response = browser
        .http
        .get(logout_url(
            &app,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", LOGGED_OUT),
                ("state", "bye"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        format!("{LOGGED_OUT}?state=bye").as_str()
    );
    assert!(!session_alive(&app, &tokens).await);
    let (status, _) =
        super::tokens::refresh(&app.base, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Signed in again, an old hint (another session) asks to confirm, with a CSRF form.
    let again = sign_in(&app, &browser, &hal).await;
    let page = browser
        .http
        .get(logout_url(
            &app,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", LOGGED_OUT),
                ("state", "s2"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("http://127.0.0.1:9"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"logout\""), "{html}");
    assert!(session_alive(&app, &again).await);
    let forged = browser
        .http
        .post(app.url("/oauth2/logout"))
        .form(&[("csrf", "forged"), ("request", &field(&html, "request"))])
        .send()
        .await
        .unwrap();
    assert_ne!(forged.status(), StatusCode::SEE_OTHER);
    assert!(session_alive(&app, &again).await);
    let confirmed = browser
        .http
        .post(app.url("/oauth2/logout"))
        .form(&[
            ("csrf", field(&html, "csrf")),
            ("request", field(&html, "request")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        confirmed.headers()["location"],
        format!("{LOGGED_OUT}?state=s2").as_str()
    );
    assert!(!session_alive(&app, &again).await);

    // Not signed in: nothing to end; back to the client.
    let response = browser
        .http
        .get(logout_url(
            &app,
            &[
                ("client_id", "spa"),
                ("post_logout_redirect_uri", LOGGED_OUT),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], LOGGED_OUT);

    let discovery: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["end_session_endpoint"],
        app.url("/oauth2/logout").as_str()
    );
}

backend_tests!(rp_initiated_logout);
