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

pub(crate) async fn get_html(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
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

pub(crate) fn location(response: &reqwest::Response) -> &str {
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

/// The page's text with askama's escapes undone (for comparing sentences).
fn unescaped(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Signs in through the sign-in page and the challenge page with the current code.
async fn page_sign_in_with_code(app: &TestApp, email: &str, secret: &str) {
    let (response, _) = page_sign_in(app, email, "").await;
    assert_eq!(location(&response), "/login/two-factor");
    let (_, html) = get_html(app, "/login/two-factor").await;
    let (csrf, code) = (csrf_of(&html), app.code(secret));
    let done = post_form(
        app,
        "/login/two-factor",
        &[("csrf", &csrf), ("code", &code)],
    )
    .await;
    assert_eq!(done.status(), 303);
    app.clock.advance(30);
}

/// An instance admin with two-factor enabled: its bearer token and secret.
async fn enrolled_admin(app: &TestApp, email: &str) -> (String, String) {
    let token = app.admin_signed_in(email).await;
    let enrollment = app.enroll(&token).await;
    let secret = enrollment.body["secret"].as_str().unwrap().to_owned();
    let confirmed = app.confirm(&token, &app.code(&secret)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    app.clock.advance(30);
    (token, secret)
}

/// The id of the session behind a bearer token.
async fn session_id(app: &TestApp, token: &str) -> String {
    let listed = app.get("/api/v1/sessions", Some(token)).await;
    listed.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_session_from_the_sessions_page_ends_it_and_revoking_this_one_signs_out() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_account("rae@example.com", PASSWORD).await;
    let (_, browser_token) = page_sign_in(&app, "rae@example.com", "").await;
    let phone = app.sign_in("rae@example.com", PASSWORD).await;
    let phone_token = phone.body["token"].as_str().unwrap().to_owned();
    let phone_id = session_id(&app, &phone_token).await;

    let (_, html) = get_html(&app, "/account/sessions").await;
    assert!(html.contains(&format!("data-session=\"{phone_id}\"")));
    let csrf = csrf_of(&html);
    let path = format!("/account/sessions/{phone_id}/revoke");
    let forged = post_form(&app, &path, &[("csrf", "forged")]).await;
    assert_eq!(forged.status(), 403);
    assert_eq!(app.get("/api/v1/me", Some(&phone_token)).await.status, 200);

    let revoked = post_form(&app, &path, &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(location(&revoked), "/account/sessions?done=revoked");
    assert_eq!(app.get("/api/v1/me", Some(&phone_token)).await.status, 401);
    let (_, html) = get_html(&app, "/account/sessions?done=revoked").await;
    assert!(html.contains("Session revoked: that device is signed out."));
    assert!(!html.contains(&phone_id));

    let again = post_form(&app, &path, &[("csrf", &csrf)]).await;
    assert_eq!(again.status(), 404);
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("That session has already ended."));

    // Revoking this browser's own session signs it out.
    let own_id = session_id(&app, &browser_token).await;
    let own = post_form(
        &app,
        &format!("/account/sessions/{own_id}/revoke"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(own.status(), 303);
    assert_eq!(location(&own), "/login?signed_out=1");
    assert!(set_cookies(&own)
        .iter()
        .any(|c| c.starts_with("deadbolt_session=;")));
    assert_eq!(
        app.get("/api/v1/me", Some(&browser_token)).await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirming_without_a_live_enrolment_says_to_click_enable_again() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_account("ned@example.com", PASSWORD).await;
    page_sign_in(&app, "ned@example.com", "").await;
    let sentence = "No pending enrollment. Click \"Enable\" to start over.";

    // Nothing was ever started.
    let (_, html) = get_html(&app, "/account/security").await;
    let csrf = csrf_of(&html);
    let confirm = [("csrf", csrf.as_str()), ("code", "123456")];
    let refused = post_form(&app, "/account/security/confirm", &confirm).await;
    assert_eq!(refused.status(), 409);
    let html = unescaped(&refused.text().await.unwrap());
    assert!(html.contains(sentence), "{html}");
    assert!(html.contains("data-state=\"not_configured\""));

    // Started, then lapsed (two_factor.pending_ttl, 10 minutes).
    let enabled = post_form(&app, "/account/security/enable", &[("csrf", &csrf)]).await;
    assert_eq!(enabled.status(), 303);
    let (_, html) = get_html(&app, "/account/security").await;
    assert!(html.contains("data-state=\"pending\""));
    app.clock.advance(11 * 60);
    let refused = post_form(&app, "/account/security/confirm", &confirm).await;
    assert_eq!(refused.status(), 409);
    let html = unescaped(&refused.text().await.unwrap());
    assert!(html.contains(sentence), "{html}");
    assert!(html.contains("data-state=\"not_configured\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_saves_the_instance_requirement_from_the_admin_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let policy = |html: &str| {
        let (require, grace) = (
            html.contains("value=\"admins\" checked"),
            html.contains("<option value=\"7\" selected>"),
        );
        (require, grace)
    };

    // Without two-factor of one's own, requiring it is refused in words.
    let token = app.admin_signed_in("root@example.com").await;
    page_sign_in(&app, "root@example.com", "").await;
    let (status, html) = get_html(&app, "/admin").await;
    assert_eq!(status, 200);
    assert!(html.contains("Set in the configuration file."));
    let csrf = csrf_of(&html);
    let fields = [
        ("csrf", csrf.as_str()),
        ("require_two_factor", "admins"),
        ("grace_period_days", "7"),
    ];
    let refused = post_form(&app, "/admin/policy", &fields).await;
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains(
        "Enable two-factor authentication on your own account before requiring it of others."
    ));
    assert_eq!(
        app.get("/api/v1/admin/security", Some(&token)).await.body["require_two_factor"],
        "off"
    );

    let (token, secret) = enrolled_admin(&app, "ops@example.com").await;
    page_sign_in_with_code(&app, "ops@example.com", &secret).await;
    let (_, html) = get_html(&app, "/admin").await;
    let csrf = csrf_of(&html);
    let forged = [
        ("csrf", "forged"),
        ("require_two_factor", "admins"),
        ("grace_period_days", "7"),
    ];
    assert_eq!(
        post_form(&app, "/admin/policy", &forged).await.status(),
        403
    );
    let wrong_grace = [
        ("csrf", csrf.as_str()),
        ("require_two_factor", "admins"),
        ("grace_period_days", "5"),
    ];
    let refused = post_form(&app, "/admin/policy", &wrong_grace).await;
    assert_eq!(refused.status(), 422);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("The grace period must be 0, 3, 7, 14 or 30 days."));

    let fields = [
        ("csrf", csrf.as_str()),
        ("require_two_factor", "admins"),
        ("grace_period_days", "7"),
    ];
    let saved = post_form(&app, "/admin/policy", &fields).await;
    assert_eq!(saved.status(), 303);
    assert_eq!(location(&saved), "/admin?done=policy");
    let (_, html) = get_html(&app, "/admin?done=policy").await;
    assert!(html.contains("Instance requirement saved."));
    assert!(html.contains("Set here by an administrator."));
    assert_eq!(policy(&html), (true, true));
    let stored = app.get("/api/v1/admin/security", Some(&token)).await;
    assert_eq!(stored.body["require_two_factor"], "admins");
    assert_eq!(stored.body["grace_period_days"], 7);
    assert_eq!(stored.body["source"], "admin");

    // Someone who is not an instance admin cannot.
    app.create_account("pat@example.com", PASSWORD).await;
    page_sign_in(&app, "pat@example.com", "").await;
    let (_, html) = get_html(&app, "/account/security").await;
    let fields = [
        ("csrf", csrf_of(&html)),
        ("require_two_factor", "off".to_owned()),
        ("grace_period_days", "0".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = post_form(&app, "/admin/policy", &fields).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.get("/api/v1/admin/security", Some(&token)).await.body["require_two_factor"],
        "admins"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_stays_under_50_kb_with_40_sessions_and_40_members() {
    const LIMIT: usize = 50 * 1024;
    let app = spawn_app(Backend::Sqlite).await;

    // 40 sessions, each with the longest user agent kept (256 characters).
    app.create_account("sam@example.com", PASSWORD).await;
    let agent = format!("Mozilla/5.0 (X11; Linux x86_64) {}", "x".repeat(300));
    // One after another: concurrent password attempts count against the account's throttle.
    for _ in 0..40 {
        let response = app
            .client
            .post(app.url("/api/v1/sessions"))
            .header("user-agent", &agent)
            .json(&serde_json::json!({"email": "sam@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    page_sign_in(&app, "sam@example.com", "").await;
    for path in ["/account/sessions", "/account/sessions?page=2"] {
        let (status, html) = get_html(&app, path).await;
        assert_eq!(status, 200);
        assert!(html.len() < LIMIT, "{path}: {} bytes", html.len());
        assert!(html.contains("Page "), "{path} has no pager");
    }
    let (_, first) = get_html(&app, "/account/sessions").await;
    assert!(first.contains("This browser"), "this browser comes first");

    // A workspace of 41, under enforcement (every row shows its grace period).
    let (owner, secret) = enrolled_admin(&app, "root@example.com").await;
    let workspace = app.create_workspace(&owner, "Acme").await;
    for n in 0..40 {
        let email = format!("member{n:02}@example.com");
        let token = app.signed_in(&email).await;
        let joined = app
            .invite_and_accept(&workspace, &owner, &email, "member", &token)
            .await;
        assert_eq!(joined.status, 200, "{}", joined.text);
    }
    assert_eq!(app.enforce(&workspace, &owner, "all", 7).await.status, 200);
    let pending = app
        .post(
            &format!("/api/v1/workspaces/{workspace}/invitations"),
            Some(&owner),
            serde_json::json!({"email": "root@example.com", "role": "admin"}),
        )
        .await;
    let invitation = pending.body["token"].as_str().unwrap().to_owned();

    page_sign_in_with_code(&app, "root@example.com", &secret).await;
    let members = format!("/workspaces/{workspace}/members");
    let security = format!("/workspaces/{workspace}/settings/security");
    let mut pages = vec![
        "/account/security".to_owned(),
        "/account/sessions".to_owned(),
        "/workspaces".to_owned(),
        security.clone(),
        members.clone(),
        format!("{members}?page=2"),
        "/admin".to_owned(),
        format!("/invitations/{invitation}"),
        "/signup".to_owned(),
    ];
    pages.sort();
    for path in &pages {
        let (status, html) = get_html(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.len() < LIMIT, "{path}: {} bytes", html.len());
    }
    let (_, html) = get_html(&app, &members).await;
    assert_eq!(html.matches("class=\"member\"").count(), 25);
    assert!(html.contains("Page 1 of 2 (41 in all)"));
    let (_, html) = get_html(&app, &security).await;
    assert!(html.contains("1 of 41"));

    // The members page as it answers an invitation (the link shown once).
    let fields = [
        ("csrf", csrf_of(&html)),
        ("email", "new@example.com".to_owned()),
        ("role", "member".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let invited = post_form(
        &app,
        &format!("/workspaces/{workspace}/invitations"),
        &fields,
    )
    .await;
    assert_eq!(invited.status(), 200);
    let html = invited.text().await.unwrap();
    assert!(html.contains("id=\"invitation-link\""));
    assert!(
        html.len() < LIMIT,
        "invitation answer: {} bytes",
        html.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_forms_need_their_csrf_token_and_refusals_are_sentences() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.signed_in("olga@example.com").await;
    let workspace = app.create_workspace(&owner, "Acme").await;
    let owner_id = app.account_id(&owner).await;
    for (email, role) in [("ada@example.com", "admin"), ("max@example.com", "member")] {
        let token = app.signed_in(email).await;
        let joined = app
            .invite_and_accept(&workspace, &owner, email, role, &token)
            .await;
        assert_eq!(joined.status, 200, "{}", joined.text);
    }
    let members = format!("/workspaces/{workspace}/members");
    let invitations = format!("/workspaces/{workspace}/invitations");

    // A plain member cannot open the page.
    page_sign_in(&app, "max@example.com", "").await;
    let (status, html) = get_html(&app, &members).await;
    assert_eq!(status, 403);
    assert!(html.contains("You are not allowed to do this."));

    // An admin: every form checks its token; what only owners may do is said plainly.
    page_sign_in(&app, "ada@example.com", "").await;
    let (status, html) = get_html(&app, &members).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("<option value=\"owner\""),
        "admins cannot offer owner"
    );
    let csrf = csrf_of(&html);
    let forged = [
        ("csrf", "forged"),
        ("email", "new@example.com"),
        ("role", "member"),
    ];
    assert_eq!(post_form(&app, &invitations, &forged).await.status(), 403);
    let role_path = format!("{members}/{owner_id}/role");
    let remove_path = format!("{members}/{owner_id}/remove");
    for path in [&role_path, &remove_path] {
        let refused = post_form(&app, path, &[("csrf", "forged"), ("role", "member")]).await;
        assert_eq!(refused.status(), 403, "{path}");
        assert!(refused
            .text()
            .await
            .unwrap()
            .contains("This form has expired"));
    }
    for (fields, status, sentence) in [
        (
            [("email", "new@example.com"), ("role", "owner")],
            403,
            "Only owners can invite an owner.",
        ),
        (
            [("email", "not an address"), ("role", "member")],
            422,
            "Enter a valid e-mail address, like name@example.com.",
        ),
        (
            [("email", "new@example.com"), ("role", "boss")],
            422,
            "Choose a role: member, admin or owner.",
        ),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let refused = post_form(&app, &invitations, &form).await;
        assert_eq!(refused.status(), status, "{sentence}");
        let html = unescaped(&refused.text().await.unwrap());
        assert!(html.contains(sentence), "{sentence}");
        assert!(!html.contains("id=\"invitation-link\""));
    }
    let refused = post_form(&app, &role_path, &[("csrf", &csrf), ("role", "member")]).await;
    assert_eq!(refused.status(), 403);
    assert!(unescaped(&refused.text().await.unwrap())
        .contains("Only owners can make someone an owner or change an owner's role."));
    let refused = post_form(&app, &remove_path, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Only owners can remove an owner."));

    // An invitation opened by someone else, and one that does not exist.
    let invited = post_form(
        &app,
        &invitations,
        &[
            ("csrf", &csrf),
            ("email", "bob@example.com"),
            ("role", "member"),
        ],
    )
    .await;
    assert_eq!(invited.status(), 200);
    let html = invited.text().await.unwrap();
    let marker = "/invitations/";
    let start = html.find(marker).unwrap() + marker.len();
    let end = start + html[start..].find('<').unwrap();
    let token = html[start..end].to_owned();
    let invitation = format!("/invitations/{token}");
    let (status, html) = get_html(&app, &invitation).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-state=\"other_account\""));
    assert!(html.contains(
        "This invitation is for bob@example.com, but you are signed in as ada@example.com."
    ));
    let accept = format!("{invitation}/accept");
    assert_eq!(
        post_form(&app, &accept, &[("csrf", "forged")])
            .await
            .status(),
        403
    );
    let refused = post_form(&app, &accept, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("data-state=\"other_account\""));
    let (status, html) = get_html(&app, "/invitations/nothing-here").await;
    assert_eq!(status, 404);
    assert!(html.contains("This invitation no longer works"));

    // Not signed in: to sign in, and back to the invitation afterwards.
    let signed_out = post_form(&app, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(signed_out.status(), 303);
    let away = app.client.get(app.url(&invitation)).send().await.unwrap();
    assert_eq!(away.status(), 303);
    let next = location(&away).to_owned();
    assert!(next.starts_with("/login?next=%2Finvitations%2F"), "{next}");
    let (_, html) = get_html(&app, &next).await;
    assert!(html.contains("Sign in to accept your invitation"));
    assert!(html.contains("href=\"/signup?next=%2Finvitations%2F"));
}
