//! CSRF protection for every page form. A signed-in form carries a token derived from the
//! session token (HMAC-SHA256 keyed by it), so it changes with every sign-in and a forger,
//! who cannot read the HttpOnly cookie, cannot compute it. A form shown before sign-in
//! (sign-in, sign-up, the challenge) uses a double-submit cookie: a random value both in
//! the `deadbolt_csrf` cookie and in the form.
//!
//! Security: SameSite=Lax alone would still let a top-level cross-site POST through in
//! some browsers; the token is compared in constant time.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::ids::random_bytes;
use crate::http::extract::SESSION_COOKIE;
use crate::http::pages::cookies::{self, CSRF_COOKIE};
use crate::http::pages::error::PageError;
use crate::http::AppState;

/// The hidden field every form carries.
pub const FIELD: &str = "csrf";

/// Domain separation for the session-derived token.
const SESSION_CONTEXT: &[u8] = b"deadbolt page csrf v1";

/// The form token of a session, from its (secret) token.
pub fn for_session(session_token: &str) -> String {
    // HMAC accepts a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(session_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(SESSION_CONTEXT);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A fresh random value for the pre-session cookie.
pub fn new_pre_session() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The pre-session token to put in a form: the cookie's, or a new one the caller must
/// set with [`cookies::set_csrf`] (the `bool` says so).
pub fn pre_session(headers: &HeaderMap) -> (String, bool) {
    match cookies::read(headers, CSRF_COOKIE) {
        Some(token) => (token, false),
        None => (new_pre_session(), true),
    }
}

fn same(a: &str, b: &str) -> bool {
    // Security: constant time, so a forger learns nothing from how long a refusal takes.
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `presented` matches the session-derived or the double-submit token.
pub fn is_valid(headers: &HeaderMap, presented: &str) -> bool {
    let by_session = cookies::read(headers, SESSION_COOKIE)
        .is_some_and(|token| same(presented, &for_session(&token)));
    let by_cookie =
        cookies::read(headers, CSRF_COOKIE).is_some_and(|token| same(presented, &token));
    by_session | by_cookie
}

#[derive(Deserialize)]
struct TokenOnly {
    #[serde(default)]
    csrf: String,
}

/// A URL-encoded form whose CSRF token was checked; a wrong or missing token is refused
/// with a page saying what to do.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<T> FromRequest<AppState> for PageForm<T>
where
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| PageError::BadForm)?;
        let token: TokenOnly =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        if !is_valid(&headers, &token.csrf) {
            return Err(PageError::Csrf);
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(PageForm)
            .map_err(|_| PageError::BadForm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn session_token_is_bound_to_the_session() {
        let headers = with_cookie("deadbolt_session=abc");
        assert!(is_valid(&headers, &for_session("abc")));
        assert!(!is_valid(&headers, &for_session("abd")));
        assert!(!is_valid(&headers, ""));
        assert!(!is_valid(&HeaderMap::new(), &for_session("abc")));
    }

    #[test]
    fn double_submit_needs_the_cookie_and_the_field_to_agree() {
        let headers = with_cookie("other=1; deadbolt_csrf=xyz");
        assert!(is_valid(&headers, "xyz"));
        assert!(!is_valid(&headers, "xyy"));
        assert!(!is_valid(&with_cookie("deadbolt_csrf="), ""));
    }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct EmptyForm {}
