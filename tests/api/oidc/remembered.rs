//! Userinfo and introspection answer from the node's memory (`Key::AccessToken`): a write
//! on one node that ends an access token publishes, so another node that remembered the
//! token refuses it in the very next request (SPEC §12, "Logout and revocation").

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::driver::{exchange, two_providers, userinfo, VERIFIER};
use super::tokens::{as_rp, offline_tokens, refresh, refused, revoke};
use crate::helpers::{Backend, TestApp};

/// Userinfo on `node` answers for `access` (twice: the second answer is the memory's).
async fn remembered_on(node: &TestApp, access: &str) {
    for _ in 0..2 {
        let response = userinfo(&node.base, access).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

/// Userinfo on `node` refuses `access`, and introspection there calls it inactive, once
/// `what` ended it.
async fn refused_on(node: &TestApp, access: &str, what: &str) {
    assert_eq!(
        userinfo(&node.base, access).await.status(),
        StatusCode::UNAUTHORIZED,
        "userinfo after {what}"
    );
    let introspected: Value = as_rp(node, "/oauth2/introspect", &[("token", access)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        introspected,
        json!({"active": false}),
        "introspection after {what}"
    );
}

fn access_of(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_ended_on_one_postgres_node_is_refused_by_another_at_once() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let (a, b, _secrets) = two_providers(backend).await;
    let ida = a.signed_in("ida@example.com").await;

    // RFC 7009 on node A: the access token itself...
    let tokens = offline_tokens(&a, &ida).await;
    remembered_on(&b, access_of(&tokens)).await;
    revoke(&a, access_of(&tokens), "access_token").await;
    refused_on(&b, access_of(&tokens), "revoking the access token").await;
    // ...and its refresh token, which revokes the family.
    let tokens = offline_tokens(&a, &ida).await;
    remembered_on(&b, access_of(&tokens)).await;
    revoke(
        &a,
        tokens["refresh_token"].as_str().unwrap(),
        "refresh_token",
    )
    .await;
    refused_on(&b, access_of(&tokens), "revoking the refresh token").await;

    // A spent refresh token presented again on A revokes the family, the new access token
    // that node B remembers included.
    let tokens = offline_tokens(&a, &ida).await;
    let spent = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) = refresh(&a.base, spent).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    remembered_on(&b, access_of(&rotated)).await;
    refused(&refresh(&a.base, spent).await);
    refused_on(&b, access_of(&rotated), "reusing a refresh token").await;

    // A code presented again on A revokes what its first exchange issued, on every node.
    let code = super::code_for_session(&a, &ida).await;
    let (status, tokens) = exchange(&a.base, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    remembered_on(&b, access_of(&tokens)).await;
    refused(&exchange(&a.base, &code, VERIFIER).await);
    refused_on(&b, access_of(&tokens), "reusing a code").await;

    // Signing out of the session on A.
    let tokens = offline_tokens(&a, &ida).await;
    remembered_on(&b, access_of(&tokens)).await;
    a.delete("/api/v1/sessions/current", Some(&ida))
        .await
        .assert_status(204);
    refused_on(&b, access_of(&tokens), "signing out").await;
}
