//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662), with client
//! authentication as at the token endpoint; errors in RFC 6749 §5.2 shape.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::token::{basic_credentials, oauth_error};
use crate::http::AppState;
use crate::oidc::{Error, TokenQuery};

fn parse(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(TokenQuery, Option<(String, String)>), Error> {
    let form = serde_urlencoded::from_bytes::<TokenQuery>(body)
        .map_err(|_| Error::InvalidRequest("the body must be a form"))?;
    Ok((form, basic_credentials(headers)?))
}

/// `POST /oauth2/revoke`: 200 for any token, known or not (RFC 7009 §2.2).
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let result = match parse(&headers, &body) {
        Ok((form, credentials)) => state.oidc.revoke(&form, credentials, now).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => oauth_error(error),
    }
}

/// `POST /oauth2/introspect`: `{"active": …}` (RFC 7662 §2.2), for confidential clients.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let result = match parse(&headers, &body) {
        Ok((form, credentials)) => state.oidc.introspect(&form, credentials, now).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => oauth_error(error),
    }
}
