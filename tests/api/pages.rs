//! The pages over plain HTTP: CSRF on every form, the session cookie's attributes and
//! renewal, sign-out on the server, safe redirects, and API errors in words. The browser
//! flows are in `browser.rs`.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp, PASSWORD};

/// The `csrf` hidden field of the first form in `html`.
pub(crate) fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn session_cookie(cookies: &[String]) -> Option<String> {
    cookies
        .iter()
        .find(|c| c.starts_with("deadbolt_session=") && !c.starts_with("deadbolt_session=;"))
        .map(|c| c["deadbolt_session=".len()..c.find(';').unwrap()].to_owned())
}

async fn get_html(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// Signs in through the sign-in page; returns the new session token.
pub(crate) async fn page_sign_in(
    app: &TestApp,
    email: &str,
    next: &str,
) -> (reqwest::Response, String) {
    // `/login` sends someone signed in straight on; the sign-up page always has a form.
    let (_, html) = get_html(app, "/signup").await;
    let fields = [
        ("csrf", csrf_of(&html)),
        ("email", email.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("next", next.to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = post_form(app, "/login", &fields).await;
    let token = session_cookie(&set_cookies(&response)).unwrap_or_default();
    (response, token)
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()["location"].to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_csrf_token_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_account("ann@example.com", PASSWORD).await;
    let (_, html) = get_html(&app, "/login").await;
    let fields = [("email", "ann@example.com"), ("password", PASSWORD)];
    let refused = post_form(&app, "/login", &fields).await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("This form has expired"));
    let forged = [
        ("csrf", "forged"),
        ("email", "ann@example.com"),
        ("password", PASSWORD),
    ];
    assert_eq!(post_form(&app, "/login", &forged).await.status(), 403);
    let token = csrf_of(&html);
    let good = [
        ("csrf", token.as_str()),
        ("email", "ann@example.com"),
        ("password", PASSWORD),
    ];
    let signed_in = post_form(&app, "/login", &good).await;
    assert_eq!(signed_in.status(), 303);

    // Signed in, the form token is bound to the session.
    let (_, html) = get_html(&app, "/account/security").await;
    let session_token = csrf_of(&html);
    assert_ne!(session_token, token);
    let forged = [("csrf", "forged")];
    let refused = post_form(&app, "/account/security/enable", &forged).await;
    assert_eq!(refused.status(), 403);
    let fields = [("csrf", session_token.as_str())];
    let enabled = post_form(&app, "/account/security/enable", &fields).await;
    assert_eq!(enabled.status(), 303);
    let (_, html) = get_html(&app, "/account/security").await;
    assert!(html.contains("data-state=\"pending\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sign_in_sets_a_new_http_only_session_and_sign_out_ends_it() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_account("bea@example.com", PASSWORD).await;
    let (first, first_token) = page_sign_in(&app, "bea@example.com", "").await;
    let cookie = set_cookies(&first)
        .into_iter()
        .find(|c| c.starts_with("deadbolt_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(app.get("/api/v1/me", Some(&first_token)).await.status, 200);

    let (_, second_token) = page_sign_in(&app, "bea@example.com", "").await;
    assert!(!second_token.is_empty());
    assert_ne!(first_token, second_token);
    // The browser's previous session ended with the new sign-in.
    assert_eq!(app.get("/api/v1/me", Some(&first_token)).await.status, 401);
    assert!(app
        .event_kinds(&second_token)
        .await
        .contains(&"sign_in_succeeded".to_owned()));

    let (_, html) = get_html(&app, "/account/sessions").await;
    let fields = [("csrf", csrf_of(&html))];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signed_out = post_form(&app, "/logout", &fields).await;
    assert_eq!(signed_out.status(), 303);
    assert_eq!(location(&signed_out), "/login?signed_out=1");
    assert_eq!(app.get("/api/v1/me", Some(&second_token)).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.public_url = Some("https://auth.example.com".to_owned());
    })
    .await;
    let response = app.client.get(app.url("/login")).send().await.unwrap();
    let cookies = set_cookies(&response);
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("deadbolt_csrf=") && c.contains("; Secure")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sign_in_only_this_host_is_a_destination() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_account("cal@example.com", PASSWORD).await;
    for (next, expected) in [
        ("/workspaces", "/workspaces"),
        ("https://evil.example/", "/account/security"),
        ("//evil.example/", "/account/security"),
        ("/\\evil.example/", "/account/security"),
        ("/\t/evil.example/", "/account/security"),
        ("http://evil.example\\@127.0.0.1/", "/account/security"),
        ("http://me:pw@127.0.0.1:9000/", "/account/security"),
        (
            "http://127.0.0.1:9000/app?x=1",
            "http://127.0.0.1:9000/app?x=1",
        ),
    ] {
        let (response, _) = page_sign_in(&app, "cal@example.com", next).await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), expected, "next={next:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_forms_may_lead_to_the_origin_of_their_next_and_no_other() {
    let app = spawn_app(Backend::Sqlite).await;
    let policy = |response: &reqwest::Response| {
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let plain = app.client.get(app.url("/login")).send().await.unwrap();
    assert!(
        policy(&plain).contains("form-action 'self';"),
        "{}",
        policy(&plain)
    );
    let next = "/login?next=http%3A%2F%2F127.0.0.1%3A9000%2Freports%3Fx%3D1";
    let forward = app.client.get(app.url(next)).send().await.unwrap();
    assert!(
        policy(&forward).contains("form-action 'self' http://127.0.0.1:9000;"),
        "{}",
        policy(&forward)
    );
    for refused in [
        "/login?next=https%3A%2F%2Fevil.example%2F",
        "/login?next=%2Fworkspaces",
    ] {
        let response = app.client.get(app.url(refused)).send().await.unwrap();
        assert!(
            policy(&response).contains("form-action 'self';"),
            "{refused}"
        );
    }

    // The challenge page, which carries the last form before the redirect, allows it too.
    let user = app.enrolled("eli@example.com").await;
    let (answer, _) = page_sign_in(&app, &user.email, "http://127.0.0.1:9000/r").await;
    assert_eq!(answer.status(), 303);
    let challenge = app
        .client
        .get(app.url(location(&answer)))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 200);
    assert!(
        policy(&challenge).contains("form-action 'self' http://127.0.0.1:9000;"),
        "{}",
        policy(&challenge)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_say_what_went_wrong() {
    let app = spawn_app(Backend::Sqlite).await;
    let away = app
        .client
        .get(app.url("/account/security"))
        .send()
        .await
        .unwrap();
    assert_eq!(away.status(), 303);
    assert_eq!(location(&away), "/login?next=%2Faccount%2Fsecurity");

    app.create_account("dan@example.com", PASSWORD).await;
    let (_, html) = get_html(&app, "/login").await;
    let token = csrf_of(&html);
    let wrong = [
        ("csrf", token.as_str()),
        ("email", "dan@example.com"),
        ("password", "nope"),
    ];
    let refused = post_form(&app, "/login", &wrong).await;
    assert_eq!(refused.status(), 401);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Incorrect e-mail address or password."));

    page_sign_in(&app, "dan@example.com", "").await;
    let (status, html) = get_html(&app, "/admin").await;
    assert_eq!(status, 403);
    assert!(html.contains("You are not allowed to do this."));
    let (status, html) = get_html(&app, "/workspaces/nope/settings/security").await;
    assert_eq!(status, 404);
    assert!(html.len() < 50 * 1024);
}
