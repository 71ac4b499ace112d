//! The OpenID Connect provider's endpoints (SPEC §12), outside `/api/v1` and outside the
//! OpenAPI document, since their shapes are the OAuth and OpenID specifications':
//!
//! | path | what |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | the discovery document ([`discovery`]) |
//! | `GET /oauth2/jwks` | the public signing keys ([`discovery`]) |
//! | `GET /oauth2/authorize` | the authorization endpoint, in the browser ([`authorize`]) |
//! | `POST /oauth2/authorize/consent` | the consent page's form ([`authorize`]) |
//! | `POST /oauth2/token` | the code exchange and refresh ([`token`]) |
//! | `GET, POST /oauth2/userinfo` | the claims for a bearer access token ([`token`]) |
//! | `GET, POST /oauth2/logout` | RP-initiated logout, and its confirmation ([`logout`]) |
//! | `POST /oauth2/revoke` | token revocation, RFC 7009 ([`revoke`]) |
//! | `POST /oauth2/introspect` | token introspection, RFC 7662 ([`revoke`]) |
//!
//! Handlers extract, call [`crate::oidc::Provider`] and shape the answer; the token endpoint
//! and userinfo answer errors in RFC 6749 §5.2 / RFC 6750 §3 shape (`{"error": …,
//! "error_description": …}`), not the API's.

pub mod authorize;
pub mod discovery;
pub mod logout;
pub mod revoke;
pub mod token;

use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;
use crate::oidc::paths;

/// The provider's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::DISCOVERY, get(discovery::configuration))
        .route(paths::JWKS, get(discovery::jwks))
        .route(paths::AUTHORIZE, get(authorize::authorize))
        .route(paths::CONSENT, post(authorize::consent))
        .route(paths::TOKEN, post(token::token))
        .route(paths::USERINFO, get(token::userinfo).post(token::userinfo))
        .route(paths::LOGOUT, get(logout::logout).post(logout::confirm))
        .route(paths::REVOKE, post(revoke::revoke))
        .route(paths::INTROSPECT, post(revoke::introspect))
}
