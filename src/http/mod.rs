//! The HTTP layer: shared state, the router with its middleware, and the server loop.
//! Handlers follow one shape: extract → load → decide (domain) → persist → respond, where
//! the load-decide-persist part a page shares is an operation of [`crate::accounts`],
//! [`crate::workspaces`], [`crate::admin`] or [`crate::signin`], which JSON handlers and
//! pages both call. Helpers call down, never up: nothing imports from a handler module.

pub mod api;
pub mod error;
pub mod events;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod oidc;
pub mod pages;
pub mod qr;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::clock::Clock;
use crate::config::Config;
use crate::http::error::ApiError;
use crate::http::metrics::Metrics;
use crate::keyring::Keyring;
use crate::password_pool::PasswordPool;
use crate::store::Store;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a handler may need, behind one `Arc`: axum clones the state for every
/// extractor of every request, and cloning the parts one by one (about sixty `Arc`s, each an
/// atomic increment and decrement on a cache line every core shares) cost a tenth of a
/// node's CPU under load.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppParts {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Where argon2 runs.
    pub passwords: PasswordPool,
    /// Master keys.
    pub keys: Arc<Keyring>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// The recovery-code HMAC key (see [`crate::secrets`]).
    pub recovery_key: Arc<[u8; 32]>,
    /// The sign-in flow.
    pub signin: crate::signin::SignIn,
    /// Sign-up, sessions and the authenticator.
    pub accounts: crate::accounts::Accounts,
    /// Workspaces, members and enforcement.
    pub workspaces: crate::workspaces::Workspaces,
    /// Instance administration.
    pub admin: crate::admin::Admin,
    /// The notification channels, and this node's outbox workers.
    pub notifier: crate::notify::Notifier,
    /// The OpenID Connect provider.
    pub oidc: crate::oidc::Provider,
}

impl AppState {
    /// The state over these parts, with the sign-in flow and the account, workspace and
    /// admin operations over the same ones.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        passwords: PasswordPool,
        keys: Arc<Keyring>,
        metrics: Arc<Metrics>,
        recovery_key: Arc<[u8; 32]>,
        notifier: crate::notify::Notifier,
    ) -> AppState {
        let signin = crate::signin::SignIn::new(
            Arc::clone(&config),
            Arc::clone(&store),
            passwords.clone(),
            Arc::clone(&keys),
            Arc::clone(&recovery_key),
            notifier.clone(),
        );
        let accounts = crate::accounts::Accounts::new(
            Arc::clone(&config),
            Arc::clone(&store),
            passwords.clone(),
            Arc::clone(&keys),
            Arc::clone(&recovery_key),
            signin.clone(),
            notifier.clone(),
        );
        let workspaces = crate::workspaces::Workspaces::new(Arc::clone(&store), notifier.clone());
        let admin = crate::admin::Admin::new(
            Arc::clone(&store),
            notifier.clone(),
            config.recovery.reset_requires,
        );
        let oidc = crate::oidc::Provider::new(
            Arc::clone(&config),
            Arc::clone(&store),
            Arc::clone(&keys),
            Arc::clone(&recovery_key),
            notifier.clone(),
        );
        AppState(Arc::new(AppParts {
            oidc,
            config,
            store,
            clock,
            passwords,
            keys,
            metrics,
            recovery_key,
            signin,
            accounts,
            workspaces,
            admin,
            notifier,
        }))
    }
}

/// The whole application: API, pages, operations endpoints and middleware.
pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let (api, openapi) = api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api)
        .merge(pages::router())
        .merge(oidc::router())
        .layer(axum::Extension(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".to_owned()).into_response()
        }))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes in-flight
/// requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A plain-text response with a status, for the operations endpoints.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, body.into()).into_response()
}
