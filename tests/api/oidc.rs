//! The OpenID Connect provider (SPEC §12) against a relying party nobody here wrote (the
//! `openidconnect` crate: discovery, the code flow with PKCE, ID-token validation against
//! the JWKS, userinfo), with the browser's part driven over plain HTTP through the real
//! sign-in, challenge and consent pages; then each refusal, and two nodes racing one code.

mod backchannel;
mod batched;
mod consents;
mod driver;
mod ending;
mod logout;
mod remembered;
mod rotation;
mod tokens;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

use crate::helpers::{Backend, TestApp, START};
use driver::{
    authorize_url, claims_of, configure_clients, exchange, provider, two_providers, userinfo,
    Browser, Person, REDIRECT, SECRET, VERIFIER,
};

async fn code_flow_with_pkce_verifies_against_the_jwks(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let ada = app.enrolled("ada@example.com").await;
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
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new();
    let person = Person {
        email: &ada.email,
        secret: Some(&ada.secret),
    };
    let ended = browser.follow(&app, url.as_str(), &person).await;
    assert!(ended.at.as_str().starts_with(REDIRECT), "{:?}", ended);
    assert!(ended.signed_in);
    assert_eq!(
        ended.param("state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(ended.param("iss").as_deref(), Some(app.base.as_str()));
    // The sign-in, challenge and consent forms may lead to the client's origin, and only
    // there (CSP form-action: the redirects after them end at it).
    assert_eq!(ended.policies.len(), 3, "{:?}", ended.policies);
    for policy in &ended.policies {
        assert!(
            policy.contains("form-action 'self' http://127.0.0.1:9;"),
            "{policy}"
        );
    }
    let code = ended.param("code").unwrap();

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    let claims = id_token.claims(&rp.id_token_verifier(), &nonce).unwrap();
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert_eq!(claims.auth_context_ref().unwrap().as_str(), "mfa");
    assert_eq!(claims.email().unwrap().as_str(), "ada@example.com");
    assert_eq!(claims.email_verified(), Some(false));
    assert!(claims.auth_time().is_some());
    assert_eq!(
        *id_token.signing_alg().unwrap(),
        openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );

    let info: openidconnect::core::CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().to_owned(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.email().unwrap().as_str(), "ada@example.com");

    // The code again: invalid_grant, and the access token it gave is revoked.
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    let again = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await;
    match again {
        Err(RequestTokenError::ServerResponse(error)) => {
            assert_eq!(*error.error(), CoreErrorResponseType::InvalidGrant)
        }
        other => panic!("{other:?}"),
    }
    let revoked = userinfo(&app.base, tokens.access_token().secret()).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);

    // Consent was remembered: a second authorization asks nothing.
    app.clock.advance(30);
    let (url, _, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let ended = browser.follow(&app, url.as_str(), &person).await;
    assert!(ended.param("code").is_some(), "{ended:?}");
    assert!(!ended.signed_in && ended.policies.is_empty(), "{ended:?}");

    let kinds = app.event_kinds(&ada.token).await;
    for kind in [
        "oidc_consent_granted",
        "oidc_authorized",
        "oidc_tokens_issued",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
}

async fn a_wrong_verifier_and_a_reused_code_are_invalid_grant(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    app.signed_in("bob@example.com").await;
    let browser = Browser::new();
    let bob = Person {
        email: "bob@example.com",
        secret: None,
    };
    let ended = browser
        .follow(&app, &authorize_url(&app, "spa", VERIFIER, &[]), &bob)
        .await;
    let code = ended.param("code").unwrap();
    let wrong = "another-verifier-of-at-least-forty-three-characters-000";
    let (status, body) = exchange(&app.base, &code, wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // A code presented with a wrong verifier is spent: the right one is too late.
    let (status, body) = exchange(&app.base, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let ended = browser
        .follow(&app, &authorize_url(&app, "spa", VERIFIER, &[]), &bob)
        .await;
    let code = ended.param("code").unwrap();
    let (status, tokens) = exchange(&app.base, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "pwd");
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["aud"], "spa");
    let access_token = tokens["access_token"].as_str().unwrap();
    let info = userinfo(&app.base, access_token).await;
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["email"], "bob@example.com");
    assert_eq!(info["sub"], claims["sub"]);

    let (status, body) = exchange(&app.base, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let revoked = userinfo(&app.base, access_token).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert!(revoked.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // A code lives 60 seconds.
    let ended = browser
        .follow(&app, &authorize_url(&app, "spa", VERIFIER, &[]), &bob)
        .await;
    app.clock.advance(61);
    let (status, body) = exchange(&app.base, &ended.param("code").unwrap(), VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A confidential client with a wrong secret: invalid_client, 401.
    let response = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .basic_auth("rp", Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

async fn a_non_member_of_a_workspace_client_is_access_denied(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let workspace = app.create_workspace(&admin, "Ops").await;
    let created = app
        .post(
            "/api/v1/admin/oidc/clients",
            Some(&admin),
            json!({
                "client_id": "ops-wiki",
                "name": "Ops wiki",
                "redirect_uris": [REDIRECT],
                "public": true,
                "trusted": true,
                "workspace": workspace,
            }),
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.body["client_secret"], Value::Null);
    let confidential = app
        .post(
            "/api/v1/admin/oidc/clients",
            Some(&admin),
            json!({"client_id": "other", "redirect_uris": [REDIRECT]}),
        )
        .await;
    confidential.assert_status(201);
    assert!(confidential.body["client_secret"].as_str().unwrap().len() >= 43);
    app.post(
        "/api/v1/admin/oidc/clients",
        Some(&admin),
        json!({"client_id": "other", "redirect_uris": [REDIRECT]}),
    )
    .await
    .assert_error(409, "client_exists");
    let listed = app.get("/api/v1/admin/oidc/clients", Some(&admin)).await;
    let ids: Vec<&str> = listed.body["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ops-wiki", "other", "rp", "spa", "strict"]);
    app.delete("/api/v1/admin/oidc/clients/rp", Some(&admin))
        .await
        .assert_error(409, "configured_client");
    app.delete("/api/v1/admin/oidc/clients/other", Some(&admin))
        .await
        .assert_status(204);

    app.signed_in("eve@example.com").await;
    let eve = Person {
        email: "eve@example.com",
        secret: None,
    };
    let ended = Browser::new()
        .follow(&app, &authorize_url(&app, "ops-wiki", VERIFIER, &[]), &eve)
        .await;
    assert!(ended.at.as_str().starts_with(REDIRECT), "{ended:?}");
    assert_eq!(ended.param("error").as_deref(), Some("access_denied"));
    assert_eq!(ended.param("state").as_deref(), Some("st4te"));
    assert_eq!(ended.param("code"), None);

    // The owner passes, and the ID token says their role.
    let root = Person {
        email: "root@example.com",
        secret: None,
    };
    let ended = Browser::new()
        .follow(&app, &authorize_url(&app, "ops-wiki", VERIFIER, &[]), &root)
        .await;
    let code = ended.param("code").unwrap();
    let response = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "ops-wiki"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["workspace_role"], "owner");
    assert_eq!(claims["deadbolt_access"], "ok");
}

async fn a_client_requiring_two_factor_sends_a_person_without_it_to_set_it_up(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    app.signed_in("cy@example.com").await;
    let cy = Person {
        email: "cy@example.com",
        secret: None,
    };
    let ended = Browser::new()
        .follow(&app, &authorize_url(&app, "strict", VERIFIER, &[]), &cy)
        .await;
    assert_eq!(ended.at.path(), "/account/security", "{ended:?}");
    assert_eq!(ended.param("code"), None);
    // acr_values=mfa asks the same of any client.
    let ended = Browser::new()
        .follow(
            &app,
            &authorize_url(&app, "spa", VERIFIER, &[("acr_values", "mfa")]),
            &cy,
        )
        .await;
    assert_eq!(ended.at.path(), "/account/security", "{ended:?}");
}

async fn max_age_zero_forces_a_new_sign_in_and_auth_time(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    app.signed_in("dee@example.com").await;
    let dee = Person {
        email: "dee@example.com",
        secret: None,
    };
    let browser = Browser::new();
    let first = browser
        .follow(&app, &authorize_url(&app, "spa", VERIFIER, &[]), &dee)
        .await;
    assert!(first.signed_in);
    let (_, tokens) = exchange(&app.base, &first.param("code").unwrap(), VERIFIER).await;
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["auth_time"],
        START.0
    );

    app.clock.advance(100);
    let again = browser
        .follow(&app, &authorize_url(&app, "spa", VERIFIER, &[]), &dee)
        .await;
    assert!(!again.signed_in, "the session serves without max_age");
    let (_, tokens) = exchange(&app.base, &again.param("code").unwrap(), VERIFIER).await;
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["auth_time"],
        START.0
    );

    let fresh = browser
        .follow(
            &app,
            &authorize_url(&app, "spa", VERIFIER, &[("max_age", "0")]),
            &dee,
        )
        .await;
    assert!(fresh.signed_in, "{fresh:?}");
    let (_, tokens) = exchange(&app.base, &fresh.param("code").unwrap(), VERIFIER).await;
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["auth_time"],
        START.0 + 100
    );

    // prompt=none with a sign-in due answers login_required at the client.
    let silent = Browser::new()
        .follow(
            &app,
            &authorize_url(&app, "spa", VERIFIER, &[("prompt", "none")]),
            &dee,
        )
        .await;
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));
}

async fn a_bad_client_or_redirect_uri_gets_an_error_page_not_a_redirect(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let good = authorize_url(&app, "spa", VERIFIER, &[]);
    for bad in [
        good.replace("redirect_uri=http", "redirect_uri=https"),
        good.replace("client_id=spa", "client_id=nobody"),
        good.replace("%2Fcallback", "%2Fcallback%2F"),
    ] {
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains("did not register"));
    }
    // Other errors go back to the client, with its state.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(good.replace("scope=openid+email", "scope=email"))
        .send()
        .await
        .unwrap();
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    let error = location
        .query_pairs()
        .find(|(k, _)| k == "error")
        .unwrap()
        .1;
    assert_eq!(error, "invalid_scope");
    // A public client without PKCE.
    let without = good
        .split('&')
        .filter(|p| !p.starts_with("code_challenge"))
        .collect::<Vec<_>>()
        .join("&");
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&without)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=invalid_request"), "{location}");
}

async fn workspace_grace_passes_and_says_so_until_the_deadline(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let root = app.admin_signed_in("root@example.com").await;
    let secret = app.enroll(&root).await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.confirm(&root, &app.code(&secret))
        .await
        .assert_status(200);
    let workspace = app.create_workspace(&root, "Ops").await;
    let gus = app.signed_in("gus@example.com").await;
    app.invite_and_accept(&workspace, &root, "gus@example.com", "member", &gus)
        .await
        .assert_status(200);
    app.enforce(&workspace, &root, "all", 7)
        .await
        .assert_status(200);
    app.post(
        "/api/v1/admin/oidc/clients",
        Some(&root),
        json!({
            "client_id": "ops-wiki",
            "redirect_uris": [REDIRECT],
            "public": true,
            "trusted": true,
            "workspace": workspace,
        }),
    )
    .await
    .assert_status(201);
    let person = Person {
        email: "gus@example.com",
        secret: None,
    };
    let browser = Browser::new();
    let ended = browser
        .follow(
            &app,
            &authorize_url(&app, "ops-wiki", VERIFIER, &[]),
            &person,
        )
        .await;
    let code = ended.param("code").expect("grace passes");
    let response = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "ops-wiki"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = response.json().await.unwrap();
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["workspace_role"], "member");
    assert_eq!(claims["deadbolt_access"], "grace");
    assert_eq!(claims["deadbolt_deadline"], START.0 + 7 * 86_400);
    assert_eq!(claims["acr"], "pwd");

    // Past the deadline, they set up two-factor first.
    app.clock.advance(8 * 86_400);
    let ended = browser
        .follow(
            &app,
            &authorize_url(&app, "ops-wiki", VERIFIER, &[]),
            &person,
        )
        .await;
    assert_eq!(ended.at.path(), "/account/security", "{ended:?}");
}

async fn declining_consent_is_access_denied(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    app.signed_in("hal@example.com").await;
    let hal = Person {
        email: "hal@example.com",
        secret: None,
    };
    let mut browser = Browser::new();
    browser.decline = true;
    let ended = browser
        .follow(&app, &authorize_url(&app, "rp", VERIFIER, &[]), &hal)
        .await;
    assert!(ended.at.as_str().starts_with(REDIRECT), "{ended:?}");
    assert_eq!(ended.param("error").as_deref(), Some("access_denied"));
    // Nothing was remembered: prompt=none still needs consent.
    let silent = browser
        .follow(
            &app,
            &authorize_url(&app, "rp", VERIFIER, &[("prompt", "none")]),
            &hal,
        )
        .await;
    assert_eq!(silent.param("error").as_deref(), Some("consent_required"));
}

/// A code for the public client `spa`, asked with the session `token` as a bearer (a
/// session is the same whether its token rides in a cookie or a header).
pub(crate) async fn code_for_session(app: &TestApp, token: &str) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize_url(app, "spa", VERIFIER, &[]))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    code.into_owned()
}

async fn an_email_sign_in_says_email_in_amr(backend: Backend) {
    use crate::email::{link_token, nth_mail, passwordless, with_smtp, SIGN_IN};
    let smtp = crate::receivers::SmtpReceiver::start(0).await;
    let secrets = tempfile::tempdir().unwrap();
    let path = secrets.path().join("rp.secret");
    let app = crate::helpers::spawn_app_with(backend, |file| {
        with_smtp(file, &smtp);
        configure_clients(file, &path);
    })
    .await;
    let token = passwordless(&app, &smtp, "ivy@example.com").await;
    let code = code_for_session(&app, &token).await;
    let (status, tokens) = exchange(&app.base, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["email"]));
    assert_eq!(claims["acr"], "pwd");
    assert_eq!(claims["email_verified"], true);

    // With two-factor, the e-mailed link and the challenge: both factors.
    let secret = app.enroll(&token).await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.confirm(&token, &app.code(&secret))
        .await
        .assert_status(200);
    app.post(
        "/api/v1/sessions/email",
        None,
        json!({"email": "ivy@example.com"}),
    )
    .await
    .assert_status(202);
    let link = link_token(
        &nth_mail(&smtp, "ivy@example.com", SIGN_IN, 2).await,
        "/login/email/",
    );
    let step = app
        .post(
            "/api/v1/sessions/email/verify",
            None,
            json!({"token": link}),
        )
        .await;
    assert_eq!(step.body["status"], "two_factor_required", "{}", step.text);
    app.clock.advance(30);
    let challenge = step.body["challenge"]["token"].as_str().unwrap();
    let signed_in = app.answer_code(challenge, &app.code(&secret)).await;
    signed_in.assert_status(201);
    let code = code_for_session(&app, signed_in.body["token"].as_str().unwrap()).await;
    let (_, tokens) = exchange(&app.base, &code, VERIFIER).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["email", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
}

async fn a_client_may_ask_for_eddsa_id_tokens(backend: Backend) {
    let (app, _secrets) = provider(backend).await;
    let admin = app.admin_signed_in("root@example.com").await;
    let created = app
        .post(
            "/api/v1/admin/oidc/clients",
            Some(&admin),
            json!({
                "client_id": "edwards",
                "redirect_uris": [REDIRECT],
                "public": true,
                "trusted": true,
                "id_token_signed_response_alg": "EdDSA",
            }),
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.body["id_token_signed_response_alg"], "EdDSA");
    app.post(
        "/api/v1/admin/oidc/clients",
        Some(&admin),
        json!({"client_id": "x", "redirect_uris": [REDIRECT], "id_token_signed_response_alg": "none"}),
    )
    .await
    .assert_error(422, "invalid_client_metadata");

    let root = Person {
        email: "root@example.com",
        secret: None,
    };
    let ended = Browser::new()
        .follow(&app, &authorize_url(&app, "edwards", VERIFIER, &[]), &root)
        .await;
    let response = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", ended.param("code").unwrap().as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "edwards"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = response.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(app.url("/oauth2/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks.keys.len(), 2);
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["edwards"]);
    validation.set_issuer(&[app.base.as_str()]);
    validation.validate_exp = false;
    let verified = jsonwebtoken::decode::<Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(verified.claims["nonce"], "n0nce");
}

backend_tests!(
    a_client_may_ask_for_eddsa_id_tokens,
    an_email_sign_in_says_email_in_amr,
    workspace_grace_passes_and_says_so_until_the_deadline,
    declining_consent_is_access_denied,
    code_flow_with_pkce_verifies_against_the_jwks,
    a_wrong_verifier_and_a_reused_code_are_invalid_grant,
    a_non_member_of_a_workspace_client_is_access_denied,
    a_client_requiring_two_factor_sends_a_person_without_it_to_set_it_up,
    max_age_zero_forces_a_new_sign_in_and_auth_time,
    a_bad_client_or_redirect_uri_gets_an_error_page_not_a_redirect,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_racing_one_code_give_one_token_response() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let (a, b, _secrets) = two_providers(backend).await;
    a.signed_in("fay@example.com").await;
    let fay = Person {
        email: "fay@example.com",
        secret: None,
    };
    let browser = Browser::new();
    for _ in 0..5 {
        let ended = browser
            .follow(&a, &authorize_url(&a, "spa", VERIFIER, &[]), &fay)
            .await;
        let code = ended.param("code").unwrap();
        let (first, second) = tokio::join!(
            exchange(&a.base, &code, VERIFIER),
            exchange(&b.base, &code, VERIFIER)
        );
        let answers = [first.0, second.0];
        let granted = answers.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(granted, 1, "{first:?} {second:?}");
        assert!(answers.contains(&StatusCode::BAD_REQUEST));
        // The loser presented a spent code: whichever committed first, the winner's access
        // token does not outlive it.
        let tokens = if first.0 == StatusCode::OK {
            &first.1
        } else {
            &second.1
        };
        let access_token = tokens["access_token"].as_str().unwrap();
        let revoked = userinfo(&a.base, access_token).await;
        assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    }
}

#[test]
fn the_cli_adds_lists_and_removes_clients() {
    use crate::cli::deadbolt;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = deadbolt(dir.path()).args(args).output().unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        (output.status.success(), stdout, stderr)
    };
    let (ok, stdout, stderr) = run(&[
        "oidc",
        "client",
        "add",
        "grafana",
        "--name",
        "Grafana",
        "--redirect-uri",
        "https://grafana.example.com/login/generic_oauth",
    ]);
    assert!(ok, "{stderr}");
    let secret = stdout
        .lines()
        .find_map(|line| line.strip_prefix("client_secret (shown once, store it now): "))
        .unwrap();
    assert!(secret.len() >= 43, "{stdout}");
    let (ok, stdout, _) = run(&[
        "oidc",
        "client",
        "add",
        "cli-app",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:8400/callback",
    ]);
    assert!(ok && stdout.contains("PKCE"), "{stdout}");
    let (ok, _, stderr) = run(&["oidc", "client", "add", "bad id", "--redirect-uri", "x"]);
    assert!(!ok && stderr.contains("client_id"), "{stderr}");
    let (_, listed, _) = run(&["oidc", "client", "list"]);
    let ids: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids, ["cli-app", "grafana"]);
    assert!(listed.contains("confidential\tadmin"), "{listed}");
    let (ok, _, stderr) = run(&["oidc", "client", "remove", "grafana"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&["oidc", "client", "remove", "grafana"]);
    assert!(!ok && stderr.contains("grafana"), "{stderr}");
    let (_, listed, _) = run(&["oidc", "client", "list"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
}
