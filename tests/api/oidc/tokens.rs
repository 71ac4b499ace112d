//! Refresh tokens (rotation, reuse revoking the family, two nodes racing one, an RP library
//! refreshing), revocation (RFC 7009) and introspection (RFC 7662).

use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

use super::driver::{
    authorize_url, claims_of, exchange, provider, two_providers, userinfo, Browser, Person,
    REDIRECT, SECRET, VERIFIER,
};
use super::ending::assert_ended;
use crate::helpers::{Backend, TestApp, PASSWORD};

/// An authorization for the public client `spa` with `offline_access`, asked with the
/// session `token` as a bearer; the code.
async fn offline_code(app: &TestApp, token: &str) -> String {
    let url = authorize_url(app, "spa", VERIFIER, &[]).replace(
        "scope=openid+email+profile",
        "scope=openid+email+profile+offline_access",
    );
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    code.into_owned()
}

/// `grant_type=refresh_token` for the public client `spa`.
pub async fn refresh(base: &str, refresh_token: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "spa"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Tokens for `spa` with a refresh token, under the session `token`.
pub(super) async fn offline_tokens(app: &TestApp, token: &str) -> Value {
    let code = offline_code(app, token).await;
    let (status, tokens) = exchange(&app.base, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    tokens
}

pub(super) fn refused(answer: &(StatusCode, Value)) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{:?}",
        answer.1
    );
}

async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let ann = app.signed_in("ann@example.com").await;
    // Without offline_access, no refresh token.
    let plain = super::code_for_session(&app, &ann).await;
    let (_, tokens) = exchange(&app.base, &plain, VERIFIER).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");

    let first = offline_tokens(&app, &ann).await;
    let original = claims_of(first["id_token"].as_str().unwrap());
    let first_refresh = first["refresh_token"].as_str().unwrap();
    app.clock.advance(3600);
    let (status, second) = refresh(&app.base, first_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(second["scope"], "openid email profile offline_access");
    // The refreshed ID token keeps the sign-in's auth_time, amr and acr, and is new.
    let refreshed = claims_of(second["id_token"].as_str().unwrap());
    for claim in ["auth_time", "amr", "acr", "sub", "aud", "email"] {
        assert_eq!(refreshed[claim], original[claim], "{claim}");
    }
    assert!(refreshed["iat"].as_i64() > original["iat"].as_i64());
    assert!(refreshed.get("nonce").is_none());
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app.base, access).await.status(), StatusCode::OK);
    // Another client may not use it, nor spend it.
    let response = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .basic_auth("rp", Some(SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", second_refresh),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A refresh may not widen the scopes.
    let widened = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", second_refresh),
            ("client_id", "spa"),
            ("scope", "openid offline_access admin"),
        ])
        .send()
        .await
        .unwrap();
    // Unknown scopes are ignored (as at authorization): this one is within the grant.
    assert_eq!(widened.status(), StatusCode::OK);
    let third: Value = widened.json().await.unwrap();
    let third_refresh = third["refresh_token"].as_str().unwrap();

    // The spent one presented again: refused, and the whole family is revoked.
    refused(&refresh(&app.base, first_refresh).await);
    refused(&refresh(&app.base, third_refresh).await);
    for token in [
        &first["access_token"],
        &second["access_token"],
        &third["access_token"],
    ] {
        let answer = userinfo(&app.base, token.as_str().unwrap()).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let kinds = app.event_kinds(&ann).await;
    assert!(
        kinds.iter().any(|k| k == "oidc_refresh_reused"),
        "{kinds:?}"
    );

    // A refresh token lapses after 30 days unused.
    let fresh = offline_tokens(&app, &ann).await;
    app.clock.advance(30 * 24 * 3600 + 1);
    let signed_in_again = app.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(signed_in_again.status, 201);
    refused(&refresh(&app.base, fresh["refresh_token"].as_str().unwrap()).await);
}

/// `POST /oauth2/revoke` on `app` as the public client `spa` (RFC 7009), answered 200.
pub(super) async fn revoke(app: &TestApp, token: &str, hint: &str) {
    let response = reqwest::Client::new()
        .post(app.url("/oauth2/revoke"))
        .form(&[
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", "spa"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// `POST /oauth2/{path}` as the confidential client `rp`.
pub(super) async fn as_rp(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(path))
        .basic_auth("rp", Some(SECRET))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn introspection_and_revocation(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let bea = app.signed_in("bea@example.com").await;
    let browser = Browser::new();
    let person = Person {
        email: "bea@example.com",
        secret: None,
    };
    let url = authorize_url(&app, "rp", VERIFIER, &[])
        .replace("scope=openid+email+profile", "scope=openid+offline_access");
    let ended = browser.follow(&app, &url, &person).await;
    let code = ended.param("code").unwrap();
    let response = as_rp(
        &app,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    let active: Value = as_rp(&app, "/oauth2/introspect", &[("token", access)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["client_id"], "rp");
    assert_eq!(active["scope"], "openid offline_access");
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(active["sub"], app.account_id(&bea).await);
    assert!(active["exp"].as_i64() > active["iat"].as_i64());
    let active: Value = as_rp(
        &app,
        "/oauth2/introspect",
        &[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["token_type"], "refresh_token");
    // A refresh may not widen the scopes granted (and does not spend the token).
    let widened = as_rp(
        &app,
        "/oauth2/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(widened.status(), StatusCode::BAD_REQUEST);
    let body: Value = widened.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
    let unknown: Value = as_rp(&app, "/oauth2/introspect", &[("token", "nonsense")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unknown, json!({"active": false}));
    // A public client may not introspect.
    let public = reqwest::Client::new()
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", access), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::UNAUTHORIZED);
    let body: Value = public.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    // Revocation: an unknown token, or another client's, is 200 and changes nothing.
    let other = as_rp(&app, "/oauth2/revoke", &[("token", "nonsense")]).await;
    assert_eq!(other.status(), StatusCode::OK);
    let spa_tokens = offline_tokens(&app, &bea).await;
    let spa_access = spa_tokens["access_token"].as_str().unwrap();
    let other = as_rp(&app, "/oauth2/revoke", &[("token", spa_access)]).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(
        userinfo(&app.base, spa_access).await.status(),
        StatusCode::OK
    );
    // Not this client's: inactive to it.
    let theirs: Value = as_rp(&app, "/oauth2/introspect", &[("token", spa_access)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!({"active": false}));
    // Revoking a refresh token revokes its family.
    let revoked = as_rp(&app, "/oauth2/revoke", &[("token", refresh_token)]).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    for token in [access, refresh_token] {
        let dead: Value = as_rp(&app, "/oauth2/introspect", &[("token", token)])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(dead, json!({"active": false}));
    }
    // A public client revokes its own access token alone.
    revoke(&app, spa_access, "access_token").await;
    assert_eq!(
        userinfo(&app.base, spa_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = refresh(&app.base, spa_tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    let discovery: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["revocation_endpoint"],
        app.url("/oauth2/revoke").as_str()
    );
    assert_eq!(
        discovery["introspection_endpoint"],
        app.url("/oauth2/introspect").as_str()
    );
}

/// A relying party nobody here wrote (the `openidconnect` crate) refreshes, and validates the
/// refreshed ID token against the JWKS.
async fn an_rp_library_refreshes_and_validates_the_new_id_token(backend: Backend) {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };
    let (app, _secrets) = provider(backend).await;
    app.signed_in("kim@example.com").await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("rp".to_owned()),
        Some(ClientSecret::new(SECRET.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("offline_access".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let person = Person {
        email: "kim@example.com",
        secret: None,
    };
    let ended = Browser::new().follow(&app, url.as_str(), &person).await;
    let tokens = rp
        .exchange_code(AuthorizationCode::new(ended.param("code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let first = tokens
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), &nonce)
        .unwrap()
        .clone();
    let refresh_token = tokens.refresh_token().unwrap();
    app.clock.advance(120);
    let refreshed = rp
        .exchange_refresh_token(refresh_token)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        refresh_token.secret()
    );
    let no_nonce = |nonce: Option<&Nonce>| match nonce {
        None => Ok(()),
        Some(_) => Err("a refreshed ID token carries no nonce".to_owned()),
    };
    let claims = refreshed
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), no_nonce)
        .unwrap();
    assert_eq!(claims.auth_time(), first.auth_time());
    assert_eq!(claims.subject(), first.subject());
    assert!(claims.issue_time() > first.issue_time());
    // The spent one again: invalid_grant.
    let again = rp
        .exchange_refresh_token(refresh_token)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(again.is_err());
}

backend_tests!(
    an_rp_library_refreshes_and_validates_the_new_id_token,
    refresh_tokens_rotate_and_a_reused_one_revokes_its_family,
    introspection_and_revocation,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_racing_one_refresh_token_give_one_token_response() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let (a, b, _secrets) = two_providers(backend).await;
    let gus = a.signed_in("gus@example.com").await;
    for _ in 0..5 {
        let tokens = offline_tokens(&a, &gus).await;
        let presented = tokens["refresh_token"].as_str().unwrap();
        let (first, second) =
            tokio::join!(refresh(&a.base, presented), refresh(&b.base, presented));
        let answers = [first.0, second.0];
        let granted = answers.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(granted, 1, "{first:?} {second:?}");
        assert!(answers.contains(&StatusCode::BAD_REQUEST));
        // The loser presented a spent token: the family, the winner's tokens included, ends.
        let winner = if first.0 == StatusCode::OK {
            &first.1
        } else {
            &second.1
        };
        assert_ended(&a, winner).await;
    }
}
