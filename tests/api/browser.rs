//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver,
//! started here on a free port). Codes are computed from the secret read off the page
//! with the crate's own TOTP code, on the app's manual clock. Each state is saved as a
//! screenshot under `target/screenshots/` (or `$CARGO_TARGET_DIR/screenshots/`) for people
//! to look at; the run prints the directory.
//!
//! Without chromedriver the tests print a notice and pass; under `CI` they fail
//! (`scripts/test-services` installs `chromium` and `chromium-driver`).

mod apache;
mod driver;
mod email;
mod webauthn;

use deadbolt::config::RequireTwoFactor;
use fantoccini::Locator;

use crate::helpers::{spawn_app, spawn_app_with, totp_code, Backend, PASSWORD};
use crate::proxies::{spawn_application, Ports, Proxy};
use driver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_sign_in_with_a_code_and_a_recovery_code_then_disable() {
    let app = spawn_app(Backend::Sqlite).await;
    let Some(browser) = Browser::open(&app, 1100, false).await else {
        return;
    };
    browser.goto("/signup").await;
    browser.snap("signup").await;
    browser.fill("#email", "ada@example.com").await;
    browser.fill("#password", PASSWORD).await;
    browser.submit("main button[type=submit]").await;
    assert_eq!(browser.path().await, "/account/security");
    assert_eq!(browser.card_state().await, "not_configured");
    assert!(browser
        .text("#authenticator")
        .await
        .contains("Not configured"));
    browser.snap("security-not-configured").await;

    browser
        .submit("form[action='/account/security/enable'] button")
        .await;
    assert_eq!(browser.card_state().await, "pending");
    assert!(browser
        .text("#authenticator")
        .await
        .contains("Pending confirmation"));
    let secret = browser.text("#totp-secret").await;
    assert!(browser.find(".qr svg").await.is_displayed().await.unwrap());
    let code_field = browser.find("#confirm-code").await;
    assert_eq!(
        code_field.attr("autocomplete").await.unwrap().as_deref(),
        Some("one-time-code")
    );
    assert_eq!(
        code_field.attr("inputmode").await.unwrap().as_deref(),
        Some("numeric")
    );
    browser.snap("security-pending").await;

    let wrong = totp_code(&secret, app.clock_now().plus_seconds(600));
    browser.fill("#confirm-code", &wrong).await;
    browser
        .submit("form[action='/account/security/confirm'] button")
        .await;
    assert!(browser.body().await.contains("That code did not match"));
    assert_eq!(browser.card_state().await, "pending");
    browser.snap("security-wrong-code").await;

    browser.fill("#confirm-code", &app.code(&secret)).await;
    browser
        .submit("form[action='/account/security/confirm'] button")
        .await;
    assert_eq!(browser.card_state().await, "enabled");
    assert!(browser.text("#authenticator").await.contains("Enabled"));
    let codes: Vec<String> = {
        let mut codes = Vec::new();
        for element in browser
            .client
            .find_all(Locator::Css(".recovery-code"))
            .await
            .unwrap()
        {
            codes.push(element.text().await.unwrap());
        }
        codes
    };
    assert_eq!(codes.len(), 8, "{codes:?}");
    let download = browser.find("#download-codes").await;
    let href = download.attr("href").await.unwrap().unwrap();
    assert!(href.starts_with("data:text/plain"), "{href}");
    assert!(href.contains(&codes[0].replace('-', "%2D")), "{href}");
    assert!(browser
        .find("button.copy")
        .await
        .is_displayed()
        .await
        .unwrap());
    browser.snap("security-recovery-codes").await;

    // Reload: the codes are shown once.
    browser.goto("/account/security").await;
    assert!(browser
        .client
        .find(Locator::Css(".recovery-code"))
        .await
        .is_err());
    assert!(browser.text("#recovery-remaining").await.contains("8 left"));
    browser.snap("security-enabled").await;
    app.clock.advance(30);

    browser.sign_out().await;
    assert!(browser.body().await.contains("You are signed out."));
    browser.snap("signed-out").await;

    browser.sign_in("ada@example.com").await;
    assert_eq!(browser.path().await, "/login/two-factor");
    let field = browser.find("#code").await;
    assert_eq!(
        field.attr("inputmode").await.unwrap().as_deref(),
        Some("numeric")
    );
    browser.snap("challenge").await;
    browser.fill("#code", &wrong).await;
    browser
        .submit("form[action='/login/two-factor'] button")
        .await;
    assert!(browser.body().await.contains("That code did not match"));
    browser.snap("challenge-wrong-code").await;
    browser.enter("#code", &app.code(&secret)).await;
    assert_eq!(browser.path().await, "/account/security");
    assert_eq!(browser.card_state().await, "enabled");
    app.clock.advance(30);

    browser.sign_out().await;
    browser.sign_in("ada@example.com").await;
    browser
        .submit("a[href^='/login/two-factor?method=recovery']")
        .await;
    browser.snap("challenge-recovery").await;
    browser
        .fill("#recovery_code", &codes[0].to_lowercase())
        .await;
    browser
        .submit("form[action='/login/two-factor'] button")
        .await;
    assert_eq!(browser.path().await, "/account/security");
    assert!(browser.text("#recovery-remaining").await.contains("7 left"));

    browser.click("#disable summary").await;
    browser
        .fill("#disable-password", "not my password at all")
        .await;
    browser.submit("#disable button.danger").await;
    assert!(browser
        .body()
        .await
        .contains("Password did not match. Two-factor remains enabled."));
    assert_eq!(browser.card_state().await, "enabled");
    browser.snap("security-disable-wrong-password").await;
    // The form stays open to try again.
    let open = browser.find("#disable").await.attr("open").await.unwrap();
    assert!(open.is_some());
    browser.fill("#disable-password", PASSWORD).await;
    browser.submit("#disable button.danger").await;
    assert_eq!(browser.card_state().await, "not_configured");
    assert!(browser
        .body()
        .await
        .contains("Two-factor authentication is off."));
    browser.snap("security-disabled").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_enforcement_is_set_from_the_settings_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let Some(browser) = Browser::open(&app, 1100, false).await else {
        return;
    };
    let owner = app.enrolled("owner@example.com").await;
    let workspace = app.create_workspace(&owner.token, "Acme").await;
    for email in ["bo@example.com", "cy@example.com"] {
        let token = app.signed_in(email).await;
        let joined = app
            .invite_and_accept(&workspace, &owner.token, email, "member", &token)
            .await;
        assert_eq!(joined.status, 200, "{}", joined.text);
    }
    browser.sign_in(&owner.email).await;
    browser.enter("#code", &app.code(&owner.secret)).await;
    browser.goto("/workspaces").await;
    assert!(browser.text("#workspaces").await.contains("Acme"));
    browser.snap("workspaces").await;
    browser.submit("#workspaces a.button").await;
    assert_eq!(
        browser.path().await,
        format!("/workspaces/{workspace}/settings/security")
    );
    assert!(browser
        .text("#enrolment-count")
        .await
        .contains("1 of 3 members have two-factor"));
    let grace = browser.find("#grace").await;
    let mut labels = Vec::new();
    for option in grace.find_all(Locator::Css("option")).await.unwrap() {
        labels.push(option.text().await.unwrap());
    }
    assert_eq!(
        labels,
        ["Immediately", "3 days", "7 days", "14 days", "30 days"]
    );

    browser.click("#enforce").await;
    grace.select_by_value("7").await.unwrap();
    browser.submit("#enforcement button[type=submit]").await;
    assert!(browser.body().await.contains("Enforcement saved."));
    let card = browser.find("#enforcement").await;
    assert_eq!(
        card.attr("data-enforcement").await.unwrap().as_deref(),
        Some("all")
    );
    assert!(browser.text("#members").await.contains("Grace period"));
    browser.snap("workspace-security").await;

    let security = app
        .get(
            &format!("/api/v1/workspaces/{workspace}/security"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(security.body["enforcement"], "all");
    assert_eq!(security.body["grace_period_days"], 7);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_covered_user_is_sent_to_setup_on_a_phone_in_the_dark() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.policy = Some(deadbolt::config::FilePolicy {
            require_two_factor: Some(RequireTwoFactor::Everyone),
            grace_period_days: Some(0),
            required_factor: None,
        });
    })
    .await;
    let Some(browser) = Browser::open(&app, 390, true).await else {
        return;
    };
    app.create_account("dee@example.com", PASSWORD).await;
    browser.sign_in("dee@example.com").await;
    browser.goto("/workspaces").await;
    assert_eq!(browser.path().await, "/account/security");
    assert!(browser.text("#requirement").await.contains(
        "Two-factor authentication is required. Set up an authenticator app to continue."
    ));
    let width: i64 = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(
        width <= 0,
        "the page scrolls sideways on a phone: {width}px too wide"
    );
    browser.snap("covered-redirect-phone-dark").await;
    browser
        .submit("form[action='/account/security/enable'] button")
        .await;
    browser.snap("security-pending-phone-dark").await;
    browser.goto("/admin").await;
    assert_eq!(browser.path().await, "/account/security");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_with_nothing_left_asks_and_an_admin_resets() {
    let app = spawn_app(Backend::Sqlite).await;
    let Some(browser) = Browser::open(&app, 1100, false).await else {
        return;
    };
    let lost = app.enrolled("eve@example.com").await;
    browser.sign_in(&lost.email).await;
    browser
        .submit("a[href^='/login/two-factor?method=recovery']")
        .await;
    browser.click("details.alt summary").await;
    browser
        .fill(
            "#message",
            "My phone fell in a lake and the codes were on it.",
        )
        .await;
    browser
        .submit("form[action='/login/two-factor/reset-request'] button")
        .await;
    assert!(browser
        .body()
        .await
        .contains("Your request was sent to the administrators."));
    browser.snap("challenge-reset-requested").await;
    browser
        .submit("form[action='/login/two-factor/cancel'] button")
        .await;
    assert_eq!(browser.path().await, "/login");

    app.admin_signed_in("root@example.com").await;
    browser.sign_in("root@example.com").await;
    browser.goto("/admin").await;
    assert!(browser
        .text("#reset-requests")
        .await
        .contains("My phone fell in a lake"));
    browser.snap("admin").await;
    // The reason is mandatory: the browser will not send an empty one, the server neither.
    browser
        .fill(
            "#reset-requests input[name=reason]",
            "Identity checked by phone call",
        )
        .await;
    browser.submit("#reset-requests button.danger").await;
    assert!(browser.body().await.contains("Two-factor was reset"));
    assert!(browser
        .text("#reset-requests")
        .await
        .contains("No open requests."));
    assert!(browser.text("#events").await.contains("two_factor_reset"));
    browser.snap("admin-after-reset").await;

    browser.goto("/account/sessions").await;
    assert!(browser.text("#sessions").await.contains("This browser"));
    browser.snap("sessions").await;
    browser.sign_out().await;

    // Reset: the password alone signs in, and the authenticator can be set up again.
    browser.sign_in(&lost.email).await;
    assert_eq!(browser.path().await, "/account/security");
    assert_eq!(browser.card_state().await, "not_configured");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_regenerate_and_move_to_a_new_device() {
    let app = spawn_app(Backend::Sqlite).await;
    let Some(browser) = Browser::open(&app, 1100, false).await else {
        return;
    };
    let user = app.enrolled("fay@example.com").await;
    browser.sign_in(&user.email).await;
    browser.enter("#code", &app.code(&user.secret)).await;
    app.clock.advance(30);

    // Check: the current code is valid, and checking does not use it up.
    browser.click("#check summary").await;
    browser.fill("#check-code", &app.code(&user.secret)).await;
    browser.submit("#check button").await;
    assert!(browser.body().await.contains("That code is valid"));

    // Regenerate behind a code: a fresh set, the old one dead.
    browser.click("#regenerate summary").await;
    browser.click("#regenerate details.alt summary").await;
    browser
        .fill("#regenerate-code", &app.code(&user.secret))
        .await;
    browser.submit("#regenerate button[type=submit]").await;
    assert!(browser.body().await.contains("New recovery codes."));
    let fresh = browser.text("#recovery-codes-list").await;
    assert!(!fresh.contains(&user.recovery_codes[0]));
    browser.snap("security-regenerated").await;
    app.clock.advance(30);

    // Move to a new device: the old secret works until the new one is confirmed.
    browser.click("#replace summary").await;
    browser.fill("#replace-password", PASSWORD).await;
    browser.submit("#replace button[type=submit]").await;
    assert_eq!(browser.card_state().await, "enabled");
    assert!(browser
        .text("#authenticator")
        .await
        .contains("Moving to a new device"));
    let new_secret = browser.text("#totp-secret").await;
    assert_ne!(new_secret, user.secret);
    browser.snap("security-moving").await;
    browser.fill("#confirm-code", &app.code(&new_secret)).await;
    browser
        .submit("form[action='/account/security/confirm'] button")
        .await;
    assert_eq!(
        browser
            .client
            .find_all(Locator::Css(".recovery-code"))
            .await
            .unwrap()
            .len(),
        8
    );
    assert!(browser
        .client
        .find(Locator::Css("#totp-secret"))
        .await
        .is_err());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_brings_people_back_to_the_application_after_signing_in() {
    brings_people_back_to_the_application_after_signing_in(Proxy::Nginx).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_brings_people_back_to_the_application_after_signing_in() {
    brings_people_back_to_the_application_after_signing_in(Proxy::Caddy).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_brings_people_back_to_the_application_after_signing_in() {
    brings_people_back_to_the_application_after_signing_in(Proxy::Haproxy).await
}

/// The proxy serves Deadbolt at its public URL and the application on another port of the
/// same host: after the sign-in form (and the challenge form), the browser must follow the
/// redirect to the application's origin.
async fn brings_people_back_to_the_application_after_signing_in(proxy: Proxy) {
    let ports = Ports::free();
    let public_url = format!("http://127.0.0.1:{}", ports.deadbolt);
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.public_url = Some(public_url.clone());
    })
    .await;
    let owner = app.enrolled("owner@example.com").await;
    let workspace = app.create_workspace(&owner.token, "Acme").await;
    let member = app.signed_in("mo@example.com").await;
    let joined = app
        .invite_and_accept(
            &workspace,
            &owner.token,
            "mo@example.com",
            "member",
            &member,
        )
        .await;
    assert_eq!(joined.status, 200, "{}", joined.text);

    let application = spawn_application().await;
    let deadbolt = app.base.trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let Some(_proxy) = proxy
        .start(dir.path(), &ports, &deadbolt, &application, &workspace)
        .await
    else {
        return;
    };
    let Some(browser) = Browser::open_at(&public_url, 1100, false).await else {
        return;
    };
    let protected = format!("http://127.0.0.1:{}/reports/7?tab=2", ports.application);

    // Password only.
    browser.goto_url(&protected).await;
    assert!(
        browser
            .url()
            .await
            .starts_with(&format!("{public_url}/login?next=")),
        "{}",
        browser.url().await
    );
    if proxy == Proxy::Nginx {
        browser.snap("forward-auth-sign-in").await;
    }
    browser.fill("#email", "mo@example.com").await;
    browser.enter("#password", PASSWORD).await;
    assert_eq!(browser.url().await, protected);
    assert_eq!(browser.text("#welcome").await, "Reports for mo@example.com");

    // Password, then the authenticator code.
    browser.client.delete_all_cookies().await.unwrap();
    browser.goto_url(&protected).await;
    browser.fill("#email", &owner.email).await;
    browser.enter("#password", PASSWORD).await;
    assert_eq!(browser.path().await, "/login/two-factor");
    if proxy == Proxy::Nginx {
        browser.snap("forward-auth-challenge").await;
    }
    browser.enter("#code", &app.code(&owner.secret)).await;
    assert_eq!(browser.url().await, protected);
    assert_eq!(
        browser.text("#welcome").await,
        "Reports for owner@example.com"
    );
    assert_eq!(browser.text("#role").await, "owner");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_invites_the_invitee_joins_then_the_owner_changes_the_role_and_removes() {
    let app = spawn_app(Backend::Sqlite).await;
    let Some(browser) = Browser::open(&app, 1100, false).await else {
        return;
    };
    let owner = app.enrolled("owner@example.com").await;
    let workspace = app.create_workspace(&owner.token, "Acme").await;
    let members = format!("/workspaces/{workspace}/members");
    browser.sign_in(&owner.email).await;
    browser.enter("#code", &app.code(&owner.secret)).await;
    browser.goto("/workspaces").await;
    browser
        .submit(&format!("#workspaces a[href='{members}']"))
        .await;
    assert_eq!(browser.path().await, members);

    // Invite: the link is shown once.
    browser.fill("#invite-email", "ivy@example.com").await;
    browser
        .find("#invite-role")
        .await
        .select_by_value("member")
        .await
        .unwrap();
    browser.submit("#invite button[type=submit]").await;
    assert!(browser
        .body()
        .await
        .contains("Invitation created for ivy@example.com."));
    let link = browser.text("#invitation-link").await;
    let public = app.state_public_url();
    assert!(
        link.starts_with(&format!("{public}/invitations/")),
        "{link}"
    );
    let invitation = link.trim_start_matches(&public).to_owned();
    browser.snap("workspace-members-invited").await;
    browser.goto(&members).await;
    assert!(browser
        .client
        .find(Locator::Css("#invitation-link"))
        .await
        .is_err());
    browser.sign_out().await;

    // The invitee has no account yet: sign-in, then sign-up, and back to the invitation.
    browser.goto(&invitation).await;
    assert_eq!(browser.path().await, "/login");
    assert!(browser
        .text("#why")
        .await
        .contains("Sign in to accept your invitation"));
    browser.snap("invitation-sign-in").await;
    browser.submit("#why a").await;
    assert_eq!(browser.path().await, "/signup");
    browser.fill("#email", "ivy@example.com").await;
    browser.fill("#password", PASSWORD).await;
    browser.submit("main button[type=submit]").await;
    assert_eq!(browser.path().await, invitation);
    let card = browser.find("#invitation").await;
    assert_eq!(
        card.attr("data-state").await.unwrap().as_deref(),
        Some("open")
    );
    assert!(browser
        .text("#invitation")
        .await
        .contains("You are invited to Acme as member."));
    browser.snap("invitation").await;
    browser.submit("#invitation button[type=submit]").await;
    assert_eq!(browser.path().await, "/workspaces");
    assert!(browser.body().await.contains("You joined the workspace."));
    assert!(browser.text("#workspaces").await.contains("Acme"));
    browser.snap("invitation-joined").await;
    // Used: the link no longer works.
    browser.goto(&invitation).await;
    assert!(browser
        .text("#invitation")
        .await
        .contains("This invitation no longer works"));
    browser.sign_out().await;

    // The owner sees the new member, makes them an admin, cannot leave as the last
    // owner, and removes them.
    app.clock.advance(30);
    browser.sign_in(&owner.email).await;
    browser.enter("#code", &app.code(&owner.secret)).await;
    browser.goto(&members).await;
    let ivy = "#members li[data-email='ivy@example.com']";
    assert!(browser.text(ivy).await.contains("No two-factor"));
    browser
        .find(&format!("{ivy} select"))
        .await
        .select_by_value("admin")
        .await
        .unwrap();
    browser.submit(&format!("{ivy} form.role button")).await;
    assert!(browser.body().await.contains("Role changed."));
    let row = browser.find(ivy).await;
    assert_eq!(
        row.attr("data-role").await.unwrap().as_deref(),
        Some("admin")
    );

    let me = "#members li[data-email='owner@example.com']";
    browser.click(&format!("{me} details summary")).await;
    browser.submit(&format!("{me} details button")).await;
    assert!(browser
        .body()
        .await
        .contains("A workspace needs at least one owner. Make someone else an owner first."));
    browser.snap("workspace-members-last-owner").await;

    browser.click(&format!("{ivy} details summary")).await;
    browser
        .snap_at("workspace-members-remove", "#members")
        .await;
    browser.submit(&format!("{ivy} details button")).await;
    assert!(browser.body().await.contains("Member removed."));
    assert!(!browser.text("#members").await.contains("ivy@example.com"));
    let listed = app
        .get(
            &format!("/api/v1/workspaces/{workspace}/members"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(listed.body["members"].as_array().unwrap().len(), 1);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_explains_that_two_factor_comes_first_on_a_phone_in_the_dark() {
    let app = spawn_app(Backend::Sqlite).await;
    let Some(browser) = Browser::open(&app, 390, true).await else {
        return;
    };
    let owner = app.enrolled("owner@example.com").await;
    let workspace = app.create_workspace(&owner.token, "Acme").await;
    for n in 0..4 {
        let email = format!("m{n}@example.com");
        let token = app.signed_in(&email).await;
        app.invite_and_accept(&workspace, &owner.token, &email, "member", &token)
            .await;
    }
    let enforced = app.enforce(&workspace, &owner.token, "all", 7).await;
    assert_eq!(enforced.status, 200, "{}", enforced.text);
    let invitation = app
        .post(
            &format!("/api/v1/workspaces/{workspace}/invitations"),
            Some(&owner.token),
            serde_json::json!({"email": "joe@example.com", "role": "member"}),
        )
        .await;
    let token = invitation.body["token"].as_str().unwrap();
    app.create_account("joe@example.com", PASSWORD).await;

    browser.sign_in("joe@example.com").await;
    browser.goto(&format!("/invitations/{token}")).await;
    let card = browser.find("#invitation").await;
    assert_eq!(
        card.attr("data-state").await.unwrap().as_deref(),
        Some("two_factor_required")
    );
    assert!(browser
        .text("#invitation")
        .await
        .contains("Acme requires two-factor authentication"));
    assert!(browser
        .client
        .find(Locator::Css("#invitation button"))
        .await
        .is_err());
    browser.snap("invitation-two-factor-first-phone-dark").await;
    browser.sign_out().await;

    // The owner's members page on a phone.
    browser.sign_in(&owner.email).await;
    browser.enter("#code", &app.code(&owner.secret)).await;
    browser
        .goto(&format!("/workspaces/{workspace}/members"))
        .await;
    let width: i64 = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(width <= 0, "the members page scrolls sideways: {width}px");
    browser.snap("workspace-members-phone-dark").await;
    browser
        .snap_at("workspace-members-list-phone-dark", "#members")
        .await;
    browser.close().await;
}
