//! Forward-auth for reverse proxies (SPEC §10): nginx `auth_request`, Traefik `ForwardAuth`,
//! Caddy `forward_auth` ask `GET /api/v1/authz?workspace=ID` before every request of the
//! protected application. One query: the session (or API token), its account and the
//! membership; it and
//! the instance policy are answered from the node's memory when it may (`store/cache.rs`).

use std::net::SocketAddr;

use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::workspace::{access, Access};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{client_info, resolve_credential_in};
use crate::http::AppState;

/// Which workspace's rules apply.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuthzQuery {
    /// Workspace id.
    pub workspace: String,
    /// `true` for proxies that hand the check's answer straight to the client (Caddy,
    /// HAProxy, Traefik): a browser that is not signed in gets `302` to the sign-in page
    /// instead of `401` (SPEC §15). Clients that do not accept HTML still get `401`.
    #[serde(default)]
    pub redirect: bool,
}

/// Whether the request is a browser's: it accepts HTML.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"))
}

/// The URL the person was going to, as the proxy reports it.
fn original_url(headers: &HeaderMap) -> Option<String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(url) = get("x-original-url") {
        return Some(url.to_owned());
    }
    let uri = get("x-forwarded-uri")?;
    match (get("x-forwarded-proto"), get("x-forwarded-host")) {
        (Some(proto), Some(host)) => Some(format!("{proto}://{host}{uri}")),
        _ => Some(uri.to_owned()),
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Decides whether the caller may reach the workspace's application.
#[utoipa::path(get, path = "/authz", tag = "authz",
    params(AuthzQuery),
    responses(
        (status = 200, description = "Allowed: `Remote-User`, `Remote-Email`, \
            `Remote-Workspace-Role` headers; in grace also `Deadbolt-Access: grace` and \
            `Deadbolt-Deadline`"),
        (status = 302, description = "Not signed in, with `redirect=true` and a request that \
            accepts HTML: to the sign-in URL in `Location`"),
        (status = 401, description = "Not signed in: `Location` is the sign-in URL, with the \
            original URL as `next`", body = ErrorBody),
        (status = 403, description = "`two_factor_required` (blocked) or `forbidden` (not a \
            member)", body = ErrorBody)))]
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    query: Result<Query<AuthzQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Query(query) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let client = || client_info(&headers, peer.ok().map(|ConnectInfo(addr)| addr), &state);
    let found = resolve_credential_in(&state, &headers, &query.workspace, client, now).await?;
    let Some((auth, membership)) = found else {
        let mut login = state.config.public_url.join("/login");
        if let Some(next) = original_url(&headers) {
            login.push_str("?next=");
            login.extend(utf8_percent_encode(&next, NON_ALPHANUMERIC));
        }
        let mut response = if query.redirect && accepts_html(&headers) {
            StatusCode::FOUND.into_response()
        } else {
            ApiError::Unauthenticated.into_response()
        };
        response
            .headers_mut()
            .insert(header::LOCATION, header_value(&login));
        return Ok(response);
    };
    if let Access::Blocked { deadline } = auth.instance_access {
        return Err(ApiError::TwoFactorRequired {
            deadline: Some(deadline),
        });
    }
    let (workspace, role) = membership.ok_or(ApiError::Forbidden)?;
    let workspace_access =
        access(workspace.requirement_for(role), auth.factors, now).stricter(auth.instance_access);
    if let Access::Blocked { deadline } = workspace_access {
        return Err(ApiError::TwoFactorRequired {
            deadline: Some(deadline),
        });
    }
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert("remote-user", header_value(auth.account.id.as_str()));
    headers.insert("remote-email", header_value(auth.account.email.as_str()));
    headers.insert("remote-workspace-role", header_value(role.as_str()));
    if let Access::Grace { deadline } = workspace_access {
        headers.insert("deadbolt-access", HeaderValue::from_static("grace"));
        headers.insert("deadbolt-deadline", header_value(&deadline.to_rfc3339()));
    }
    Ok(response)
}
