//! The discovery document (OpenID Connect Discovery 1.0 §3) and the JWKS.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::domain::oidc::CLAIMS_SUPPORTED;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::oidc::{paths, SigningAlgorithm};

/// `GET /.well-known/openid-configuration`.
pub async fn configuration(State(state): State<AppState>) -> Response {
    let issuer = state.oidc.issuer();
    let at = |path: &str| format!("{issuer}{path}");
    let algorithms: Vec<&str> = SigningAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": at(paths::AUTHORIZE),
        "token_endpoint": at(paths::TOKEN),
        "userinfo_endpoint": at(paths::USERINFO),
        "jwks_uri": at(paths::JWKS),
        "end_session_endpoint": at(paths::LOGOUT),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "revocation_endpoint": at(paths::REVOKE),
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint": at(paths::INTROSPECT),
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": ["pwd", "mfa"],
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
    });
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(body)).into_response()
}

/// `GET /oauth2/jwks`: every public key in the signing key set.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state
        .oidc
        .signing_keys(state.clock.now())
        .await
        .map_err(ApiError::from)?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(keys.jwks()),
    )
        .into_response())
}
