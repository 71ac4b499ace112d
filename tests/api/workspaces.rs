//! Workspaces, members, invitations and two-factor enforcement with grace periods (SPEC §4).

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

async fn a_workspace_belongs_to_its_creator_and_is_hidden_from_strangers(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.signed_in("ada@example.com").await;
    let eve = app.signed_in("eve@example.com").await;
    let id = app.create_workspace(&ada, "  Acme  ").await;
    let one = app
        .get(&format!("/api/v1/workspaces/{id}"), Some(&ada))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["name"], "Acme");
    assert_eq!(one.body["role"], "owner");
    assert_eq!(one.body["access"], "ok");
    let list = app.get("/api/v1/workspaces", Some(&ada)).await;
    assert_eq!(list.body["workspaces"].as_array().unwrap().len(), 1);
    app.get(&format!("/api/v1/workspaces/{id}"), Some(&eve))
        .await
        .assert_error(404, "not_found");
    app.get("/api/v1/workspaces/nope", Some(&ada))
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&eve)).await.body["workspaces"],
        json!([])
    );
    app.post("/api/v1/workspaces", Some(&ada), json!({"name": "  "}))
        .await
        .assert_error(422, "invalid_body");
}

async fn invitations_are_single_use_personal_and_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let eve = app.signed_in("eve@example.com").await;
    let id = app.create_workspace(&ada, "Acme").await;
    let invitation = app
        .post(
            &format!("/api/v1/workspaces/{id}/invitations"),
            Some(&ada),
            json!({"email": "BOB@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(invitation.status, 201, "{}", invitation.text);
    assert_eq!(
        invitation.body["expires_at"],
        START.plus_seconds(7 * 86_400).to_rfc3339()
    );
    let token = invitation.body["token"].as_str().unwrap();
    let accept = format!("/api/v1/invitations/{token}/accept");
    // Someone else cannot use Bob's invitation.
    app.post(&accept, Some(&eve), json!({}))
        .await
        .assert_error(403, "forbidden");
    let accepted = app.post(&accept, Some(&bob), json!({})).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.body, json!({"workspace_id": id, "role": "member"}));
    app.post(&accept, Some(&bob), json!({}))
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        app.get(&format!("/api/v1/workspaces/{id}"), Some(&bob))
            .await
            .body["role"],
        "member"
    );

    // Members may not manage.
    app.get(&format!("/api/v1/workspaces/{id}/members"), Some(&bob))
        .await
        .assert_error(403, "forbidden");
    app.post(
        &format!("/api/v1/workspaces/{id}/invitations"),
        Some(&bob),
        json!({"email": "x@example.com", "role": "member"}),
    )
    .await
    .assert_error(403, "forbidden");
    // Expired invitations do not work.
    let late = app
        .post(
            &format!("/api/v1/workspaces/{id}/invitations"),
            Some(&ada),
            json!({"email": "eve@example.com", "role": "admin"}),
        )
        .await;
    app.clock.advance(7 * 86_400);
    let eve = app.sign_in("eve@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ada = app.sign_in("ada@example.com", PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = late.body["token"].as_str().unwrap();
    app.post(
        &format!("/api/v1/invitations/{token}/accept"),
        Some(&eve),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    app.post(
        &format!("/api/v1/workspaces/{id}/invitations"),
        Some(&ada),
        json!({"email": "nope", "role": "member"}),
    )
    .await
    .assert_error(422, "invalid_email");
    app.post(
        &format!("/api/v1/workspaces/{id}/invitations"),
        Some(&ada),
        json!({"email": "x@example.com", "role": "king"}),
    )
    .await
    .assert_error(422, "invalid_body");
}

async fn roles_change_but_the_last_owner_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let cy = app.signed_in("cy@example.com").await;
    let id = app.create_workspace(&ada, "Acme").await;
    app.invite_and_accept(&id, &ada, "bob@example.com", "admin", &bob)
        .await;
    app.invite_and_accept(&id, &ada, "cy@example.com", "member", &cy)
        .await;
    let (ada_id, bob_id, cy_id) = (
        app.account_id(&ada).await,
        app.account_id(&bob).await,
        app.account_id(&cy).await,
    );
    // The only owner can neither step down nor be removed.
    patch(&app, &id, &ada, &ada_id, "admin")
        .await
        .assert_error(409, "last_owner");
    app.delete(
        &format!("/api/v1/workspaces/{id}/members/{ada_id}"),
        Some(&ada),
    )
    .await
    .assert_error(409, "last_owner");
    // An admin may not touch owners or make owners.
    patch(&app, &id, &bob, &ada_id, "member")
        .await
        .assert_error(403, "forbidden");
    patch(&app, &id, &bob, &cy_id, "owner")
        .await
        .assert_error(403, "forbidden");
    let promoted = patch(&app, &id, &bob, &cy_id, "admin").await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.body["role"], "admin");
    // With a second owner, the first may step down.
    assert_eq!(patch(&app, &id, &ada, &bob_id, "owner").await.status, 200);
    assert_eq!(patch(&app, &id, &ada, &ada_id, "member").await.status, 200);
    patch(&app, &id, &bob, "nobody", "member")
        .await
        .assert_error(404, "not_found");
    // Anyone may leave; the removed lose access.
    let left = app
        .delete(
            &format!("/api/v1/workspaces/{id}/members/{cy_id}"),
            Some(&cy),
        )
        .await;
    assert_eq!(left.status, 204, "{}", left.text);
    app.get(&format!("/api/v1/workspaces/{id}"), Some(&cy))
        .await
        .assert_error(404, "not_found");
    let members = app
        .get(&format!("/api/v1/workspaces/{id}/members"), Some(&bob))
        .await;
    assert_eq!(
        members.body["members"].as_array().unwrap().len(),
        2,
        "{}",
        members.text
    );
}

async fn concurrent_demotions_never_leave_a_workspace_without_an_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let id = app.create_workspace(&ada, "Acme").await;
    app.invite_and_accept(&id, &ada, "bob@example.com", "owner", &bob)
        .await;
    let (ada_id, bob_id) = (app.account_id(&ada).await, app.account_id(&bob).await);
    let demote = |token: String, member: String| {
        let path = format!("/api/v1/workspaces/{id}/members/{member}");
        let app = &app;
        async move {
            app.request(
                Method::PATCH,
                &path,
                Some(&token),
                Some(json!({"role": "member"})),
            )
            .await
        }
    };
    let (first, second) = tokio::join!(demote(ada.clone(), ada_id), demote(bob.clone(), bob_id));
    let statuses = [first.status.as_u16(), second.status.as_u16()];
    assert!(
        statuses.contains(&200) && statuses.contains(&409),
        "{statuses:?}"
    );
    let members = app
        .get(
            &format!("/api/v1/workspaces/{id}/members"),
            Some(if first.status == 200 { &bob } else { &ada }),
        )
        .await;
    let owners = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1, "{}", members.text);
}

async fn enforcement_needs_two_factor_first_and_a_valid_grace(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.signed_in("ada@example.com").await;
    let id = app.create_workspace(&ada, "Acme").await;
    app.enforce(&id, &ada, "all", 7)
        .await
        .assert_error(409, "enable_two_factor_first");
    let owner = app.enrolled("owner@example.com").await;
    let id = app.create_workspace(&owner.token, "Secure").await;
    app.enforce(&id, &owner.token, "all", 5)
        .await
        .assert_error(422, "invalid_grace_period");
    app.enforce(&id, &owner.token, "some", 7)
        .await
        .assert_error(422, "invalid_body");
    let now = app.clock_now();
    let set = app.enforce(&id, &owner.token, "all", 7).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["enforcement"], "all");
    assert_eq!(set.body["grace_period_days"], 7);
    assert_eq!(set.body["enforced_since"], now.to_rfc3339());
    assert_eq!(
        set.body["deadline"],
        now.plus_seconds(7 * 86_400).to_rfc3339()
    );
    assert_eq!(set.body["enrolled_count"], 1);
    assert_eq!(set.body["member_count"], 1);
    let got = app
        .get(
            &format!("/api/v1/workspaces/{id}/security"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(got.body, set.body);
    let events = app
        .get(
            &format!("/api/v1/workspaces/{id}/events"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(
        events.body["events"][0]["kind"], "enforcement_changed",
        "{}",
        events.text
    );
}

async fn a_member_without_two_factor_has_grace_then_is_blocked_until_enrolling(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.enrolled("owner@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let id = app.create_workspace(&owner.token, "Acme").await;
    app.invite_and_accept(&id, &owner.token, "bob@example.com", "member", &bob)
        .await;
    let since = app.clock_now();
    app.enforce(&id, &owner.token, "all", 3).await;
    let deadline = since.plus_seconds(3 * 86_400).to_rfc3339();

    let seen = app
        .get(&format!("/api/v1/workspaces/{id}"), Some(&bob))
        .await;
    assert_eq!(seen.body["access"], "grace");
    assert_eq!(seen.body["deadline"], deadline);
    let me = app.get("/api/v1/me", Some(&bob)).await;
    assert_eq!(
        me.body["requirement"],
        json!({"required": true, "required_factor": "any", "access": "grace", "deadline": deadline})
    );
    let security = app
        .get(
            &format!("/api/v1/workspaces/{id}/security"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(
        (
            security.body["enrolled_count"].as_u64(),
            security.body["member_count"].as_u64()
        ),
        (Some(1), Some(2))
    );

    // Three days later Bob is blocked from every workspace resource.
    app.clock.advance(3 * 86_400);
    let blocked = app
        .get(&format!("/api/v1/workspaces/{id}"), Some(&bob))
        .await;
    blocked.assert_error(403, "two_factor_required");
    assert_eq!(blocked.body["error"]["deadline"], deadline);
    let listed = app.get("/api/v1/workspaces", Some(&bob)).await;
    assert_eq!(listed.body["workspaces"][0]["access"], "blocked");
    let members = app
        .get(
            &format!("/api/v1/workspaces/{id}/members"),
            Some(&owner.token),
        )
        .await;
    let bob_row = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "bob@example.com")
        .unwrap()
        .clone();
    assert_eq!(bob_row["access"], "blocked");
    assert_eq!(bob_row["two_factor_enabled"], false);

    // Enrolling unblocks at once.
    let secret = app.enroll(&bob).await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.confirm(&bob, &app.code(&secret)).await.status, 200);
    let seen = app
        .get(&format!("/api/v1/workspaces/{id}"), Some(&bob))
        .await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.body["access"], "ok");

    // Disabling two-factor after the deadline blocks at once.
    app.clock.advance(30);
    let code = app.code(&secret);
    let disabled = app
        .request(
            Method::DELETE,
            "/api/v1/me/two-factor",
            Some(&bob),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    app.get(&format!("/api/v1/workspaces/{id}"), Some(&bob))
        .await
        .assert_error(403, "two_factor_required");

    // Turning enforcement off unblocks everyone and removes nobody's enrolment.
    app.enforce(&id, &owner.token, "off", 0).await;
    assert_eq!(
        app.get(&format!("/api/v1/workspaces/{id}"), Some(&bob))
            .await
            .status,
        200
    );
    let owner_me = app.get("/api/v1/me", Some(&owner.token)).await;
    assert_eq!(owner_me.body["two_factor"]["state"], "enabled");
    let security = app
        .get(
            &format!("/api/v1/workspaces/{id}/security"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(security.body["enforced_since"], serde_json::Value::Null);
}

async fn admins_scope_covers_only_owners_and_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.enrolled("owner@example.com").await;
    let admin = app.signed_in("admin@example.com").await;
    let member = app.signed_in("member@example.com").await;
    let id = app.create_workspace(&owner.token, "Acme").await;
    app.invite_and_accept(&id, &owner.token, "admin@example.com", "admin", &admin)
        .await;
    app.invite_and_accept(&id, &owner.token, "member@example.com", "member", &member)
        .await;
    app.enforce(&id, &owner.token, "admins", 0).await;
    app.get(&format!("/api/v1/workspaces/{id}"), Some(&admin))
        .await
        .assert_error(403, "two_factor_required");
    let seen = app
        .get(&format!("/api/v1/workspaces/{id}"), Some(&member))
        .await;
    assert_eq!(seen.body["access"], "ok", "{}", seen.text);
}

async fn joining_an_enforcing_workspace_needs_two_factor_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.enrolled("owner@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let id = app.create_workspace(&owner.token, "Acme").await;
    app.enforce(&id, &owner.token, "all", 30).await;
    let invitation = app
        .post(
            &format!("/api/v1/workspaces/{id}/invitations"),
            Some(&owner.token),
            json!({"email": "bob@example.com", "role": "member"}),
        )
        .await;
    let accept = format!(
        "/api/v1/invitations/{}/accept",
        invitation.body["token"].as_str().unwrap()
    );
    app.post(&accept, Some(&bob), json!({}))
        .await
        .assert_error(403, "two_factor_required");
    let secret = app.enroll(&bob).await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.confirm(&bob, &app.code(&secret)).await;
    let joined = app.post(&accept, Some(&bob), json!({})).await;
    assert_eq!(joined.status, 200, "{}", joined.text);
}

async fn patch(app: &TestApp, id: &str, token: &str, member: &str, role: &str) -> Reply {
    let path = format!("/api/v1/workspaces/{id}/members/{member}");
    app.request(
        Method::PATCH,
        &path,
        Some(token),
        Some(json!({"role": role})),
    )
    .await
}

backend_tests!(
    a_workspace_belongs_to_its_creator_and_is_hidden_from_strangers,
    invitations_are_single_use_personal_and_expire,
    roles_change_but_the_last_owner_stays,
    concurrent_demotions_never_leave_a_workspace_without_an_owner,
    enforcement_needs_two_factor_first_and_a_valid_grace,
    a_member_without_two_factor_has_grace_then_is_blocked_until_enrolling,
    admins_scope_covers_only_owners_and_admins,
    joining_an_enforcing_workspace_needs_two_factor_first,
);
