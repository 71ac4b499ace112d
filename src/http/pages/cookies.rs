//! The pages' cookies: the session (`deadbolt_session`, the same session as a bearer
//! token), the pending sign-in challenge, and the pre-session CSRF token.
//!
//! Security: every cookie is HttpOnly and SameSite=Lax, and Secure when the public URL is
//! https. The challenge cookie is scoped to `/login` and lives as long as the challenge.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

use crate::config::PublicUrl;
use crate::domain::sign_in::CHALLENGE_TTL_SECONDS;
use crate::domain::time::UnixTime;
use crate::http::extract::SESSION_COOKIE;

/// The pending sign-in challenge's token.
pub const CHALLENGE_COOKIE: &str = "deadbolt_challenge";
/// The double-submit CSRF token of forms shown before sign-in.
pub const CSRF_COOKIE: &str = "deadbolt_csrf";

/// A cookie's value in the request.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// One `Set-Cookie` line.
fn line(public_url: &PublicUrl, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if public_url.is_https() {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

fn append(response: &mut Response, cookie: String) {
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Sets the session cookie until the session's absolute end.
pub fn set_session(
    response: &mut Response,
    public_url: &PublicUrl,
    token: &str,
    now: UnixTime,
    expires_at: UnixTime,
) {
    let max_age = expires_at.0.saturating_sub(now.0).max(0);
    append(
        response,
        line(public_url, SESSION_COOKIE, token, "/", max_age),
    );
}

/// Removes the session cookie.
pub fn clear_session(response: &mut Response, public_url: &PublicUrl) {
    append(response, line(public_url, SESSION_COOKIE, "", "/", 0));
}

/// Sets the challenge cookie for the challenge's lifetime.
pub fn set_challenge(response: &mut Response, public_url: &PublicUrl, token: &str) {
    let cookie = line(
        public_url,
        CHALLENGE_COOKIE,
        token,
        "/login",
        CHALLENGE_TTL_SECONDS,
    );
    append(response, cookie);
}

/// Removes the challenge cookie.
pub fn clear_challenge(response: &mut Response, public_url: &PublicUrl) {
    append(
        response,
        line(public_url, CHALLENGE_COOKIE, "", "/login", 0),
    );
}

/// Sets the pre-session CSRF cookie (a day; forms left open longer are refused clearly).
pub fn set_csrf(response: &mut Response, public_url: &PublicUrl, token: &str) {
    append(response, line(public_url, CSRF_COOKIE, token, "/", 86_400));
}
