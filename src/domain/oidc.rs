//! The OpenID Connect provider's pure rules (SPEC §12): scopes, `prompt`, PKCE (RFC 7636),
//! exact redirect matching, how a session's sign-in becomes `amr` (RFC 8176) and `acr`, what
//! an authorization request leads to, and the claims of an ID token and of userinfo. No
//! I/O; every time is passed in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::time::UnixTime;
use super::workspace::Access;

/// An authorization code lives this long (SPEC §12).
pub const CODE_TTL_SECONDS: i64 = 60;
/// An access token lives this long (SPEC §12).
pub const ACCESS_TOKEN_TTL_SECONDS: i64 = 600;
/// An ID token is valid this long after it is issued.
pub const ID_TOKEN_TTL_SECONDS: i64 = 600;
/// RFC 7636 §4.1: a code verifier has 43 to 128 characters.
pub const RFC7636_VERIFIER_LENGTH: std::ops::RangeInclusive<usize> = 43..=128;
/// The only PKCE method accepted (RFC 7636 §4.2; `plain` is refused).
pub const PKCE_METHOD_S256: &str = "S256";
/// Longest client id accepted.
pub const MAX_CLIENT_ID_CHARS: usize = 100;

/// A signing algorithm the provider offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4): the default.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl SigningAlgorithm {
    /// Every algorithm offered, the default first (`id_token_signing_alg_values_supported`).
    pub const ALL: [SigningAlgorithm; 2] = [SigningAlgorithm::ES256, SigningAlgorithm::EdDSA];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::EdDSA => "EdDSA",
        }
    }

    /// From its JOSE name.
    pub fn parse(text: &str) -> Option<SigningAlgorithm> {
        SigningAlgorithm::ALL
            .into_iter()
            .find(|alg| alg.as_str() == text)
    }
}

/// The scopes the provider knows (SPEC §12); others asked for are ignored, as OpenID Connect
/// Core §3.1.2.1 allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes {
    /// `openid`: required.
    pub openid: bool,
    /// `email`: the `email` and `email_verified` claims.
    pub email: bool,
    /// `profile`: the `name` claim.
    pub profile: bool,
    /// `offline_access`: a refresh token (not issued yet).
    pub offline_access: bool,
}

impl Scopes {
    /// The scopes in a space-separated `scope` parameter.
    pub fn parse(text: &str) -> Scopes {
        let mut scopes = Scopes::default();
        for scope in text.split(' ').filter(|s| !s.is_empty()) {
            match scope {
                "openid" => scopes.openid = true,
                "email" => scopes.email = true,
                "profile" => scopes.profile = true,
                "offline_access" => scopes.offline_access = true,
                _ => {}
            }
        }
        scopes
    }

    /// The known scopes granted, space-separated in a fixed order.
    pub fn as_string(self) -> String {
        [
            (self.openid, "openid"),
            (self.email, "email"),
            (self.profile, "profile"),
            (self.offline_access, "offline_access"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// Whether every scope of `self` is in `granted`.
    pub fn within(self, granted: Scopes) -> bool {
        (!self.openid || granted.openid)
            && (!self.email || granted.email)
            && (!self.profile || granted.profile)
            && (!self.offline_access || granted.offline_access)
    }
}

/// `prompt` (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: never show a page; answer an error instead.
    pub none: bool,
    /// `login`: sign in again.
    pub login: bool,
    /// `consent`: ask consent again.
    pub consent: bool,
}

impl Prompt {
    /// Parses `prompt`; `None` when it holds an unknown value or `none` with another.
    pub fn parse(text: Option<&str>) -> Option<Prompt> {
        let mut prompt = Prompt::default();
        for value in text.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                // `select_account` is not offered: one browser holds one session.
                _ => return None,
            }
        }
        (!(prompt.none && (prompt.login || prompt.consent))).then_some(prompt)
    }
}

/// The RFC 7636 S256 challenge of `verifier`: BASE64URL(SHA256(verifier)).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `text` is a well-formed code verifier or challenge (RFC 7636 §4.1: 43–128
/// characters of `[A-Za-z0-9-._~]`).
pub fn is_pkce_value(text: &str) -> bool {
    RFC7636_VERIFIER_LENGTH.contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` answers `challenge` by S256 (RFC 7636 §4.6).
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    if !is_pkce_value(verifier) {
        return false;
    }
    let computed = s256_challenge(verifier);
    // Security: constant time, though the challenge is not secret; no shortcut to learn.
    computed.len() == challenge.len() && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// Whether `asked` is one of the `registered` redirect URIs: exactly, character for
/// character (OAuth 2.0 Security BCP §4.1.3), never by prefix or pattern.
pub fn redirect_registered(registered: &[String], asked: &str) -> bool {
    registered.iter().any(|uri| uri == asked)
}

/// Whether `text` may be registered as a redirect URI: an absolute http(s) URL with a host
/// and no fragment (RFC 6749 §3.1.2).
pub fn valid_redirect_uri(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
    })
}

/// Whether `id` may name a client: 1 to [`MAX_CLIENT_ID_CHARS`] of `[A-Za-z0-9._-]`.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Domain separation for the keyed hash of a client secret.
const CLIENT_SECRET_CONTEXT: &[u8] = b"deadbolt oidc client secret v1";

/// The keyed hash (HMAC-SHA256 under the instance key) under which a client secret is kept:
/// a leaked database alone gives no way to test guesses at a secret chosen by a person.
pub fn client_secret_hash(key: &[u8; 32], secret: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => return Vec::new(),
    };
    mac.update(CLIENT_SECRET_CONTEXT);
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Whether `secret` is the one kept as `stored`. Security: compared in constant time.
pub fn client_secret_matches(key: &[u8; 32], stored: &[u8], secret: &str) -> bool {
    let computed = client_secret_hash(key, secret);
    !computed.is_empty() && computed.len() == stored.len() && bool::from(computed.ct_eq(stored))
}

/// Shortest client secret accepted from a file, in characters.
pub const MIN_CLIENT_SECRET_CHARS: usize = 32;

/// How a session was signed in: its RFC 8176 method values as recorded (`pwd`, `email`,
/// `otp`), and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRecord {
    /// The methods, in order.
    pub methods: Vec<String>,
    /// When the person signed in (OpenID Connect `auth_time`).
    pub auth_time: UnixTime,
}

impl SignInRecord {
    /// From the space-separated methods a session records. A session from before methods
    /// were recorded has none, and counts as one factor.
    pub fn parse(methods: &str, auth_time: UnixTime) -> SignInRecord {
        SignInRecord {
            methods: methods
                .split(' ')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            auth_time,
        }
    }

    /// Whether two factors were given.
    pub fn two_factors(&self) -> bool {
        self.methods.len() >= 2
    }

    /// The `amr` claim (RFC 8176): the methods, and `mfa` when there were two factors.
    pub fn amr(&self) -> Vec<String> {
        let mut amr = self.methods.clone();
        if self.two_factors() {
            amr.push("mfa".to_owned());
        }
        amr
    }

    /// The `acr` claim: `mfa` after two factors, `pwd` otherwise (SPEC §12).
    pub fn acr(&self) -> &'static str {
        if self.two_factors() {
            "mfa"
        } else {
            "pwd"
        }
    }

    /// The methods as a session records them.
    pub fn methods_text(&self) -> String {
        self.methods.join(" ")
    }
}

/// What an authorization request meets, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationFacts<'a> {
    /// The browser's session's sign-in, when it has a session.
    pub signed_in: Option<&'a SignInRecord>,
    /// Whether the account has two-factor enabled.
    pub has_two_factor: bool,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age`, in seconds.
    pub max_age: Option<i64>,
    /// `acr_values` holds `mfa`.
    pub wants_mfa: bool,
    /// The client's `require_two_factor`.
    pub client_requires_two_factor: bool,
    /// For a workspace client: `None` when the person is not a member, else their access
    /// under the workspace's enforcement. `Some(Some(_))`: a workspace client.
    pub workspace: Option<Option<Access>>,
    /// The client is trusted (no consent asked).
    pub trusted: bool,
    /// The person consented to this client before, for every scope asked.
    pub consented: bool,
    /// Now.
    pub now: UnixTime,
}

/// What an authorization request leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationStep {
    /// Sign in (again): the sign-in pages, then back.
    SignIn,
    /// The person must set up two-factor first (`/account/security`).
    SetUpTwoFactor,
    /// Refused: `error=access_denied` to the client.
    AccessDenied,
    /// `prompt=none` but a sign-in is due: `error=login_required`.
    LoginRequired,
    /// `prompt=none` but consent is due: `error=consent_required`.
    ConsentRequired,
    /// `prompt=none` but a second factor is due: `error=interaction_required`.
    InteractionRequired,
    /// Ask the person's consent.
    AskConsent,
    /// Issue a code, with the access the person has.
    Grant(Access),
}

/// Decides an authorization request (SPEC §12), in order: a sign-in (none, `prompt=login`,
/// `max_age` exceeded); membership of a workspace client; two-factor (the client's
/// `require_two_factor`, `acr_values=mfa`, or a workspace requirement past its deadline:
/// without two-factor the person sets it up, in grace they pass; with two-factor, a session
/// of one factor signs in again through the challenge); consent.
pub fn decide_authorization(facts: &AuthorizationFacts<'_>) -> AuthorizationStep {
    let interactive = |step: AuthorizationStep, silent: AuthorizationStep| {
        if facts.prompt.none {
            silent
        } else {
            step
        }
    };
    let Some(signed_in) = facts.signed_in else {
        return interactive(AuthorizationStep::SignIn, AuthorizationStep::LoginRequired);
    };
    let too_old = facts
        .max_age
        .is_some_and(|max_age| facts.now.0 - signed_in.auth_time.0 > max_age);
    if facts.prompt.login || too_old {
        return interactive(AuthorizationStep::SignIn, AuthorizationStep::LoginRequired);
    }
    let access = match facts.workspace {
        Some(None) => return AuthorizationStep::AccessDenied,
        Some(Some(access)) => access,
        None => Access::Ok,
    };
    let blocked = matches!(access, Access::Blocked { .. });
    if facts.client_requires_two_factor || facts.wants_mfa || blocked {
        if !facts.has_two_factor {
            return interactive(
                AuthorizationStep::SetUpTwoFactor,
                AuthorizationStep::InteractionRequired,
            );
        }
        if !signed_in.two_factors() {
            return interactive(AuthorizationStep::SignIn, AuthorizationStep::LoginRequired);
        }
    }
    if !facts.trusted && (!facts.consented || facts.prompt.consent) {
        return interactive(
            AuthorizationStep::AskConsent,
            AuthorizationStep::ConsentRequired,
        );
    }
    // A person with two-factor has access `Ok`; in grace without it they pass and the
    // claims say so.
    AuthorizationStep::Grant(access)
}

/// The claims of an ID token (OpenID Connect Core §2, §5.1; SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdTokenClaims {
    /// The issuer: the public URL.
    pub iss: String,
    /// The account id.
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the person signed in.
    pub auth_time: i64,
    /// The request's `nonce`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// RFC 8176 methods.
    pub amr: Vec<String>,
    /// `mfa` or `pwd`.
    pub acr: String,
    /// The client id (OpenID Connect Core §2, one audience).
    pub azp: String,
    /// The person's claims.
    #[serde(flatten)]
    pub person: PersonClaims,
}

/// The claims about the person, in the ID token and at userinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonClaims {
    /// The account id (repeated at userinfo, OpenID Connect Core §5.3.2).
    #[serde(skip)]
    pub sub: String,
    /// With scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// With scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// With scope `profile`, when the account has a name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For a workspace client: the member's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_role: Option<String>,
    /// For a workspace client: `ok` or `grace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadbolt_access: Option<String>,
    /// For a workspace client in grace: when grace ends (unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadbolt_deadline: Option<i64>,
}

/// What the claims about a person are made of.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    /// The account id.
    pub account_id: &'a str,
    /// Its address.
    pub email: &'a str,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Its display name.
    pub name: Option<&'a str>,
    /// For a workspace client: the role and the access granted.
    pub workspace: Option<(&'a str, Access)>,
}

/// The claims about `person` that `scopes` release.
pub fn person_claims(person: Person<'_>, scopes: Scopes) -> PersonClaims {
    let (workspace_role, deadbolt_access, deadbolt_deadline) = match person.workspace {
        Some((role, access)) => (
            Some(role.to_owned()),
            Some(access.as_str().to_owned()),
            access.deadline().map(|deadline| deadline.0),
        ),
        None => (None, None, None),
    };
    PersonClaims {
        sub: person.account_id.to_owned(),
        email: scopes.email.then(|| person.email.to_owned()),
        email_verified: scopes.email.then_some(person.email_verified),
        name: if scopes.profile {
            person.name.map(str::to_owned)
        } else {
            None
        },
        workspace_role,
        deadbolt_access,
        deadbolt_deadline,
    }
}

/// The claims `claims_supported` lists in the discovery document.
pub const CLAIMS_SUPPORTED: [&str; 16] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "acr",
    "azp",
    "email",
    "email_verified",
    "name",
    "workspace_role",
    "deadbolt_access",
    "deadbolt_deadline",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256_challenge(verifier), challenge);
        assert!(pkce_matches(challenge, verifier));
        assert!(!pkce_matches(
            challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"
        ));
        assert!(!pkce_matches(challenge, "short"));
        assert!(!pkce_matches("", verifier));
    }

    #[test]
    fn pkce_values_follow_rfc_7636_section_4_1() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value(&"A-._~9".repeat(22)[..128]));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn scopes_parse_ignore_unknown_and_print_in_order() {
        let scopes = Scopes::parse("profile  openid foo email");
        assert!(scopes.openid && scopes.email && scopes.profile && !scopes.offline_access);
        assert_eq!(scopes.as_string(), "openid email profile");
        assert!(!Scopes::parse("email").openid);
        assert!(Scopes::parse("openid").within(scopes));
        assert!(!Scopes::parse("openid offline_access").within(scopes));
        assert_eq!(Scopes::parse(&scopes.as_string()), scopes);
    }

    #[test]
    fn prompt_parses_and_refuses_none_with_others() {
        assert_eq!(Prompt::parse(None), Some(Prompt::default()));
        assert!(Prompt::parse(Some("login consent")).is_some_and(|p| p.login && p.consent));
        assert!(Prompt::parse(Some("none")).is_some_and(|p| p.none));
        assert_eq!(Prompt::parse(Some("none login")), None);
        assert_eq!(Prompt::parse(Some("select_account")), None);
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let registered = vec!["https://app.example.com/cb".to_owned()];
        assert!(redirect_registered(
            &registered,
            "https://app.example.com/cb"
        ));
        for asked in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://APP.example.com/cb",
            "https://app.example.com/c",
            "",
        ] {
            assert!(!redirect_registered(&registered, asked), "{asked}");
        }
        assert!(valid_redirect_uri("http://127.0.0.1:9000/callback?x=1"));
        assert!(!valid_redirect_uri("https://app.example.com/cb#frag"));
        assert!(!valid_redirect_uri("/relative"));
        assert!(!valid_redirect_uri("javascript:alert(1)"));
        assert!(!valid_redirect_uri("https://user:pw@app.example.com/"));
    }

    #[test]
    fn client_secrets_are_kept_keyed() {
        let key = [7u8; 32];
        let stored = client_secret_hash(&key, "s3cret");
        assert!(client_secret_matches(&key, &stored, "s3cret"));
        assert!(!client_secret_matches(&key, &stored, "s3cres"));
        assert!(!client_secret_matches(&[8u8; 32], &stored, "s3cret"));
        assert_ne!(stored, client_secret_hash(&[8u8; 32], "s3cret"));
    }

    #[test]
    fn signing_algorithms_parse_their_jose_names() {
        for alg in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::parse(alg.as_str()), Some(alg));
        }
        assert_eq!(SigningAlgorithm::parse("RS256"), None);
        assert_eq!(SigningAlgorithm::ALL[0], SigningAlgorithm::ES256);
    }

    #[test]
    fn client_ids_are_plain() {
        assert!(valid_client_id("grafana.prod-1_a"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("a b"));
        assert!(!valid_client_id(&"a".repeat(101)));
    }

    #[test]
    fn amr_and_acr_follow_rfc_8176() {
        let at = UnixTime(100);
        let two = SignInRecord::parse("pwd otp", at);
        assert_eq!(two.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(two.acr(), "mfa");
        let email = SignInRecord::parse("email otp", at);
        assert_eq!(email.amr(), ["email", "otp", "mfa"]);
        let one = SignInRecord::parse("pwd", at);
        assert_eq!(one.amr(), ["pwd"]);
        assert_eq!(one.acr(), "pwd");
        let old = SignInRecord::parse("", at);
        assert!(old.amr().is_empty() && !old.two_factors());
        assert_eq!(old.acr(), "pwd");
        assert_eq!(two.methods_text(), "pwd otp");
    }

    fn facts<'a>(signed_in: Option<&'a SignInRecord>) -> AuthorizationFacts<'a> {
        AuthorizationFacts {
            signed_in,
            has_two_factor: false,
            prompt: Prompt::default(),
            max_age: None,
            wants_mfa: false,
            client_requires_two_factor: false,
            workspace: None,
            trusted: true,
            consented: false,
            now: UnixTime(1_000),
        }
    }

    #[test]
    fn authorization_asks_for_a_sign_in_when_due() {
        let one = SignInRecord::parse("pwd", UnixTime(900));
        assert_eq!(
            decide_authorization(&facts(None)),
            AuthorizationStep::SignIn
        );
        let silent = AuthorizationFacts {
            prompt: Prompt::parse(Some("none")).unwrap(),
            ..facts(None)
        };
        assert_eq!(
            decide_authorization(&silent),
            AuthorizationStep::LoginRequired
        );
        assert_eq!(
            decide_authorization(&facts(Some(&one))),
            AuthorizationStep::Grant(Access::Ok)
        );
        let max_age = |max_age| AuthorizationFacts {
            max_age: Some(max_age),
            ..facts(Some(&one))
        };
        assert_eq!(decide_authorization(&max_age(0)), AuthorizationStep::SignIn);
        assert_eq!(
            decide_authorization(&max_age(99)),
            AuthorizationStep::SignIn
        );
        assert_eq!(
            decide_authorization(&max_age(100)),
            AuthorizationStep::Grant(Access::Ok)
        );
        let login = AuthorizationFacts {
            prompt: Prompt::parse(Some("login")).unwrap(),
            ..facts(Some(&one))
        };
        assert_eq!(decide_authorization(&login), AuthorizationStep::SignIn);
    }

    #[test]
    fn authorization_requires_two_factor_when_the_client_or_request_does() {
        let one = SignInRecord::parse("pwd", UnixTime(900));
        let two = SignInRecord::parse("pwd otp", UnixTime(900));
        let strict = |signed_in, has_two_factor| AuthorizationFacts {
            client_requires_two_factor: true,
            has_two_factor,
            ..facts(Some(signed_in))
        };
        assert_eq!(
            decide_authorization(&strict(&one, false)),
            AuthorizationStep::SetUpTwoFactor
        );
        assert_eq!(
            decide_authorization(&strict(&one, true)),
            AuthorizationStep::SignIn
        );
        assert_eq!(
            decide_authorization(&strict(&two, true)),
            AuthorizationStep::Grant(Access::Ok)
        );
        let mfa = AuthorizationFacts {
            wants_mfa: true,
            ..facts(Some(&one))
        };
        assert_eq!(
            decide_authorization(&mfa),
            AuthorizationStep::SetUpTwoFactor
        );
    }

    #[test]
    fn workspace_clients_admit_members_and_pass_grace() {
        let one = SignInRecord::parse("pwd", UnixTime(900));
        let with = |workspace| AuthorizationFacts {
            workspace: Some(workspace),
            ..facts(Some(&one))
        };
        assert_eq!(
            decide_authorization(&with(None)),
            AuthorizationStep::AccessDenied
        );
        let grace = Access::Grace {
            deadline: UnixTime(5_000),
        };
        assert_eq!(
            decide_authorization(&with(Some(grace))),
            AuthorizationStep::Grant(grace)
        );
        let blocked = Access::Blocked {
            deadline: UnixTime(500),
        };
        assert_eq!(
            decide_authorization(&with(Some(blocked))),
            AuthorizationStep::SetUpTwoFactor
        );
    }

    #[test]
    fn consent_is_asked_once_of_untrusted_clients() {
        let one = SignInRecord::parse("pwd", UnixTime(900));
        let untrusted = |consented, prompt| AuthorizationFacts {
            trusted: false,
            consented,
            prompt: Prompt::parse(prompt).unwrap(),
            ..facts(Some(&one))
        };
        assert_eq!(
            decide_authorization(&untrusted(false, None)),
            AuthorizationStep::AskConsent
        );
        assert_eq!(
            decide_authorization(&untrusted(true, None)),
            AuthorizationStep::Grant(Access::Ok)
        );
        assert_eq!(
            decide_authorization(&untrusted(true, Some("consent"))),
            AuthorizationStep::AskConsent
        );
        assert_eq!(
            decide_authorization(&untrusted(false, Some("none"))),
            AuthorizationStep::ConsentRequired
        );
    }

    #[test]
    fn person_claims_follow_the_scopes() {
        let person = Person {
            account_id: "a1",
            email: "ada@example.com",
            email_verified: true,
            name: Some("Ada"),
            workspace: Some((
                "member",
                Access::Grace {
                    deadline: UnixTime(7),
                },
            )),
        };
        let all = person_claims(person, Scopes::parse("openid email profile"));
        assert_eq!(all.email.as_deref(), Some("ada@example.com"));
        assert_eq!(all.email_verified, Some(true));
        assert_eq!(all.name.as_deref(), Some("Ada"));
        assert_eq!(all.deadbolt_access.as_deref(), Some("grace"));
        assert_eq!(all.deadbolt_deadline, Some(7));
        let bare = person_claims(person, Scopes::parse("openid"));
        assert_eq!((bare.email, bare.name), (None, None));
        assert_eq!(bare.workspace_role.as_deref(), Some("member"));
    }
}
