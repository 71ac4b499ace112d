//! The pages of SPEC §11 in headless Chromium, with the links read out of the messages a
//! real SMTP receiver took: a passwordless sign-up signed in by its link, a mail scanner's
//! prefetch of a link that spends nothing, a forgotten password reset by link (two-factor
//! still asked), and an address confirmed.

use crate::email::{code_in, link_token, nth_mail, sending_to, PROOF, RESET, SIGN_IN, VERIFY};
use crate::helpers::{spawn_app_with, Backend, PASSWORD};
use crate::receivers::SmtpReceiver;

use super::driver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_without_a_password_and_sign_in_by_the_emailed_link() {
    let smtp = SmtpReceiver::start(0).await;
    let app = spawn_app_with(Backend::Sqlite, |file| sending_to(file, &smtp)).await;
    let Some(browser) = Browser::open(&app, 1100, false).await else {
        return;
    };
    browser.goto("/signup").await;
    browser.fill("#email", "bea@example.com").await;
    browser.submit("main button[type=submit]").await;
    assert!(browser.body().await.contains("Check your e-mail"));
    browser.snap("email-check-your-email").await;
    let link = link_token(
        &nth_mail(&smtp, "bea@example.com", SIGN_IN, 1).await,
        "/login/email/",
    );
    // A mail scanner opens the link first: the page only asks.
    let prefetch = reqwest::get(app.url(&format!("/login/email/{link}")))
        .await
        .unwrap();
    assert_eq!(prefetch.status(), 200);
    assert!(prefetch
        .text()
        .await
        .unwrap()
        .contains("Sign in as bea@example.com"));
    browser.goto(&format!("/login/email/{link}")).await;
    assert!(browser.body().await.contains("Sign in as bea@example.com"));
    browser.snap("email-link-page").await;
    browser.submit("main button[type=submit]").await;
    assert_eq!(browser.path().await, "/account/security");
    // The address is verified; there is no password yet.
    assert!(browser.text("#email").await.contains("Verified"));
    assert!(browser.text("#password").await.contains("Not set"));
    // A password is set behind a code e-mailed for the purpose.
    browser
        .submit("form[action='/account/security/email/proof'] button")
        .await;
    assert!(browser.body().await.contains("We e-mailed you a code"));
    let code = code_in(&nth_mail(&smtp, "bea@example.com", PROOF, 1).await);
    browser.click("#set-password summary").await;
    browser
        .fill("#new_password", "seven lanterns drift over anchors")
        .await;
    browser.fill("#password-email-code", &code).await;
    browser.snap("email-set-a-password").await;
    browser
        .submit("form[action='/account/security/password'] button[type=submit]")
        .await;
    assert!(
        browser.body().await.contains("Your password is set"),
        "{}",
        browser.body().await
    );
    assert!(browser.text("#password").await.contains("Set"));
    browser.sign_out().await;
    browser.goto("/login").await;
    browser.fill("#email", "bea@example.com").await;
    browser
        .enter("#password", "seven lanterns drift over anchors")
        .await;
    assert_eq!(browser.path().await, "/account/security");
    // The link worked once.
    browser.goto(&format!("/login/email/{link}")).await;
    assert!(browser.body().await.contains("This link does not work"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_in_the_browser_and_two_factor_still_asks() {
    let smtp = SmtpReceiver::start(0).await;
    let app = spawn_app_with(Backend::Sqlite, |file| sending_to(file, &smtp)).await;
    let enrolled = app.enrolled("ada@example.com").await;
    let Some(browser) = Browser::open(&app, 1100, false).await else {
        return;
    };
    // The sign-up's link confirms the address.
    let verify = link_token(
        &nth_mail(&smtp, "ada@example.com", VERIFY, 1).await,
        "/verify-email/",
    );
    browser.goto(&format!("/verify-email/{verify}")).await;
    assert!(browser.body().await.contains("Confirm ada@example.com"));
    browser.submit("main button[type=submit]").await;
    assert!(browser.body().await.contains("is confirmed"));
    browser.snap("email-address-confirmed").await;

    browser.goto("/login").await;
    browser.submit("a[href='/forgot-password']").await;
    browser.fill("#email", "ada@example.com").await;
    browser.submit("main button[type=submit]").await;
    assert!(browser.body().await.contains("Check your e-mail"));
    let reset = link_token(
        &nth_mail(&smtp, "ada@example.com", RESET, 1).await,
        "/reset-password/",
    );
    browser.goto(&format!("/reset-password/{reset}")).await;
    browser.snap("email-choose-password").await;
    browser.fill("#new_password", "password").await;
    browser.submit("main button[type=submit]").await;
    assert!(
        browser.body().await.contains("Choose a new password"),
        "weak: asked again"
    );
    let new_password = "seven lanterns drift over anchors";
    browser.fill("#new_password", new_password).await;
    browser.submit("main button[type=submit]").await;
    assert_eq!(browser.path().await, "/login");
    assert!(browser.body().await.contains("Your password was reset"));
    browser.fill("#email", "ada@example.com").await;
    browser.fill("#password", PASSWORD).await;
    browser.submit("main button[type=submit]").await;
    assert!(browser
        .body()
        .await
        .contains("Incorrect e-mail address or password"));
    browser.fill("#email", "ada@example.com").await;
    browser.fill("#password", new_password).await;
    browser.submit("main button[type=submit]").await;
    assert_eq!(
        browser.path().await,
        "/login/two-factor",
        "two-factor still asks"
    );
    browser.fill("#code", &app.code(&enrolled.secret)).await;
    browser.submit("main button[type=submit]").await;
    assert_eq!(browser.path().await, "/account/security");
    browser.close().await;
}
