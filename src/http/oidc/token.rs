//! `POST /oauth2/token` (the code exchange and refresh) and `GET, POST /oauth2/userinfo`. Errors are
//! answered in the OAuth shape: RFC 6749 §5.2 at the token endpoint (`invalid_request`,
//! `invalid_client` with 401, `invalid_grant`, `unsupported_grant_type`), RFC 6750 §3 at
//! userinfo (`invalid_token`, 401, with `WWW-Authenticate`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::AppState;
use crate::oidc::{Error, TokenRequest};

/// An error of the token endpoint or userinfo, in the OAuth shape.
pub(super) fn oauth_error(error: Error) -> Response {
    let (status, code, description) = match &error {
        Error::InvalidRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", *why),
        Error::InvalidClient => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ),
        Error::InvalidGrant(why) => (StatusCode::BAD_REQUEST, "invalid_grant", *why),
        Error::UnsupportedGrantType => (
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code and refresh_token are supported",
        ),
        Error::InvalidScope => (
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "a refresh may not ask for scopes beyond those granted",
        ),
        Error::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is unknown, expired or revoked",
        ),
        Error::UntrustedRedirect
        | Error::InvalidClientMetadata(_)
        | Error::NotFound
        | Error::ConfiguredClient
        | Error::Store(_)
        | Error::Keys(_) => {
            // Not an OAuth refusal: the API's answer (`unavailable`, `internal_error`).
            return ApiError::from(error).into_response();
        }
    };
    let mut response = (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response();
    match code {
        // RFC 6749 §5.2: a 401 names the scheme the client may use.
        "invalid_client" => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"deadbolt\""),
            );
        }
        // RFC 6750 §3.
        "invalid_token" => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        _ => {}
    }
    response
}

/// `client_secret_basic` (RFC 6749 §2.3.1): the id and secret, each form-urlencoded, in a
/// Basic `Authorization` header.
pub(super) fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| Error::InvalidClient)?;
    let Some(encoded) = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
    else {
        return Err(Error::InvalidClient);
    };
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(Error::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(Error::InvalidClient)?;
    let unescape = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| Error::InvalidClient)
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let Ok(form) = serde_urlencoded::from_bytes::<TokenRequest>(&body) else {
        return oauth_error(Error::InvalidRequest("the body must be a form"));
    };
    let credentials = match basic_credentials(&headers) {
        Ok(credentials) => credentials,
        Err(error) => return oauth_error(error),
    };
    match state.oidc.exchange(&form, credentials, &client, now).await {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            // RFC 6749 §5.1 (Cache-Control: no-store is set for every answer).
            response
                .headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => oauth_error(error),
    }
}

/// `GET, POST /oauth2/userinfo`, with `Authorization: Bearer ACCESS_TOKEN`.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return oauth_error(Error::InvalidToken);
    };
    match state.oidc.userinfo(token, now).await {
        Ok(claims) => Json(claims).into_response(),
        Err(error) => oauth_error(error),
    }
}
