//! The OpenID Connect provider's pure rules (SPEC §12): scopes, `prompt`, PKCE (RFC 7636),
//! exact redirect matching, how a session's sign-in becomes `amr` (RFC 8176) and `acr`, what
//! an authorization request leads to, and the claims of an ID token and of userinfo. No
//! I/O; every time is passed in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod authorization;
mod claims;

pub use authorization::{
    decide_authorization, AuthorizationFacts, AuthorizationStep, SignInRecord,
};
pub use claims::{person_claims, IdTokenClaims, Person, PersonClaims, CLAIMS_SUPPORTED};

/// An authorization code lives this long (SPEC §12).
pub const CODE_TTL_SECONDS: i64 = 60;
/// An access token lives this long (SPEC §12).
pub const ACCESS_TOKEN_TTL_SECONDS: i64 = 600;
/// A refresh token lives this long unused (SPEC §12): 30 days, sliding, since each use
/// issues the next one for another 30 days; it never outlives the session it was issued
/// under.
pub const REFRESH_TOKEN_TTL_SECONDS: i64 = 30 * 24 * 3600;
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
    /// `offline_access`: a refresh token.
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

/// The S256 challenge a token request's verifier stands for: `None` without a verifier, and
/// one that matches no challenge for a verifier RFC 7636 would not allow.
pub fn presented_challenge(verifier: Option<&str>) -> Option<String> {
    verifier.map(|verifier| {
        if is_pkce_value(verifier) {
            s256_challenge(verifier)
        } else {
            String::new()
        }
    })
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

/// Domain separation for a session's `sid`.
const SID_CONTEXT: &[u8] = b"deadbolt oidc sid v1";

/// The `sid` claim naming a session to relying parties (OpenID Connect Front- and
/// Back-Channel Logout): a keyed hash of the session id (HMAC-SHA256 under the instance
/// key, base64url, 128 bits), so that the id itself, which the API lists, is never handed
/// out.
pub fn session_sid(key: &[u8; 32], session_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(SID_CONTEXT);
    mac.update(session_id.as_bytes());
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

/// Shortest client secret accepted from a file, in characters.
pub const MIN_CLIENT_SECRET_CHARS: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_stands_for_its_s256_challenge_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256_challenge(verifier), challenge);
        assert_eq!(
            presented_challenge(Some(verifier)).as_deref(),
            Some(challenge)
        );
        let other = presented_challenge(Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
        assert_ne!(other.as_deref(), Some(challenge));
        // A verifier RFC 7636 refuses matches no challenge; none presented is none.
        assert_eq!(presented_challenge(Some("short")).as_deref(), Some(""));
        assert_eq!(presented_challenge(None), None);
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
}
