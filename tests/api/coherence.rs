//! What a node remembers (`src/store/cache.rs`) never outlives a change made through another
//! node: two `deadbolt serve` processes over one PostgreSQL database. Each test first asks
//! node B, so that B remembers the state before, then changes it through node A (a role, a
//! membership, a workspace's enforcement, the instance policy, a suspension, a deletion) and
//! checks that B's very next answers obey the change: forward-auth, `/me` and the workspace
//! API.

use reqwest::Method;
use serde_json::{json, Value};

use crate::multinode::{code, current_step, Cluster};

/// The node every change goes through.
const A: usize = 0;
/// The node that remembered the state before, and must answer from the state after.
const B: usize = 1;

/// Forward-auth on `node`: the status, `Remote-Workspace-Role` and the body.
async fn authz(
    cluster: &Cluster,
    node: usize,
    token: &str,
    workspace: &str,
) -> (u16, Option<String>, Value) {
    let response = cluster
        .client
        .get(cluster.url(node, &format!("/api/v1/authz?workspace={workspace}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let role = response
        .headers()
        .get("remote-workspace-role")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, role, response.json().await.unwrap_or(Value::Null))
}

fn assert_error((status, body): &(u16, Value), expected: u16, code: &str) {
    assert_eq!(
        (*status, body["error"]["code"].as_str()),
        (expected, Some(code)),
        "{body}"
    );
}

/// `GET /workspaces` on `node`, as (id, role, access) triples.
async fn listed(cluster: &Cluster, node: usize, token: &str) -> Vec<(String, String, String)> {
    let (status, body) = cluster.get(node, "/api/v1/workspaces", token).await;
    assert_eq!(status, 200, "{body}");
    body["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let text = |field: &str| w[field].as_str().unwrap().to_owned();
            (text("id"), text("role"), text("access"))
        })
        .collect()
}

/// `/me`'s requirement on `node`.
async fn requirement(cluster: &Cluster, node: usize, token: &str) -> Value {
    let (status, me) = cluster.get(node, "/api/v1/me", token).await;
    assert_eq!(status, 200, "{me}");
    me["requirement"].clone()
}

async fn account_id(cluster: &Cluster, token: &str) -> String {
    let (status, me) = cluster.get(A, "/api/v1/me", token).await;
    assert_eq!(status, 200, "{me}");
    me["id"].as_str().unwrap().to_owned()
}

/// A workspace created through node A by `owner`.
async fn workspace(cluster: &Cluster, owner: &str) -> String {
    let (status, body) = cluster
        .post(
            A,
            "/api/v1/workspaces",
            Some(owner),
            json!({"name": "Acme"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Signs `email` up and has it join `workspace` with `role`, through node A; its token.
async fn member(
    cluster: &Cluster,
    workspace: &str,
    owner: &str,
    email: &str,
    role: &str,
) -> String {
    let token = cluster.signed_up(A, email).await;
    let (status, invitation) = cluster
        .post(
            A,
            &format!("/api/v1/workspaces/{workspace}/invitations"),
            Some(owner),
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(status, 201, "{invitation}");
    let accept = format!(
        "/api/v1/invitations/{}/accept",
        invitation["token"].as_str().unwrap()
    );
    let (status, body) = cluster.post(A, &accept, Some(&token), json!({})).await;
    assert_eq!(status, 200, "{body}");
    token
}

/// Enrols the account of `token` in two-factor through node A.
async fn enrol(cluster: &Cluster, token: &str) {
    let (status, enrollment) = cluster
        .post(
            A,
            "/api/v1/me/two-factor/enrollment",
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{enrollment}");
    let secret = enrollment["secret"].as_str().unwrap();
    let (status, body) = cluster
        .post(
            A,
            "/api/v1/me/two-factor/enrollment/confirm",
            Some(token),
            json!({"code": code(secret, current_step())}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coherence_a_demotion_on_one_node_is_obeyed_by_the_next_answer_of_another() {
    let Some(cluster) = Cluster::start(2, None).await else {
        return;
    };
    let ada = cluster.signed_up(A, "ada@example.com").await;
    let id = workspace(&cluster, &ada).await;
    let bob = member(&cluster, &id, &ada, "bob@example.com", "admin").await;
    let bob_id = account_id(&cluster, &bob).await;
    let members = format!("/api/v1/workspaces/{id}/members");
    // Node B remembers Bob as an admin.
    let (status, role, body) = authz(&cluster, B, &bob, &id).await;
    assert_eq!((status, role.as_deref()), (200, Some("admin")), "{body}");
    assert_eq!(
        listed(&cluster, B, &bob).await,
        [(id.clone(), "admin".into(), "ok".into())]
    );
    assert_eq!(cluster.get(B, &members, &bob).await.0, 200);

    let (status, body) = cluster
        .call(
            A,
            Method::PATCH,
            &format!("{members}/{bob_id}"),
            Some(&ada),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, role, body) = authz(&cluster, B, &bob, &id).await;
    assert_eq!((status, role.as_deref()), (200, Some("member")), "{body}");
    assert_eq!(
        listed(&cluster, B, &bob).await,
        [(id.clone(), "member".into(), "ok".into())]
    );
    assert_error(&cluster.get(B, &members, &bob).await, 403, "forbidden");
    let invite = cluster
        .post(
            B,
            &format!("/api/v1/workspaces/{id}/invitations"),
            Some(&bob),
            json!({"email": "cy@example.com", "role": "member"}),
        )
        .await;
    assert_error(&invite, 403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coherence_a_removal_on_one_node_is_obeyed_by_the_next_answer_of_another() {
    let Some(cluster) = Cluster::start(2, None).await else {
        return;
    };
    let ada = cluster.signed_up(A, "ada@example.com").await;
    let id = workspace(&cluster, &ada).await;
    let bob = member(&cluster, &id, &ada, "bob@example.com", "member").await;
    let bob_id = account_id(&cluster, &bob).await;
    let one = format!("/api/v1/workspaces/{id}");
    // Node B remembers Bob as a member.
    let (status, role, body) = authz(&cluster, B, &bob, &id).await;
    assert_eq!((status, role.as_deref()), (200, Some("member")), "{body}");
    assert_eq!(cluster.get(B, &one, &bob).await.0, 200);
    assert_eq!(listed(&cluster, B, &bob).await.len(), 1);

    let (status, body) = cluster
        .call(
            A,
            Method::DELETE,
            &format!("{one}/members/{bob_id}"),
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");

    let (status, role, body) = authz(&cluster, B, &bob, &id).await;
    assert_eq!((status, role), (403, None), "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert_error(&cluster.get(B, &one, &bob).await, 404, "not_found");
    assert_eq!(listed(&cluster, B, &bob).await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coherence_enforcement_on_one_node_is_obeyed_by_the_next_answer_of_another() {
    let Some(cluster) = Cluster::start(2, None).await else {
        return;
    };
    let ada = cluster.signed_up(A, "ada@example.com").await;
    enrol(&cluster, &ada).await;
    let id = workspace(&cluster, &ada).await;
    let bob = member(&cluster, &id, &ada, "bob@example.com", "member").await;
    let one = format!("/api/v1/workspaces/{id}");
    // Node B remembers Bob, without two-factor, in a workspace that does not require it.
    let (status, _, body) = authz(&cluster, B, &bob, &id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cluster.get(B, &one, &bob).await.1["access"], "ok");
    assert_eq!(
        listed(&cluster, B, &bob).await,
        [(id.clone(), "member".into(), "ok".into())]
    );
    assert_eq!(requirement(&cluster, B, &bob).await["access"], "ok");

    let (status, body) = cluster
        .call(
            A,
            Method::PUT,
            &format!("{one}/security"),
            Some(&ada),
            Some(json!({"enforcement": "all", "grace_period_days": 0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, _, body) = authz(&cluster, B, &bob, &id).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "two_factor_required", "{body}");
    assert_error(
        &cluster.get(B, &one, &bob).await,
        403,
        "two_factor_required",
    );
    assert_eq!(
        listed(&cluster, B, &bob).await,
        [(id.clone(), "member".into(), "blocked".into())]
    );
    let requirement = requirement(&cluster, B, &bob).await;
    assert_eq!(
        (&requirement["required"], &requirement["access"]),
        (&json!(true), &json!("blocked")),
        "{requirement}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coherence_the_instance_policy_set_on_one_node_is_obeyed_by_the_next_answer_of_another() {
    let Some(cluster) = Cluster::start(2, None).await else {
        return;
    };
    let (status, root) = cluster
        .sign_in(A, "root@example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(status, 201, "{root}");
    let root = root["token"].as_str().unwrap().to_owned();
    enrol(&cluster, &root).await;
    let ada = cluster.signed_up(A, "ada@example.com").await;
    let id = workspace(&cluster, &ada).await;
    // Node B remembers Ada, without two-factor, on an instance that does not require it.
    assert_eq!(
        requirement(&cluster, B, &ada).await,
        json!({"required": false, "required_factor": null, "access": "ok", "deadline": null})
    );
    let (status, role, body) = authz(&cluster, B, &ada, &id).await;
    assert_eq!((status, role.as_deref()), (200, Some("owner")), "{body}");
    assert_eq!(cluster.get(B, "/api/v1/sessions", &ada).await.0, 200);
    assert_eq!(listed(&cluster, B, &ada).await.len(), 1);

    let (status, body) = cluster
        .call(
            A,
            Method::PUT,
            "/api/v1/admin/security",
            Some(&root),
            Some(json!({"require_two_factor": "everyone", "grace_period_days": 0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let requirement = requirement(&cluster, B, &ada).await;
    assert_eq!(
        (&requirement["required"], &requirement["access"]),
        (&json!(true), &json!("blocked")),
        "{requirement}"
    );
    let (status, _, body) = authz(&cluster, B, &ada, &id).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "two_factor_required", "{body}");
    for path in [
        "/api/v1/sessions",
        "/api/v1/workspaces",
        &format!("/api/v1/workspaces/{id}"),
    ] {
        assert_error(
            &cluster.get(B, path, &ada).await,
            403,
            "two_factor_required",
        );
    }
}

/// Signs in the instance admin `root@example.com` (created by the cluster) through node A.
async fn root(cluster: &Cluster) -> String {
    let (status, root) = cluster
        .sign_in(A, "root@example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(status, 201, "{root}");
    root["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coherence_a_suspension_on_one_node_ends_the_session_on_another_at_once() {
    let Some(cluster) = Cluster::start(2, None).await else {
        return;
    };
    let root = root(&cluster).await;
    let ada = cluster.signed_up(A, "ada@example.com").await;
    let ada_id = account_id(&cluster, &ada).await;
    let id = workspace(&cluster, &ada).await;
    // Node B remembers Ada's session, and her membership for forward-auth.
    let (status, role, body) = authz(&cluster, B, &ada, &id).await;
    assert_eq!((status, role.as_deref()), (200, Some("owner")), "{body}");
    assert_eq!(cluster.get(B, "/api/v1/me", &ada).await.0, 200);

    let (status, body) = cluster
        .post(
            A,
            &format!("/api/v1/admin/accounts/{ada_id}/suspend"),
            Some(&root),
            json!({"reason": "abuse report"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions_ended"], 1, "{body}");

    let (status, _, body) = authz(&cluster, B, &ada, &id).await;
    assert_eq!(status, 401, "{body}");
    assert_error(
        &cluster.get(B, "/api/v1/me", &ada).await,
        401,
        "unauthenticated",
    );
    let (status, body) = cluster
        .sign_in(B, "ada@example.com", crate::helpers::PASSWORD)
        .await;
    assert_error(&(status, body), 403, "account_suspended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coherence_a_deletion_on_one_node_ends_the_session_on_another_at_once() {
    let Some(cluster) = Cluster::start(2, None).await else {
        return;
    };
    let ada = cluster.signed_up(A, "ada@example.com").await;
    let id = workspace(&cluster, &ada).await;
    let (status, role, body) = authz(&cluster, B, &ada, &id).await;
    assert_eq!((status, role.as_deref()), (200, Some("owner")), "{body}");

    let (status, body) = cluster
        .call(
            A,
            Method::DELETE,
            "/api/v1/me",
            Some(&ada),
            Some(json!({"password": crate::helpers::PASSWORD})),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    let (status, _, body) = authz(&cluster, B, &ada, &id).await;
    assert_eq!(status, 401, "{body}");
    assert_error(
        &cluster.get(B, "/api/v1/me", &ada).await,
        401,
        "unauthenticated",
    );
}
