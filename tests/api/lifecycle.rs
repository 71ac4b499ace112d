//! The end of an account's life (SPEC §11): suspension by an instance admin (no sign-in of
//! any kind, sessions and forward-auth refused at once, lifted again), deletion of your own
//! account behind a proof (the last owner hands over first) and by an admin; afterwards the
//! address is free and the audit trail keeps the id. API on both backends, pages on SQLite.

use std::sync::Arc;

use deadbolt::domain::email_token::{LinkToken, Purpose};
use deadbolt::domain::event::{EventFilter, EventKind, NewEvent};
use deadbolt::domain::notification::Channels;
use deadbolt::domain::sealed::{KeyId, Sealed};
use deadbolt::store::Deletion;
use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::pages::{csrf_of, get_html, location, page_sign_in, post_form};
use crate::store::{account, email_token, open};

/// `DELETE /me` with `proof`.
async fn delete_me(app: &TestApp, token: &str, proof: serde_json::Value) -> Reply {
    app.request(Method::DELETE, "/api/v1/me", Some(token), Some(proof))
        .await
}

/// Forward-auth for `workspace` with `token`: its status.
async fn authz(app: &TestApp, token: &str, workspace: &str) -> u16 {
    app.get(&format!("/api/v1/authz?workspace={workspace}"), Some(token))
        .await
        .status
        .as_u16()
}

/// `DELETE path` with `token` and `body`.
async fn delete(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> Reply {
    app.request(Method::DELETE, path, Some(token), Some(body))
        .await
}

/// The admin's view of the account `email` in `GET /admin/accounts`.
async fn listed(app: &TestApp, admin: &str, email: &str) -> serde_json::Value {
    let list = app
        .get(
            &format!("/api/v1/admin/accounts?query={email}"),
            Some(admin),
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["accounts"][0].clone()
}

async fn a_suspended_account_cannot_sign_in_and_its_sessions_end_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let ada = app.signed_in("ada@example.com").await;
    let ada_id = app.account_id(&ada).await;
    let workspace = app.create_workspace(&ada, "Acme").await;
    assert_eq!(authz(&app, &ada, &workspace).await, 200);
    let suspend = format!("/api/v1/admin/accounts/{ada_id}/suspend");
    let unsuspend = format!("/api/v1/admin/accounts/{ada_id}/unsuspend");

    app.post(&suspend, Some(&admin), json!({}))
        .await
        .assert_error(422, "reason_required");
    app.post(&suspend, Some(&ada), json!({"reason": "x"}))
        .await
        .assert_error(403, "forbidden");
    let admin_id = app.account_id(&admin).await;
    app.post(
        &format!("/api/v1/admin/accounts/{admin_id}/suspend"),
        Some(&admin),
        json!({"reason": "x"}),
    )
    .await
    .assert_error(409, "own_account");
    app.post(
        "/api/v1/admin/accounts/nobody/suspend",
        Some(&admin),
        json!({"reason": "x"}),
    )
    .await
    .assert_error(404, "not_found");
    app.post(&unsuspend, Some(&admin), json!({"reason": "x"}))
        .await
        .assert_error(409, "not_suspended");

    let suspended = app
        .post(&suspend, Some(&admin), json!({"reason": "abuse report"}))
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    assert_eq!(suspended.body["suspended"], true);
    assert_eq!(suspended.body["sessions_ended"], 1);
    app.post(&suspend, Some(&admin), json!({"reason": "again"}))
        .await
        .assert_error(409, "already_suspended");

    // Her session is refused everywhere at once, forward-auth included.
    app.get("/api/v1/me", Some(&ada))
        .await
        .assert_error(401, "unauthenticated");
    assert_eq!(authz(&app, &ada, &workspace).await, 401);
    // The right password says why; a wrong one learns nothing.
    app.sign_in("ada@example.com", PASSWORD)
        .await
        .assert_error(403, "account_suspended");
    app.sign_in("ada@example.com", "wrong password entirely")
        .await
        .assert_error(401, "invalid_credentials");
    app.sign_in("nobody@example.com", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");

    // The admin sees it, and the audit trail names the actor and the reason.
    let view = listed(&app, &admin, "ada@example.com").await;
    assert_eq!(view["suspended"], true, "{view}");
    assert_eq!(view["suspended_at"], "2027-01-15T08:00:00Z", "{view}");
    let events = app
        .get("/api/v1/admin/events?kind=account_suspended", Some(&admin))
        .await;
    let event = &events.body["events"][0];
    assert_eq!(event["account_id"], ada_id.as_str(), "{event}");
    assert_eq!(event["actor_id"], admin_id.as_str(), "{event}");
    assert_eq!(event["details"]["reason"], "abuse report", "{event}");

    app.post(&unsuspend, Some(&admin), json!({"reason": "  "}))
        .await
        .assert_error(422, "reason_required");
    let lifted = app
        .post(
            &unsuspend,
            Some(&admin),
            json!({"reason": "appeal granted"}),
        )
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.text);
    assert_eq!(lifted.body["suspended"], false);
    let signed_in = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(signed_in.status, 201, "{}", signed_in.text);
    let token = signed_in.body["token"].as_str().unwrap();
    let kinds = app.event_kinds(token).await;
    for kind in ["account_suspended", "account_unsuspended"] {
        assert!(kinds.contains(&kind.to_owned()), "{kinds:?}");
    }
    assert_eq!(
        listed(&app, &admin, "ada@example.com").await["suspended"],
        false
    );
}

async fn a_suspended_account_cannot_complete_a_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let bob = app.enrolled("bob@example.com").await;
    let bob_id = app.account_id(&bob.token).await;
    // A challenge opened before the suspension dies with it.
    let challenge = app.challenge(&bob.email).await;
    let suspended = app
        .post(
            &format!("/api/v1/admin/accounts/{bob_id}/suspend"),
            Some(&admin),
            json!({"reason": "stolen laptop"}),
        )
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    app.answer_code(&challenge, &app.code(&bob.secret))
        .await
        .assert_error(401, "invalid_challenge");
    app.answer_recovery(&challenge, &bob.recovery_codes[0])
        .await
        .assert_error(401, "invalid_challenge");
    // The right password opens no challenge.
    app.sign_in(&bob.email, PASSWORD)
        .await
        .assert_error(403, "account_suspended");
}

async fn deleting_your_own_account_needs_a_proof_and_frees_the_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let ada = app.signed_in("ada@example.com").await;
    let ada_id = app.account_id(&ada).await;
    let second = app.sign_in("ada@example.com", PASSWORD).await;
    let second = second.body["token"].as_str().unwrap().to_owned();

    delete_me(&app, &ada, json!({"password": "not her password at all"}))
        .await
        .assert_error(403, "confirmation_failed");
    delete_me(&app, &ada, json!({}))
        .await
        .assert_error(403, "confirmation_failed");
    // Nothing was lost.
    assert_eq!(app.get("/api/v1/me", Some(&ada)).await.status, 200);

    let deleted = delete_me(&app, &ada, json!({"password": PASSWORD})).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    for token in [&ada, &second] {
        app.get("/api/v1/me", Some(token))
            .await
            .assert_error(401, "unauthenticated");
    }
    // Signing in fails as for an address that never had an account.
    app.sign_in("ada@example.com", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    // The admin still finds the event under her id.
    let events = app
        .get(
            &format!("/api/v1/admin/events?account={ada_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    let kinds: Vec<&str> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "account_deleted", "{kinds:?}");
    assert!(kinds.contains(&"sign_in_succeeded"), "{kinds:?}");
    assert_eq!(events.body["events"][0]["details"]["by"], "owner");
    // The address is free for a new account, which starts afresh.
    let again = app.signed_in("ada@example.com").await;
    assert_ne!(app.account_id(&again).await, ada_id);
    assert_eq!(app.event_kinds(&again).await, ["sign_in_succeeded"]);
}

async fn an_account_with_two_factor_is_deleted_with_a_code_and_its_secrets_go(backend: Backend) {
    let app = spawn_app(backend).await;
    let bob = app.enrolled("bob@example.com").await;
    delete_me(&app, &bob.token, json!({"code": "000000"}))
        .await
        .assert_error(403, "confirmation_failed");
    let deleted = delete_me(&app, &bob.token, json!({"code": app.code(&bob.secret)})).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    // A new account at the address has no authenticator and no recovery codes.
    let again = app.signed_in("bob@example.com").await;
    let me = app.get("/api/v1/me", Some(&again)).await;
    assert_eq!(me.body["two_factor"]["state"], "not_configured");
    assert_eq!(me.body["two_factor"]["recovery_codes_remaining"], 0);
}

async fn the_last_owner_hands_a_workspace_over_before_deleting_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.signed_in("ada@example.com").await;
    let ada_id = app.account_id(&ada).await;
    let bob = app.signed_in("bob@example.com").await;
    let bob_id = app.account_id(&bob).await;
    let shared = app.create_workspace(&ada, "Acme").await;
    let alone = app.create_workspace(&ada, "Ada's own").await;
    let joined = app
        .invite_and_accept(&shared, &ada, "bob@example.com", "member", &bob)
        .await;
    assert_eq!(joined.status, 200, "{}", joined.text);

    delete_me(&app, &ada, json!({"password": PASSWORD}))
        .await
        .assert_error(409, "last_owner");
    assert_eq!(app.get("/api/v1/me", Some(&ada)).await.status, 200);

    let promoted = app
        .request(
            Method::PATCH,
            &format!("/api/v1/workspaces/{shared}/members/{bob_id}"),
            Some(&ada),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    let deleted = delete_me(&app, &ada, json!({"password": PASSWORD})).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);

    // Bob keeps the workspace, without Ada; the one she was alone in went with her.
    let members = app
        .get(&format!("/api/v1/workspaces/{shared}/members"), Some(&bob))
        .await;
    assert_eq!(members.status, 200, "{}", members.text);
    let ids: Vec<&str> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bob_id.as_str()]);
    assert!(!ids.contains(&ada_id.as_str()));
    let listed = app.get("/api/v1/workspaces", Some(&bob)).await;
    assert_eq!(listed.body["workspaces"].as_array().unwrap().len(), 1);
    assert_ne!(listed.body["workspaces"][0]["id"], alone.as_str());
}

async fn an_admin_deletes_an_account_with_a_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let admin_id = app.account_id(&admin).await;
    let ada = app.signed_in("ada@example.com").await;
    let ada_id = app.account_id(&ada).await;
    let bob = app.signed_in("bob@example.com").await;
    let workspace = app.create_workspace(&bob, "Acme").await;
    app.invite_and_accept(&workspace, &bob, "ada@example.com", "owner", &ada)
        .await;
    // Ada invites someone; the invitation dies with her.
    let invitation = app
        .post(
            &format!("/api/v1/workspaces/{workspace}/invitations"),
            Some(&ada),
            json!({"email": "cy@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(invitation.status, 201, "{}", invitation.text);
    let invitation = invitation.body["token"].as_str().unwrap().to_owned();

    let path = format!("/api/v1/admin/accounts/{ada_id}");
    delete(&app, &path, &admin, json!({}))
        .await
        .assert_error(422, "reason_required");
    delete(&app, &path, &ada, json!({"reason": "x"}))
        .await
        .assert_error(403, "forbidden");
    let own = format!("/api/v1/admin/accounts/{admin_id}");
    delete(&app, &own, &admin, json!({"reason": "x"}))
        .await
        .assert_error(409, "own_account");

    let reason = json!({"reason": "requested by e-mail"});
    let deleted = delete(&app, &path, &admin, reason).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.body["account_id"], ada_id.as_str());
    assert_eq!(deleted.body["sessions_ended"], 1);
    delete(&app, &path, &admin, json!({"reason": "again"}))
        .await
        .assert_error(404, "not_found");

    app.get("/api/v1/me", Some(&ada))
        .await
        .assert_error(401, "unauthenticated");
    let cy = app.signed_in("cy@example.com").await;
    app.post(
        &format!("/api/v1/invitations/{invitation}/accept"),
        Some(&cy),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    let events = app
        .get(
            &format!("/api/v1/admin/events?account={ada_id}&kind=account_deleted"),
            Some(&admin),
        )
        .await;
    let event = &events.body["events"][0];
    assert_eq!(event["actor_id"], admin_id.as_str(), "{event}");
    assert_eq!(event["details"]["reason"], "requested by e-mail", "{event}");
    let created = app.create_account("ada@example.com", PASSWORD).await;
    assert_eq!(created.status, 201, "{}", created.text);
}

/// An event of `kind` about `account`, as the operations make it.
fn event(account: &deadbolt::domain::ids::AccountId, kind: EventKind) -> NewEvent {
    NewEvent {
        account_id: Some(account.clone()),
        actor_id: None,
        workspace_id: None,
        kind,
        at: START,
        ip: None,
        user_agent: None,
        details: json!({"reason": "test"}),
    }
}

async fn a_suspension_happens_once_and_a_deletion_takes_everything_of_the_account(
    backend: Backend,
) {
    let (store, _dir) = open(backend).await;
    let ada = account("ada@example.com", false);
    store.create_account(&ada).await.unwrap();
    let channels = Channels::default();

    // Of suspensions at once, exactly one happens (and is recorded).
    let suspended = join_all((0..8).map(|_| {
        let (store, id) = (Arc::clone(&store), ada.id.clone());
        async move {
            let event = event(&id, EventKind::AccountSuspended);
            store.suspend_account(&id, START, &event, channels).await
        }
    }))
    .await;
    let done: Vec<_> = suspended.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(done, [0]);
    let found = store.account_by_id(&ada.id).await.unwrap().unwrap();
    assert_eq!(found.suspended_at, Some(START));
    let lift = event(&ada.id, EventKind::AccountUnsuspended);
    assert!(store
        .unsuspend_account(&ada.id, &lift, channels)
        .await
        .unwrap());
    assert!(!store
        .unsuspend_account(&ada.id, &lift, channels)
        .await
        .unwrap());
    assert_eq!(
        store
            .account_by_id(&ada.id)
            .await
            .unwrap()
            .unwrap()
            .suspended_at,
        None
    );

    // Deletion: the pending secret, the e-mail tokens and the row go; the events stay.
    let sealed = Sealed {
        key_id: KeyId("k".into()),
        blob: vec![7; 40],
    };
    let until = START.plus_seconds(600);
    store
        .start_enrollment(&ada.id, &sealed, until)
        .await
        .unwrap();
    assert!(store.two_factor(&ada.id).await.unwrap().pending.is_some());
    let link = LinkToken::generate();
    let token = email_token(&ada.id, Purpose::Verify, &link, None);
    store.issue_email_token(&token).await.unwrap();
    let gone = event(&ada.id, EventKind::AccountDeleted);
    let deleted = store
        .delete_account(&ada.id, &gone, channels)
        .await
        .unwrap();
    assert_eq!(
        deleted,
        Deletion::Deleted {
            sessions_ended: 0,
            workspaces_deleted: 0
        }
    );
    assert_eq!(
        store
            .delete_account(&ada.id, &gone, channels)
            .await
            .unwrap(),
        Deletion::Gone
    );
    assert!(store.account_by_id(&ada.id).await.unwrap().is_none());
    assert_eq!(
        store.two_factor(&ada.id).await.unwrap(),
        Default::default(),
        "no secret, no pending enrolment"
    );
    let hash = link.hash(&[9; 32], Purpose::Verify);
    let client = deadbolt::domain::event::ClientInfo::default();
    let effect = deadbolt::store::LinkEffect::Verify;
    let spent = store
        .spend_email_link(Purpose::Verify, &hash, &effect, &client, channels, START)
        .await;
    assert_eq!(spent.unwrap(), None);
    let filter = EventFilter {
        account: Some(ada.id.clone()),
        ..EventFilter::default()
    };
    let kinds: Vec<String> = store
        .events(&filter, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "account_deleted",
            // The e-mail token issued above is recorded as its message.
            "email_sent",
            "account_unsuspended",
            "account_suspended"
        ]
    );
}

backend_tests!(
    a_suspension_happens_once_and_a_deletion_takes_everything_of_the_account,
    a_suspended_account_cannot_sign_in_and_its_sessions_end_at_once,
    a_suspended_account_cannot_complete_a_second_factor,
    deleting_your_own_account_needs_a_proof_and_frees_the_address,
    an_account_with_two_factor_is_deleted_with_a_code_and_its_secrets_go,
    the_last_owner_hands_a_workspace_over_before_deleting_the_account,
    an_admin_deletes_an_account_with_a_reason,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_suspends_unsuspends_and_deletes_from_the_admin_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let ada = app.signed_in("ada@example.com").await;
    let ada_id = app.account_id(&ada).await;
    let root = app.admin_signed_in("root@example.com").await;
    let root_id = app.account_id(&root).await;
    page_sign_in(&app, "root@example.com", "").await;
    let (status, html) = get_html(&app, "/admin").await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);
    assert!(html.contains(&format!("/admin/accounts/{ada_id}/suspend")));
    assert!(html.contains(&format!("/admin/accounts/{ada_id}/delete")));

    let suspend = format!("/admin/accounts/{ada_id}/suspend");
    let forged = post_form(&app, &suspend, &[("csrf", "forged"), ("reason", "x")]).await;
    assert_eq!(forged.status(), 403);
    let no_reason = post_form(&app, &suspend, &[("csrf", &csrf), ("reason", " ")]).await;
    assert_eq!(no_reason.status(), 422);
    assert!(no_reason.text().await.unwrap().contains("Give a reason"));
    let done = post_form(&app, &suspend, &[("csrf", &csrf), ("reason", "spam")]).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/admin?done=suspend");
    let (_, html) = get_html(&app, "/admin?done=suspend").await;
    assert!(html.contains("data-suspended=\"true\""), "{html}");
    assert!(html.contains(&format!("/admin/accounts/{ada_id}/unsuspend")));
    app.sign_in("ada@example.com", PASSWORD)
        .await
        .assert_error(403, "account_suspended");

    let unsuspend = format!("/admin/accounts/{ada_id}/unsuspend");
    let done = post_form(&app, &unsuspend, &[("csrf", &csrf), ("reason", "ok")]).await;
    assert_eq!(location(&done), "/admin?done=unsuspend");
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 201);

    let delete = format!("/admin/accounts/{ada_id}/delete");
    let done = post_form(&app, &delete, &[("csrf", &csrf), ("reason", "asked")]).await;
    assert_eq!(location(&done), "/admin?done=delete");
    let (_, html) = get_html(&app, "/admin").await;
    assert!(!html.contains("ada@example.com"));
    // The admin's own row offers neither.
    assert!(!html.contains(&format!("/admin/accounts/{root_id}/suspend")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_deletes_their_account_from_the_security_page() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_account("bea@example.com", PASSWORD).await;
    let (_, token) = page_sign_in(&app, "bea@example.com", "").await;
    let (_, html) = get_html(&app, "/account/security").await;
    assert!(html.contains("action=\"/account/security/delete\""));
    assert!(html.contains("id=\"delete-password\""));
    let csrf = csrf_of(&html);

    let wrong = [("csrf", csrf.as_str()), ("password", "not the password")];
    let refused = post_form(&app, "/account/security/delete", &wrong).await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Your account was not deleted."));
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 200);

    let right = [("csrf", csrf.as_str()), ("password", PASSWORD)];
    let deleted = post_form(&app, "/account/security/delete", &right).await;
    assert_eq!(deleted.status(), 303);
    assert_eq!(location(&deleted), "/login?signed_out=1");
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 401);
    app.sign_in("bea@example.com", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
}
