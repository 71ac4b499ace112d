//! Extractors that own request-shape errors: a JSON body whose rejections become
//! [`ApiError`]s, the signed-in caller (`credential.rs`: a session or an API token, and the
//! instance-admin guard), and who is calling (address, user agent).

mod credential;

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
use crate::http::AppState;

pub use credential::{
    admin_only, resolve_credential_in, resolve_session, session_token, ApiCaller, Authenticated,
    Credential, SESSION_COOKIE,
};

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

/// Who is calling: the client address (the peer `peer`, or whom trusted proxies name) and
/// the user agent.
pub fn client_info(headers: &HeaderMap, peer: Option<SocketAddr>, state: &AppState) -> ClientInfo {
    let ip = peer
        .map(|addr| client_address(addr.ip(), headers, &state.config.trusted_proxies).to_string());
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
    ClientInfo { ip, user_agent }
}

/// The peer address of the connection a request came on.
fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(client_info(&parts.headers, peer(parts), state))
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
