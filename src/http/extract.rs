//! Extractors that own request-shape errors: a JSON body whose rejections become
//! [`ApiError`]s, the signed-in session, and who is calling (address, user agent).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::domain::account::{needs_touch, Account, Session};
use crate::domain::ids::Token;
use crate::domain::time::UnixTime;
use crate::http::error::ApiError;
use crate::http::AppState;

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

/// Who is calling: for throttling and the security log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The peer address (trusted proxies are honoured later, issue #6).
    pub ip: Option<String>,
    /// The `User-Agent` header, cut to a sane length.
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
        Ok(ClientInfo { ip, user_agent })
    }
}

/// The caller's session and account, from `Authorization: Bearer TOKEN`.
/// `401 unauthenticated` when absent, unknown, or ended.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The session in use.
    pub session: Session,
    /// Its account.
    pub account: Account,
    /// The time the request was authenticated at.
    pub now: UnixTime,
}

/// The bearer token in the request, if any.
pub fn bearer_token(parts: &Parts) -> Option<Token> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .then(|| Token::from_presented(token))
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let token = bearer_token(parts).ok_or(ApiError::Unauthenticated)?;
        // Security: the lookup is by SHA-256 digest on an indexed column, so the timing
        // of a miss reveals nothing useful about stored tokens.
        let (session, account) = state
            .store
            .session_by_token(&token.hash())
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        if !state.config.sessions.is_live(&session, now) {
            state
                .store
                .delete_session(&session.account_id, &session.id)
                .await?;
            return Err(ApiError::Unauthenticated);
        }
        if needs_touch(&session, now) {
            state.store.touch_session(&session.id, now).await?;
        }
        Ok(Authenticated {
            session,
            account,
            now,
        })
    }
}
