//! Security keys and passkeys in Chromium (SPEC §13), with chromedriver's virtual
//! authenticator (WebDriver's WebAuthn extension): adding one on the security page, signing
//! in with the password and the key, with a passkey alone, and a passkey without user
//! verification refused; a workspace asking for a key blocking a member with an app alone
//! until one is added. WebAuthn needs a secure context and a domain: the app is reached
//! at `http://localhost:PORT`, which is both.

use fantoccini::Locator;

use super::driver::Browser;
use crate::helpers::{spawn_app_at_own_url, Backend, TestApp, PASSWORD};
use crate::webauthn::soft_key::SoftKey;

/// An app whose `public_url` is `http://localhost:PORT`, and that URL.
async fn app_on_localhost() -> (TestApp, String) {
    let app = spawn_app_at_own_url(Backend::Sqlite, |file| {
        file.public_url = file
            .public_url
            .take()
            .map(|url| url.replace("127.0.0.1", "localhost"));
    })
    .await;
    let base = app.base.replace("127.0.0.1", "localhost");
    (app, base)
}

/// Clicks a WebAuthn button and waits for the page its form posts.
async fn press(browser: &Browser, css: &str) {
    let old = browser.find("html").await;
    browser.click(css).await;
    browser.wait_for_next_page(old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_key_then_sign_in_with_password_and_key_and_with_a_passkey() {
    let (app, base) = app_on_localhost().await;
    let Some(browser) = Browser::open_at(&base, 1100, false).await else {
        return;
    };
    browser.add_virtual_authenticator(true).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    browser.sign_in("ada@example.com").await;
    assert_eq!(browser.path().await, "/account/security");
    assert!(browser.text("#webauthn").await.contains("None"));
    browser.snap_at("webauthn-none", "#webauthn").await;

    browser.fill("#webauthn-name", "This laptop").await;
    press(&browser, "#add-webauthn").await;
    let keys = browser.text(".webauthn-credential").await;
    assert!(keys.contains("This laptop"), "{keys}");
    // The first second factor: recovery codes, shown once; the app card stays as it was.
    let codes = browser
        .client
        .find_all(Locator::Css(".recovery-code"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 8);
    assert_eq!(browser.card_state().await, "not_configured");
    browser.snap("webauthn-added").await;
    browser.snap_at("webauthn-card", "#webauthn").await;

    // Password, then the key at the challenge.
    browser.sign_out().await;
    browser.sign_in("ada@example.com").await;
    assert_eq!(browser.path().await, "/login/two-factor");
    browser.find("#use-webauthn").await;
    browser.snap("webauthn-challenge").await;
    press(&browser, "#use-webauthn").await;
    assert_eq!(browser.path().await, "/account/security");

    // A passkey alone, from the sign-in page.
    browser.sign_out().await;
    browser.goto("/login").await;
    browser.snap("webauthn-login").await;
    press(&browser, "#sign-in-with-passkey").await;
    assert_eq!(browser.path().await, "/account/security");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_without_user_verification_does_not_sign_in_alone() {
    let (app, base) = app_on_localhost().await;
    let Some(browser) = Browser::open_at(&base, 1100, false).await else {
        return;
    };
    // A key without a PIN or biometric.
    browser.add_virtual_authenticator(false).await;
    app.create_account("ada@example.com", PASSWORD)
        .await
        .assert_status(201);
    browser.sign_in("ada@example.com").await;
    browser.fill("#webauthn-name", "Plain key").await;
    press(&browser, "#add-webauthn").await;
    assert!(browser
        .text(".webauthn-credential")
        .await
        .contains("Plain key"));
    browser.sign_out().await;
    browser.goto("/login").await;
    browser.click("#sign-in-with-passkey").await;
    // The browser refuses (the options require user verification), or the server does:
    // either way no session, and the page says so.
    let status = browser.find("#passkey-status").await;
    for _ in 0..100 {
        if !status.text().await.unwrap().is_empty() || browser.path().await != "/login" {
            break;
        }
        // Waiting for the browser's answer; no rule of the app depends on it.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(browser.path().await, "/login");
    browser.snap("webauthn-passkey-refused").await;
    browser.goto("/account/security").await;
    assert_eq!(browser.path().await, "/login");
    browser.close().await;
}

/// A workspace that asks for a phishing-resistant factor, set from its settings page: a
/// member with an authenticator app alone is blocked at the deadline, is told to add a key,
/// and is let in once the browser's authenticator is added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_an_app_alone_is_blocked_until_adding_a_key() {
    let (app, base) = app_on_localhost().await;
    let Some(browser) = Browser::open_at(&base, 1100, false).await else {
        return;
    };
    // The owner has an app and a key; Bob has an app alone.
    let owner = app.enrolled("owner@example.com").await;
    let mut owner_key = SoftKey::new(&base);
    app.register_key(&owner.token, &mut owner_key, "Owner's key")
        .await
        .assert_status(201);
    let bob = app.enrolled("bob@example.com").await;
    let id = app.create_workspace(&owner.token, "Acme").await;
    app.invite_and_accept(&id, &owner.token, &bob.email, "member", &bob.token)
        .await
        .assert_status(200);

    browser.sign_in(&owner.email).await;
    browser.enter("#code", &app.code(&owner.secret)).await;
    browser
        .goto(&format!("/workspaces/{id}/settings/security"))
        .await;
    browser.click("#enforce").await;
    browser.click("#required-factor-phishing-resistant").await;
    let grace = browser.find("#grace").await;
    grace.select_by_value("3").await.unwrap();
    browser.submit("#enforcement button[type=submit]").await;
    assert!(browser.body().await.contains("Enforcement saved."));
    let count = browser.text("#enrolment-count").await;
    assert!(
        count.contains("1 of 2 members have a security key or passkey"),
        "{count}"
    );
    let members = browser.text("#members").await;
    assert!(members.contains("Authenticator app"), "{members}");
    assert!(members.contains("Grace period"), "{members}");
    browser.snap("workspace-phishing-resistant").await;
    browser.sign_out().await;

    // Three days later Bob signs in with his app, and is blocked.
    app.clock.advance(3 * 86_400);
    browser.sign_in(&bob.email).await;
    browser.enter("#code", &app.code(&bob.secret)).await;
    browser.goto("/workspaces").await;
    let listed = browser.text("#workspaces").await;
    assert!(
        listed.contains("Blocked until you add a security key or passkey"),
        "{listed}"
    );
    browser.snap("workspaces-key-required").await;
    let authz = format!("/api/v1/authz?workspace={id}");
    assert_eq!(app.get(&authz, Some(&bob.token)).await.status, 403);
    browser.goto("/account/security").await;
    let body = browser.body().await;
    assert!(
        body.contains("A security key or passkey is required on your account"),
        "{body}"
    );
    browser.snap("security-key-required").await;

    browser.add_virtual_authenticator(true).await;
    browser.fill("#webauthn-name", "Bob's laptop").await;
    press(&browser, "#add-webauthn").await;
    assert!(browser
        .text(".webauthn-credential")
        .await
        .contains("Bob's laptop"));
    browser.goto("/workspaces").await;
    assert!(!browser.text("#workspaces").await.contains("Blocked"));
    assert_eq!(app.get(&authz, Some(&bob.token)).await.status, 200);
    browser.close().await;
}
