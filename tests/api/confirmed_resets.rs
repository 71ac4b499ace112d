//! Lost everything, confirmed (SPEC §11): filing a reset request e-mails a link (read out
//! of a real SMTP receiver) whose page spends nothing until its button is pressed and whose
//! POST stamps the request; owners of a workspace the person belongs to list and vouch for
//! it; `[recovery] reset_requires` makes the admin reset wait for those marks unless forced.

use deadbolt::config::FileRecovery;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::email::{link_token, nth_mail, with_smtp};
use crate::helpers::{respawn_with, spawn_app, spawn_app_with, Backend, TestApp};
use crate::pages::{csrf_of, get_html, page_sign_in, post_form};
use crate::receivers::SmtpReceiver;

backend_tests!(
    filing_a_reset_request_mails_a_link_whose_post_confirms_it,
    owners_of_the_persons_workspaces_see_and_vouch_for_the_request,
    with_reset_requires_the_admin_reset_waits_for_both_marks_unless_forced,
    racing_confirmations_of_one_link_confirm_once,
    owners_vouch_from_the_members_page,
    the_command_line_reset_waits_for_the_marks_unless_forced,
);

/// The subject of the message carrying the confirmation link.
const CONFIRM: &str = "Confirm your two-factor reset request";

/// A mailing server, with `[recovery] reset_requires` set to `requires`.
async fn mailing_app_requiring(backend: Backend, requires: &[&str]) -> (TestApp, SmtpReceiver) {
    let smtp = SmtpReceiver::start(0).await;
    let requires: Vec<String> = requires.iter().map(|mark| mark.to_string()).collect();
    let app = spawn_app_with(backend, |file| {
        with_smtp(file, &smtp);
        file.recovery = Some(FileRecovery {
            reset_requires: Some(requires),
            ..FileRecovery::default()
        });
    })
    .await;
    (app, smtp)
}

/// Files a reset request for the enrolled account `email`; its id.
async fn file_request(app: &TestApp, email: &str) -> String {
    let challenge = app.challenge(email).await;
    let filed = app
        .post(
            "/api/v1/sessions/challenge/reset-request",
            None,
            json!({"challenge_token": challenge, "message": "Phone fell in the sea"}),
        )
        .await;
    assert_eq!(filed.status, 202, "{}", filed.text);
    filed.body["id"].as_str().unwrap().to_owned()
}

/// The admin's view of the open requests.
async fn admin_requests(app: &TestApp, admin: &str) -> Vec<Value> {
    let listed = app.get("/api/v1/admin/reset-requests", Some(admin)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    listed.body["requests"].as_array().unwrap().clone()
}

/// The kinds of every event in the audit trail.
async fn admin_event_kinds(app: &TestApp, admin: &str) -> Vec<Value> {
    let events = app.get("/api/v1/admin/events?limit=100", Some(admin)).await;
    assert_eq!(events.status, 200, "{}", events.text);
    events.body["events"].as_array().unwrap().clone()
}

/// A workspace owned by `owner` (a new account) with `member` (enrolled) as a member; the
/// workspace id and the owner's token.
async fn workspace_of(
    app: &TestApp,
    owner: &str,
    member_token: &str,
    member: &str,
) -> (String, String) {
    let owner = app.signed_in(owner).await;
    let workspace = app.create_workspace(&owner, "Acme").await;
    app.invite_and_accept(&workspace, &owner, member, "member", member_token)
        .await
        .assert_status(200);
    (workspace, owner)
}

async fn filing_a_reset_request_mails_a_link_whose_post_confirms_it(backend: Backend) {
    let (app, smtp) = mailing_app_requiring(backend, &[]).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let ada = app.enrolled("ada@example.com").await;
    let id = file_request(&app, "ada@example.com").await;
    let mail = nth_mail(&smtp, "ada@example.com", CONFIRM, 1).await;
    let token = link_token(&mail, "/reset-requests/confirm/");
    let requests = admin_requests(&app, &admin).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["id"], id);
    assert_eq!(requests[0]["email_confirmed_at"], Value::Null);
    assert_eq!(requests[0]["vouches"], json!([]));

    // The page: its GET (a mail scanner's prefetch) spends nothing, however often.
    let path = format!("/reset-requests/confirm/{token}");
    for _ in 0..3 {
        let (status, html) = get_html(&app, &path).await;
        assert_eq!(status, 200);
        assert!(html.contains("ada@example.com"), "{html}");
        assert!(html.contains(&format!("action=\"{path}\"")), "one button");
    }
    let requests = admin_requests(&app, &admin).await;
    assert_eq!(
        requests[0]["email_confirmed_at"],
        Value::Null,
        "a GET confirms nothing"
    );

    // Its button's POST stamps the request, once.
    let (_, html) = get_html(&app, &path).await;
    let pressed = post_form(&app, &path, &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(pressed.status(), 200);
    assert!(pressed.text().await.unwrap().contains("Request confirmed"));
    let requests = admin_requests(&app, &admin).await;
    assert!(
        requests[0]["email_confirmed_at"].is_string(),
        "{requests:?}"
    );
    let (_, again) = get_html(&app, &path).await;
    assert!(again.contains("This link does not work"));
    app.post(
        "/api/v1/reset-requests/confirm",
        None,
        json!({"token": token}),
    )
    .await
    .assert_error(422, "invalid_token");
    app.post(
        "/api/v1/reset-requests/confirm",
        None,
        json!({"token": "forged"}),
    )
    .await
    .assert_error(422, "invalid_token");

    // Proving the mailbox verified the address; the admins heard of it.
    let me = app.get("/api/v1/me", Some(&ada.token)).await;
    assert_eq!(me.body["email_verified"], true, "{}", me.text);
    let events = admin_event_kinds(&app, &admin).await;
    let confirmed = events
        .iter()
        .find(|event| event["kind"] == "reset_request_confirmed")
        .expect("a reset_request_confirmed event");
    assert_eq!(confirmed["details"]["request_id"], id);
    let notice = nth_mail(&smtp, "root@example.com", "Reset request confirmed by", 1).await;
    assert!(crate::email::text(&notice).contains("ada@example.com"));

    // Filing again (the same open request) sends a new link each time, and a send the
    // throttle refuses (5 per address an hour) leaves the filing answered all the same.
    for _ in 0..6 {
        assert_eq!(file_request(&app, "ada@example.com").await, id);
    }
    assert_eq!(admin_requests(&app, &admin).await.len(), 1);
}

async fn owners_of_the_persons_workspaces_see_and_vouch_for_the_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let ada = app.enrolled("ada@example.com").await;
    let (workspace, olga) =
        workspace_of(&app, "olga@example.com", &ada.token, "ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    app.invite_and_accept(&workspace, &olga, "bob@example.com", "admin", &bob)
        .await
        .assert_status(200);
    let carl = app.signed_in("carl@example.com").await;
    let unrelated = app.create_workspace(&carl, "Elsewhere").await;
    let list = |workspace: &str| format!("/api/v1/workspaces/{workspace}/reset-requests");
    let vouch = |workspace: &str, request: &str| {
        format!("/api/v1/workspaces/{workspace}/reset-requests/{request}/vouch")
    };

    let listed = app.get(&list(&workspace), Some(&olga)).await;
    assert_eq!(listed.body["requests"], json!([]), "{}", listed.text);
    let id = file_request(&app, "ada@example.com").await;

    // The owner sees the member's open request.
    let listed = app.get(&list(&workspace), Some(&olga)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let requests = listed.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["id"], id);
    assert_eq!(requests[0]["email"], "ada@example.com");
    assert_eq!(requests[0]["message"], "Phone fell in the sea");
    assert_eq!(requests[0]["account_id"], app.account_id(&ada.token).await);
    assert_eq!(requests[0]["email_confirmed_at"], Value::Null);
    assert_eq!(requests[0]["vouched"], false);

    // Members who are not owners are refused; strangers learn nothing; the owner of an
    // unrelated workspace sees nothing of it.
    for token in [&bob, &ada.token] {
        app.get(&list(&workspace), Some(token))
            .await
            .assert_error(403, "forbidden");
        app.post(&vouch(&workspace, &id), Some(token), json!({}))
            .await
            .assert_error(403, "forbidden");
    }
    app.get(&list(&workspace), Some(&carl))
        .await
        .assert_error(404, "not_found");
    let theirs = app.get(&list(&unrelated), Some(&carl)).await;
    assert_eq!(theirs.body["requests"], json!([]), "{}", theirs.text);
    app.post(&vouch(&unrelated, &id), Some(&carl), json!({}))
        .await
        .assert_error(404, "not_found");
    app.post(
        &vouch(&workspace, "no-such-request"),
        Some(&olga),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");

    // The owner vouches, once: a repeat answers the first vouch and records nothing.
    let vouched = app
        .post(&vouch(&workspace, &id), Some(&olga), json!({}))
        .await;
    assert_eq!(vouched.status, 200, "{}", vouched.text);
    assert_eq!(vouched.body["recorded"], true);
    app.clock.advance(60);
    let again = app
        .post(&vouch(&workspace, &id), Some(&olga), json!({}))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["recorded"], false);
    assert_eq!(again.body["vouched_at"], vouched.body["vouched_at"]);
    let listed = app.get(&list(&workspace), Some(&olga)).await;
    assert_eq!(listed.body["requests"][0]["vouched"], true);
    assert_eq!(listed.body["requests"][0]["vouched_by_you"], true);

    // The admins see who vouched, through which workspace, and heard of it once.
    let requests = admin_requests(&app, &admin).await;
    let olga_id = app.account_id(&olga).await;
    assert_eq!(
        requests[0]["vouches"],
        json!([{
            "account_id": olga_id,
            "email": "olga@example.com",
            "workspace_id": workspace,
            "at": vouched.body["vouched_at"],
        }])
    );
    let events = admin_event_kinds(&app, &admin).await;
    let vouches: Vec<_> = events
        .iter()
        .filter(|event| event["kind"] == "reset_request_vouched")
        .collect();
    assert_eq!(vouches.len(), 1, "{events:?}");
    assert_eq!(vouches[0]["details"]["request_id"], id);

    // Once answered, the request is gone from the owners' list too.
    let account = requests[0]["account_id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/admin/accounts/{account}/two-factor/reset"),
        Some(&admin),
        json!({"reason": "Olga vouched"}),
    )
    .await
    .assert_status(200);
    let listed = app.get(&list(&workspace), Some(&olga)).await;
    assert_eq!(listed.body["requests"], json!([]));
    app.post(&vouch(&workspace, &id), Some(&olga), json!({}))
        .await
        .assert_error(404, "not_found");
}

async fn with_reset_requires_the_admin_reset_waits_for_both_marks_unless_forced(backend: Backend) {
    let (app, smtp) = mailing_app_requiring(backend, &["email", "owner"]).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let ada = app.enrolled("ada@example.com").await;
    let (workspace, olga) =
        workspace_of(&app, "olga@example.com", &ada.token, "ada@example.com").await;
    let ada_id = app.account_id(&ada.token).await;
    let reset = |account: &str| format!("/api/v1/admin/accounts/{account}/two-factor/reset");

    // Without an open request the rule does not apply.
    let bea = app.enrolled("bea@example.com").await;
    let bea_id = app.account_id(&bea.token).await;
    app.post(
        &reset(&bea_id),
        Some(&admin),
        json!({"reason": "No request"}),
    )
    .await
    .assert_status(200);

    let id = file_request(&app, "ada@example.com").await;
    let refused = app
        .post(&reset(&ada_id), Some(&admin), json!({"reason": "Asked"}))
        .await;
    refused.assert_error(409, "reset_not_confirmed");
    let token = link_token(
        &nth_mail(&smtp, "ada@example.com", CONFIRM, 1).await,
        "/reset-requests/confirm/",
    );
    let confirmed = app
        .post(
            "/api/v1/reset-requests/confirm",
            None,
            json!({"token": token}),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert_eq!(confirmed.body["email"], "ada@example.com");
    app.post(&reset(&ada_id), Some(&admin), json!({"reason": "Asked"}))
        .await
        .assert_error(409, "reset_not_confirmed");
    app.post(
        &format!("/api/v1/workspaces/{workspace}/reset-requests/{id}/vouch"),
        Some(&olga),
        json!({}),
    )
    .await
    .assert_status(200);
    let done = app
        .post(
            &reset(&ada_id),
            Some(&admin),
            json!({"reason": "Confirmed and vouched"}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["requests_closed"], 1);

    // Forced: neither mark, and the audit trail says so, with the reason.
    let cy = app.enrolled("cy@example.com").await;
    let cy_id = app.account_id(&cy.token).await;
    file_request(&app, "cy@example.com").await;
    app.post(
        &reset(&cy_id),
        Some(&admin),
        json!({"reason": "Known in person"}),
    )
    .await
    .assert_error(409, "reset_not_confirmed");
    let forced = app
        .post(
            &reset(&cy_id),
            Some(&admin),
            json!({"reason": "Known in person", "force": true}),
        )
        .await;
    assert_eq!(forced.status, 200, "{}", forced.text);
    let events = app
        .get(
            &format!("/api/v1/admin/events?kind=two_factor_reset&account={cy_id}"),
            Some(&admin),
        )
        .await;
    let details = &events.body["events"][0]["details"];
    assert_eq!(details["forced"], true, "{}", events.text);
    assert_eq!(details["missing"], json!(["email", "owner"]));
    assert_eq!(details["reason"], "Known in person");
    let unforced = app
        .get(
            &format!("/api/v1/admin/events?kind=two_factor_reset&account={ada_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(unforced.body["events"][0]["details"].get("forced"), None);
}

/// Sixteen racers POST one link (on PostgreSQL, half of them to a second node): exactly
/// one confirms.
async fn racing_confirmations_of_one_link_confirm_once(backend: Backend) {
    let (app, smtp) = mailing_app_requiring(backend, &[]).await;
    let admin = app.admin_signed_in("root@example.com").await;
    app.enrolled("ada@example.com").await;
    file_request(&app, "ada@example.com").await;
    let token = link_token(
        &nth_mail(&smtp, "ada@example.com", CONFIRM, 1).await,
        "/reset-requests/confirm/",
    );
    let second = match backend {
        Backend::Postgres => Some(respawn_with(&app, |file| with_smtp(file, &smtp)).await),
        Backend::Sqlite => None,
    };
    let racers = (0..16).map(|n| {
        let body = json!({"token": token});
        let app = match &second {
            Some(second) if n % 2 == 1 => second,
            _ => &app,
        };
        async move {
            app.post("/api/v1/reset-requests/confirm", None, body)
                .await
                .status
        }
    });
    let statuses = join_all(racers).await;
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|status| *status == 200 || *status == 422));
    let events = admin_event_kinds(&app, &admin).await;
    let confirmations = events
        .iter()
        .filter(|event| event["kind"] == "reset_request_confirmed")
        .count();
    assert_eq!(confirmations, 1);
}

async fn owners_vouch_from_the_members_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let ada = app.enrolled("ada@example.com").await;
    let (workspace, _) =
        workspace_of(&app, "olga@example.com", &ada.token, "ada@example.com").await;
    let id = file_request(&app, "ada@example.com").await;
    page_sign_in(&app, "olga@example.com", "").await;
    let members = format!("/workspaces/{workspace}/members");
    let (status, html) = get_html(&app, &members).await;
    assert_eq!(status, 200);
    let action = format!("/workspaces/{workspace}/reset-requests/{id}/vouch");
    assert!(html.contains(&format!("action=\"{action}\"")), "{html}");
    assert!(html.contains("Phone fell in the sea"));
    // Without its CSRF token the form does nothing.
    let forged = post_form(&app, &action, &[("csrf", "forged")]).await;
    assert_eq!(forged.status(), 403);
    assert_eq!(admin_requests(&app, &admin).await[0]["vouches"], json!([]));
    let pressed = post_form(&app, &action, &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(pressed.status(), 303);
    let (_, html) = get_html(&app, &format!("{members}?done=vouched")).await;
    assert!(html.contains("You vouched"), "{html}");
    assert!(!html.contains(&format!("action=\"{action}\"")));
    let vouches = &admin_requests(&app, &admin).await[0]["vouches"];
    assert_eq!(vouches[0]["email"], "olga@example.com", "{vouches}");
    // The admin page shows both marks.
    page_sign_in(&app, "root@example.com", "").await;
    let (_, html) = get_html(&app, "/admin").await;
    assert!(
        html.contains("data-mark=\"email\" data-confirmed=\"false\""),
        "{html}"
    );
    assert!(
        html.contains("data-mark=\"owner\" data-vouched=\"true\""),
        "{html}"
    );
    assert!(html.contains("olga@example.com"));
}

/// `deadbolt user reset-two-factor` obeys the same rule; `--force` passes it, recorded.
async fn the_command_line_reset_waits_for_the_marks_unless_forced(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    app.enrolled("ada@example.com").await;
    file_request(&app, "ada@example.com").await;
    let config = app.dir.path().join("requires.toml");
    std::fs::write(
        &config,
        format!(
            "database = \"{}\"\n[recovery]\nreset_requires = [\"email\"]\n",
            app.database_url
        ),
    )
    .unwrap();
    let reset = |force: bool| {
        let mut command = crate::cli::deadbolt(app.dir.path());
        command
            .args([
                "--config",
                config.to_str().unwrap(),
                "user",
                "reset-two-factor",
            ])
            .args(["ada@example.com", "--reason", "Ticket 4712"]);
        if force {
            command.arg("--force");
        }
        command.output().unwrap()
    };
    let refused = reset(false);
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(admin_requests(&app, &admin).await.len(), 1);
    let forced = reset(true);
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(admin_requests(&app, &admin).await.len(), 0);
    let events = app
        .get("/api/v1/admin/events?kind=two_factor_reset", Some(&admin))
        .await;
    let details = &events.body["events"][0]["details"];
    assert_eq!(details["forced"], true, "{}", events.text);
    assert_eq!(details["missing"], json!(["email"]));
    assert_eq!(details["by"], "cli");
}
