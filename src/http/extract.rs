//! Extractors that own request-shape errors: a JSON body whose rejections become
//! [`ApiError`]s, the signed-in session (and the instance-admin guard), and who is calling
//! (address, user agent).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::domain::account::{needs_touch, Account, Caller, Session};
use crate::domain::ids::Token;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorSummary;
use crate::domain::workspace::{access, Access, Role, Workspace};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::store::SessionLookup;

/// Longest user agent kept; the rest is cut.
const MAX_USER_AGENT_CHARS: usize = 256;

/// A JSON body. Malformed JSON is `400 malformed_json`; unknown fields, wrong types and
/// missing fields are `422 invalid_body`; a body over the limit is `413 body_too_large`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(request, state).await?;
        parse_object(&bytes).map(AppJson)
    }
}

/// An optional JSON body: no body at all is `None`; anything else follows [`AppJson`].
#[derive(Debug, Clone, Default)]
pub struct MaybeJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for MaybeJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = has_json_content_type(request.headers());
        let typed = request.headers().contains_key(header::CONTENT_TYPE);
        let bytes = read_body(request, state).await?;
        if bytes.is_empty() && !typed {
            return Ok(MaybeJson(None));
        }
        if !json_type {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_object(&bytes).map(|value| MaybeJson(Some(value)))
    }
}

async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })
}

fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let Json(value) = Json::<T>::from_bytes(bytes).map_err(json_rejection)?;
    // serde accepts an array for a struct (fields by position); the API takes objects.
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::InvalidBody("expected a JSON object".to_owned()));
    }
    Ok(value)
}

/// `application/json`, or any `application/…+json`, with any parameters.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            ApiError::InvalidBody(inner_message(error.body_text()))
        }
        JsonRejection::JsonSyntaxError(error) => {
            ApiError::MalformedJson(inner_message(error.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::BodyTooLarge
        }
        // `JsonRejection` is non-exhaustive: anything new is a malformed body.
        other => ApiError::MalformedJson(other.body_text()),
    }
}

/// axum prefixes serde's message with its own sentence; keep serde's part.
fn inner_message(text: String) -> String {
    match text.split_once(": ") {
        Some((_, rest)) => rest.to_owned(),
        None => text,
    }
}

pub use crate::domain::event::ClientInfo;

/// The client address behind `peer`, believing `X-Forwarded-For` only from trusted proxies.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Security: walk from the right (the entries our proxies appended) and stop at the
    // first address no trusted proxy vouches for; entries left of it are client-supplied.
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|text| text.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .collect();
    match hops.iter().rev().find(|ip| !is_trusted(ip)) {
        Some(ip) => *ip,
        // Every hop is a trusted proxy: the first is as far back as anyone vouches for.
        None => hops.first().copied().unwrap_or(peer),
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| {
                client_address(addr.ip(), &parts.headers, &state.config.trusted_proxies).to_string()
            });
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
        Ok(ClientInfo { ip, user_agent })
    }
}

/// The browser session cookie; the same session as a bearer token.
pub const SESSION_COOKIE: &str = "deadbolt_session";

/// Routes a person blocked by the instance policy may still reach: their account, enrolment
/// and sign-out (the challenge needs no session).
const REACHABLE_WHEN_BLOCKED: &[&str] = &[
    "/api/v1/me",
    "/api/v1/me/two-factor/enrollment",
    "/api/v1/me/two-factor/enrollment/confirm",
    "/api/v1/me/two-factor/enrollment/qr.png",
    "/api/v1/sessions/current",
    "/api/v1/me/webauthn/registration",
    "/api/v1/me/webauthn/registration/finish",
];

/// The caller's session and account, from `Authorization: Bearer TOKEN` or the session
/// cookie. `401 unauthenticated` when absent, unknown, or ended; `403 two_factor_required`
/// when the instance policy blocks the account and the route is not one it may still reach.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The session in use.
    pub session: Session,
    /// Its account.
    pub account: Account,
    /// Whether the account has two-factor enabled.
    pub has_two_factor: bool,
    /// The account's authenticator, as `/me` shows it.
    pub two_factor: TwoFactorSummary,
    /// What the instance policy allows the account.
    pub instance_access: Access,
    /// The time the request was authenticated at.
    pub now: UnixTime,
}

impl Authenticated {
    /// The caller as the account, workspace and admin operations take it.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            account: &self.account,
            has_two_factor: self.has_two_factor,
            now: self.now,
        }
    }

    /// Unused recovery codes, as `/me` shows them: none while two-factor is off.
    pub fn recovery_codes_remaining(&self) -> u32 {
        if self.has_two_factor {
            self.two_factor.recovery_codes_remaining.unwrap_or(0)
        } else {
            0
        }
    }
}

/// Refuses anyone but an instance admin (`403 forbidden`).
pub fn admin_only(auth: &Authenticated) -> Result<(), ApiError> {
    if auth.account.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The session token in the request: the bearer token, else the session cookie.
pub fn session_token(headers: &HeaderMap) -> Option<Token> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        return (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
            .then(|| Token::from_presented(token));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| Token::from_presented(value))
}

/// Resolves the request's session, or `None` when there is no live one.
pub async fn resolve_session(
    state: &AppState,
    headers: &HeaderMap,
    now: UnixTime,
) -> Result<Option<Authenticated>, ApiError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    // Security: the lookup is by SHA-256 digest on an indexed column, so the timing of a
    // miss reveals nothing useful about stored tokens.
    let found = state.store.session_by_token(&token.hash()).await?;
    authenticate(state, found, now).await
}

/// The request's session with the account's membership of `workspace`, in one query (for
/// forward-auth); `None` when there is no live session.
pub async fn resolve_session_in(
    state: &AppState,
    headers: &HeaderMap,
    workspace: &str,
    now: UnixTime,
) -> Result<Option<(Authenticated, Option<(Workspace, Role)>)>, ApiError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let Some(found) = state
        .store
        .session_in_workspace(&token.hash(), workspace)
        .await?
    else {
        return Ok(None);
    };
    let membership = found.membership;
    let auth = authenticate(state, Some(found.found), now).await?;
    Ok(auth.map(|auth| (auth, membership)))
}

/// Checks a looked-up session's lifetimes (deleting an ended one), records its use at most
/// once a minute, and applies the instance policy.
async fn authenticate(
    state: &AppState,
    found: Option<SessionLookup>,
    now: UnixTime,
) -> Result<Option<Authenticated>, ApiError> {
    let Some(found) = found else {
        return Ok(None);
    };
    if found.account.is_suspended() {
        // Suspending ends every session; this one was minted by a sign-in that raced the
        // suspension. It is honoured nowhere (API, pages, forward-auth).
        return Ok(None);
    }
    if !state.config.sessions.is_live(&found.session, now) {
        state
            .store
            .delete_session(&found.session.account_id, &found.session.id)
            .await?;
        return Ok(None);
    }
    if needs_touch(&found.session, now) {
        state.store.touch_session(&found.session.id, now).await?;
    }
    let policy = state.store.instance_policy().await?;
    let requirement = policy.and_then(|p| p.requirement_for(found.account.is_admin));
    Ok(Some(Authenticated {
        instance_access: access(requirement, found.has_two_factor, now),
        session: found.session,
        account: found.account,
        has_two_factor: found.has_two_factor,
        two_factor: found.two_factor,
        now,
    }))
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let auth = resolve_session(state, &parts.headers, now)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        if let Access::Blocked { deadline } = auth.instance_access {
            let route = parts
                .extensions
                .get::<MatchedPath>()
                .map(MatchedPath::as_str);
            if !route.is_some_and(|route| REACHABLE_WHEN_BLOCKED.contains(&route)) {
                return Err(ApiError::TwoFactorRequired {
                    deadline: Some(deadline),
                });
            }
        }
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in forwarded {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        // Untrusted peer: its header is ignored.
        assert_eq!(
            client_address(stranger, &headers(&["203.0.113.9"]), &trusted),
            stranger
        );
        // Trusted peer: the right-most untrusted hop, not a spoofed left-most one.
        let spoofed = headers(&["1.2.3.4, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(client_address(proxy, &spoofed, &trusted), client);
        // Only proxies on the path: the first one; no header at all: the peer.
        assert_eq!(
            client_address(proxy, &headers(&["10.0.0.9"]), &trusted),
            "10.0.0.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(
            client_address(proxy, &headers(&["garbage"]), &trusted),
            proxy
        );
    }
}
