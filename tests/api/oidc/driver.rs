//! What the OpenID Connect tests share: the clients of `[[oidc.clients]]`, a browser that
//! follows an authorization through the sign-in, challenge and consent pages, and the
//! token and userinfo requests a relying party makes.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use deadbolt::config::{FileConfig, FileOidc, FileOidcClient};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest;
use url::Url;

use crate::helpers::{respawn_with, spawn_app_at_own_url, Backend, TestApp, PASSWORD};

/// Where every test client's codes go (nothing listens: the flow stops at the redirect).
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
/// Where RP-initiated logout may return to, for `spa`.
pub const LOGGED_OUT: &str = "http://127.0.0.1:9/logged-out";
/// The confidential client's secret, as its `client_secret_file` holds it.
pub const SECRET: &str = "a-confidential-client-secret-of-enough-length";

pub fn client(id: &str) -> FileOidcClient {
    FileOidcClient {
        client_id: Some(id.to_owned()),
        name: Some(format!("App {id}")),
        redirect_uris: Some(vec![REDIRECT.to_owned()]),
        ..FileOidcClient::default()
    }
}

/// `[[oidc.clients]]`: `rp` (confidential, asks consent), `spa` (public, trusted) and
/// `strict` (public, trusted, requires two-factor).
pub fn configure_clients(file: &mut FileConfig, secret_file: &Path) {
    std::fs::write(secret_file, format!("{SECRET}\n")).unwrap();
    file.oidc = Some(FileOidc {
        clients: Some(vec![
            FileOidcClient {
                client_secret_file: Some(secret_file.to_owned()),
                ..client("rp")
            },
            FileOidcClient {
                public: Some(true),
                trusted: Some(true),
                post_logout_redirect_uris: Some(vec![LOGGED_OUT.to_owned()]),
                ..client("spa")
            },
            FileOidcClient {
                public: Some(true),
                trusted: Some(true),
                require_two_factor: Some(true),
                ..client("strict")
            },
        ]),
    });
}

pub async fn provider(backend: Backend) -> (TestApp, tempfile::TempDir) {
    let secrets = tempfile::tempdir().unwrap();
    let path = secrets.path().join("rp.secret");
    let app = spawn_app_at_own_url(backend, |file| configure_clients(file, &path)).await;
    (app, secrets)
}

/// A provider ([`provider`]) and a second node on its database, with the same clients and
/// public URL.
pub async fn two_providers(backend: Backend) -> (TestApp, TestApp, tempfile::TempDir) {
    let (a, secrets) = provider(backend).await;
    let path = secrets.path().join("rp.secret");
    let base = a.base.clone();
    let b = respawn_with(&a, |file| {
        configure_clients(file, &path);
        file.public_url = Some(base);
    })
    .await;
    (a, b, secrets)
}

/// A browser: its own cookie jar, redirects followed by hand.
pub struct Browser {
    pub http: reqwest::Client,
    /// Answer the consent page with "Deny".
    pub decline: bool,
}

/// Who signs in, and their authenticator.
pub struct Person<'a> {
    pub email: &'a str,
    pub secret: Option<&'a str>,
}

/// Where a flow ended.
#[derive(Debug)]
pub struct Ended {
    /// The redirect to the client, or a page of ours it stopped at.
    pub at: Url,
    /// Whether the sign-in page was passed through.
    pub signed_in: bool,
    /// The `Content-Security-Policy` of each form page on the way.
    pub policies: Vec<String>,
}

impl Ended {
    pub fn param(&self, name: &str) -> Option<String> {
        self.at
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

pub fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find(';').unwrap();
        let entity = &rest[start + 1..end];
        let decoded = match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            _ => match entity.strip_prefix("#x") {
                Some(hex) => char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap(),
                None => char::from_u32(entity[1..].parse().unwrap()).unwrap(),
            },
        };
        out.push(decoded);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The value of the first hidden field `name` in `html`.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    unescape(&html[start..end])
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            decline: false,
        }
    }

    /// Opens `url` and goes where it leads, signing in as `person` on the way (password,
    /// then the code of their authenticator) and consenting, until it leaves for the client
    /// or stops at a page of ours that is none of those.
    pub async fn follow(&self, app: &TestApp, url: &str, person: &Person<'_>) -> Ended {
        let mut at = Url::parse(url).unwrap();
        let mut signed_in = false;
        let mut policies = Vec::new();
        for _ in 0..20 {
            if !at.as_str().starts_with(&app.base) {
                break;
            }
            let response = self.http.get(at.clone()).send().await.unwrap();
            let response = if response.status().is_redirection() {
                response
            } else {
                assert_eq!(response.status(), StatusCode::OK, "{at}");
                let policy = response.headers()["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let html = response.text().await.unwrap();
                let (path, fields) = match at.path() {
                    "/login" => {
                        signed_in = true;
                        let fields: Vec<(&str, String)> = vec![
                            ("csrf", field(&html, "csrf")),
                            ("next", field(&html, "next")),
                            ("email", person.email.to_owned()),
                            ("password", PASSWORD.to_owned()),
                        ];
                        ("/login", fields)
                    }
                    "/login/two-factor" => {
                        let secret = person.secret.expect("an authenticator");
                        let fields: Vec<(&str, String)> = vec![
                            ("csrf", field(&html, "csrf")),
                            ("next", field(&html, "next")),
                            ("code", app.code(secret)),
                        ];
                        ("/login/two-factor", fields)
                    }
                    "/oauth2/authorize" if html.contains("id=\"consent\"") => {
                        let fields: Vec<(&str, String)> = vec![
                            ("csrf", field(&html, "csrf")),
                            ("request", field(&html, "request")),
                            (
                                "decision",
                                if self.decline { "deny" } else { "approve" }.to_owned(),
                            ),
                        ];
                        ("/oauth2/authorize/consent", fields)
                    }
                    _ => {
                        return Ended {
                            at,
                            signed_in,
                            policies,
                        }
                    }
                };
                policies.push(policy);
                self.http
                    .post(app.url(path))
                    .form(&fields)
                    .send()
                    .await
                    .unwrap()
            };
            assert!(response.status().is_redirection(), "{at}");
            let location = response.headers()["location"].to_str().unwrap();
            at = at.join(location).unwrap();
        }
        Ended {
            at,
            signed_in,
            policies,
        }
    }
}

/// An authorization request for `client_id` with PKCE (`verifier` is what the exchange
/// must send) and `extra` parameters.
pub fn authorize_url(
    app: &TestApp,
    client_id: &str,
    verifier: &str,
    extra: &[(&str, &str)],
) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = Url::parse(&app.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email profile")
        .append_pair("state", "st4te")
        .append_pair("nonce", "n0nce")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (key, value) in extra {
        url.query_pairs_mut().append_pair(key, value);
    }
    url.to_string()
}

pub const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

/// `POST /oauth2/token` for a public client's code.
pub async fn exchange(base: &str, code: &str, verifier: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", "spa"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The claims of a JWT, unverified (the RP test verifies signatures).
pub fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub async fn userinfo(base: &str, access_token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}
