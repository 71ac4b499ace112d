//! Rolling the ID-token signing keys (`deadbolt keys rotate`): every node signs with the new
//! key from its next token, without a restart; the old public key stays in the JWKS while
//! what it signed may still be presented, and a roll a day later drops it.

use deadbolt::clock::Clock;
use deadbolt::keyring::Keyring;
use deadbolt::oidc::keys::{roll, RETIRED_KEY_SECONDS};
use reqwest::StatusCode;
use serde_json::Value;

use super::code_for_session;
use super::driver::{exchange, two_providers, VERIFIER};
use crate::helpers::{Backend, TestApp};

/// The key ids the JWKS at `base` publishes.
async fn published(base: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{base}/oauth2/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    keys.iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The `kid` of an ID token exchanged at `base` for a code `app` issued to `session`.
async fn signed_by(app: &TestApp, base: &str, session: &str) -> String {
    let code = code_for_session(app, session).await;
    let (status, tokens) = exchange(base, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let header = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap();
    header.kid.unwrap()
}

async fn a_roll_signs_with_the_new_key_on_every_node_at_once(backend: Backend) {
    let (a, b, _secrets) = two_providers(backend).await;
    let ivo = a.signed_in("ivo@example.com").await;
    let old = signed_by(&a, &a.base, &ivo).await;
    assert_eq!(signed_by(&a, &b.base, &ivo).await, old);
    let before = published(&b.base).await;
    assert_eq!(before.len(), 2, "{before:?}");

    let (keyring, _) = Keyring::load_or_create(&a.dir.path().join("deadbolt.key")).unwrap();
    let rolled = roll(a.store.as_ref(), &keyring, a.clock.now())
        .await
        .unwrap();
    assert_eq!(rolled.signing.len(), 2);
    assert_eq!(rolled.retired, 2);
    assert!(!rolled.signing.contains(&old));
    for node in [&a, &b] {
        let new = signed_by(&a, &node.base, &ivo).await;
        assert!(rolled.signing.contains(&new), "{new} on {}", node.base);
        let jwks = published(&node.base).await;
        assert_eq!(jwks.len(), 4, "{jwks:?}");
        assert!(jwks.contains(&old) && jwks.contains(&new), "{jwks:?}");
    }

    // A roll once the retired keys have been published a day drops them.
    let later = a.clock.now().plus_seconds(RETIRED_KEY_SECONDS + 1);
    let again = roll(a.store.as_ref(), &keyring, later).await.unwrap();
    assert_eq!(again.retired, 2);
    for node in [&a, &b] {
        let jwks = published(&node.base).await;
        assert_eq!(jwks.len(), 4, "{jwks:?}");
        assert!(!jwks.contains(&old), "{jwks:?}");
        assert!(rolled.signing.iter().all(|kid| jwks.contains(kid)));
        assert!(again.signing.iter().all(|kid| jwks.contains(kid)));
    }
}

backend_tests!(a_roll_signs_with_the_new_key_on_every_node_at_once);
