//! The end of a session ends the tokens issued under it: sign-out (another session's live
//! on), two-factor turned off, an admin reset, a suspension, a password reset.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::driver::{configure_clients, provider, userinfo};
use super::tokens::{offline_tokens, refresh, refused};
use crate::helpers::{Backend, TestApp, PASSWORD};

/// The tokens are dead: the refresh token is refused, the access token too.
pub(super) async fn assert_ended(app: &TestApp, tokens: &Value) {
    refused(&refresh(&app.base, tokens["refresh_token"].as_str().unwrap()).await);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&app.base, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn signing_out_or_turning_two_factor_off_ends_the_tokens(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let cy = app.signed_in("cy@example.com").await;
    let tokens = offline_tokens(&app, &cy).await;
    // Another session's tokens live on.
    let other = app.sign_in("cy@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let others = offline_tokens(&app, &other).await;
    app.delete("/api/v1/sessions/current", Some(&cy))
        .await
        .assert_status(204);
    assert_ended(&app, &tokens).await;
    let (status, others) = refresh(&app.base, others["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{others}");

    // Two-factor turned off ends every token of the account, whichever session.
    let dee = app.enrolled("dee@example.com").await;
    let tokens = offline_tokens(&app, &dee.token).await;
    app.turn_off_two_factor(&dee.token).await;
    assert_ended(&app, &tokens).await;
}

async fn an_admin_reset_or_a_suspension_ends_the_tokens(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let flo = app.enrolled("flo@example.com").await;
    let tokens = offline_tokens(&app, &flo.token).await;
    let flo_id = app.account_id(&flo.token).await;
    app.post(
        &format!("/api/v1/admin/accounts/{flo_id}/two-factor/reset"),
        Some(&admin),
        json!({"reason": "lost phone"}),
    )
    .await
    .assert_status(200);
    assert_ended(&app, &tokens).await;

    let gil = app.signed_in("gil@example.com").await;
    let tokens = offline_tokens(&app, &gil).await;
    let gil_id = app.account_id(&gil).await;
    app.post(
        &format!("/api/v1/admin/accounts/{gil_id}/suspend"),
        Some(&admin),
        json!({"reason": "x"}),
    )
    .await
    .assert_status(200);
    assert_ended(&app, &tokens).await;
    // Lifting the suspension brings back no session, and so no token.
    app.post(
        &format!("/api/v1/admin/accounts/{gil_id}/unsuspend"),
        Some(&admin),
        json!({"reason": "y"}),
    )
    .await
    .assert_status(200);
    assert_ended(&app, &tokens).await;
}

async fn a_password_reset_ends_the_tokens(backend: Backend) {
    use crate::email::{link_token, nth_mail, with_smtp, RESET};
    let smtp = crate::receivers::SmtpReceiver::start(0).await;
    let secrets = tempfile::tempdir().unwrap();
    let path = secrets.path().join("rp.secret");
    let app = crate::helpers::spawn_app_with(backend, |file| {
        with_smtp(file, &smtp);
        configure_clients(file, &path);
    })
    .await;
    let eve = app.signed_in("eve@example.com").await;
    let tokens = offline_tokens(&app, &eve).await;
    app.post(
        "/api/v1/password/forgot",
        None,
        json!({"email": "eve@example.com"}),
    )
    .await
    .assert_status(202);
    let mail = nth_mail(&smtp, "eve@example.com", RESET, 1).await;
    let token = link_token(&mail, "/reset-password/");
    app.post(
        "/api/v1/password/reset",
        None,
        json!({"token": token, "new_password": "an entirely new horse battery"}),
    )
    .await
    .assert_status(200);
    assert_ended(&app, &tokens).await;
}

backend_tests!(
    signing_out_or_turning_two_factor_off_ends_the_tokens,
    a_password_reset_ends_the_tokens,
    an_admin_reset_or_a_suspension_ends_the_tokens,
);
