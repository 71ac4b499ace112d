//! The OpenID Connect provider (SPEC §12), for the HTTP endpoints, the admin API and the
//! CLI: signing keys ([`keys`]), clients ([`clients`]), the authorization request
//! ([`authorize`]), consent ([`consent`]), the code exchange and userinfo ([`token`]), and
//! refresh, revocation and introspection ([`refresh`]), and RP-initiated logout
//! ([`logout`]).
//! No HTTP and no SQL here; the rules are `domain::oidc`.
//!
//! The sign-in itself is not here: a browser that must sign in is sent to the sign-in pages
//! (and the two-factor challenge) with `next` back to the authorization request, and the
//! session they start records how it was signed in (`amr`) and when (`auth_time`, its
//! creation). An authorization then reads that record.

pub mod authorize;
pub mod backchannel;
pub mod clients;
pub mod consent;
pub mod keys;
pub mod logout;
pub mod refresh;
pub mod token;

use std::sync::{Arc, Mutex, PoisonError};

pub use authorize::{AuthorizationRequest, Authorized};
pub use clients::{sync_configured_clients, ClientRegistration, RegisteredClient};
pub use consent::ConsentView;
pub use keys::{SigningAlgorithm, SigningKeys};
pub use logout::{CurrentSession, LogoutRequest, LogoutStep};
pub use refresh::TokenQuery;
pub use token::{TokenRequest, TokenResponse};

use crate::config::Config;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::keyring::Keyring;
use crate::notify::Notifier;
use crate::store::{Store, StoreError};

/// The paths of the provider's endpoints, which the discovery document lists.
pub mod paths {
    /// The discovery document (OpenID Connect Discovery 1.0 §4).
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    /// The authorization endpoint.
    pub const AUTHORIZE: &str = "/oauth2/authorize";
    /// The consent form's target.
    pub const CONSENT: &str = "/oauth2/authorize/consent";
    /// The token endpoint.
    pub const TOKEN: &str = "/oauth2/token";
    /// The userinfo endpoint.
    pub const USERINFO: &str = "/oauth2/userinfo";
    /// The JWKS.
    pub const JWKS: &str = "/oauth2/jwks";
    /// Token revocation (RFC 7009).
    pub const REVOKE: &str = "/oauth2/revoke";
    /// RP-Initiated Logout (`end_session_endpoint`).
    pub const LOGOUT: &str = "/oauth2/logout";
    /// Token introspection (RFC 7662).
    pub const INTROSPECT: &str = "/oauth2/introspect";
}

/// An error the authorization endpoint sends back to the client's `redirect_uri` (RFC 6749
/// §4.1.2.1, OpenID Connect Core §3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectError {
    /// A parameter is missing, repeated or malformed.
    InvalidRequest,
    /// `response_type` is not `code`.
    UnsupportedResponseType,
    /// `scope` lacks `openid`.
    InvalidScope,
    /// The person declined, or may not use this client.
    AccessDenied,
    /// `prompt=none` and a sign-in is due.
    LoginRequired,
    /// `prompt=none` and consent is due.
    ConsentRequired,
    /// `prompt=none` and something else needs the person.
    InteractionRequired,
}

impl RedirectError {
    /// The `error` value.
    pub fn as_str(self) -> &'static str {
        match self {
            RedirectError::InvalidRequest => "invalid_request",
            RedirectError::UnsupportedResponseType => "unsupported_response_type",
            RedirectError::InvalidScope => "invalid_scope",
            RedirectError::AccessDenied => "access_denied",
            RedirectError::LoginRequired => "login_required",
            RedirectError::ConsentRequired => "consent_required",
            RedirectError::InteractionRequired => "interaction_required",
        }
    }
}

/// Why a provider operation refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The authorization request names no known client, or a redirect URI the client did
    /// not register: nothing may be sent to it (an error page instead).
    #[error("unknown client or redirect_uri")]
    UntrustedRedirect,
    /// The token endpoint: a request without a needed parameter (`invalid_request`).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The token endpoint: client authentication failed (`invalid_client`, 401).
    #[error("invalid client")]
    InvalidClient,
    /// The token endpoint: the code is unknown, spent, lapsed, or not for this client,
    /// redirect URI or verifier (`invalid_grant`).
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// The token endpoint: a refresh asking for scopes beyond those granted
    /// (`invalid_scope`).
    #[error("invalid scope")]
    InvalidScope,
    /// The token endpoint: a grant type other than `authorization_code` and
    /// `refresh_token`.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// Userinfo: no live access token (`invalid_token`, 401).
    #[error("invalid token")]
    InvalidToken,
    /// A client registration is refused; the sentence names the field.
    #[error("invalid client metadata: {0}")]
    InvalidClientMetadata(String),
    /// No such client.
    #[error("not found")]
    NotFound,
    /// The client comes from the configuration file.
    #[error("configured client")]
    ConfiguredClient,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing keys could not be loaded or used.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
}

/// Signing keys, and the sealed set (its bytes) they were built from.
type BuiltKeys = (Vec<u8>, Arc<SigningKeys>);

/// The provider and what it needs; cheap to clone.
#[derive(Clone)]
pub struct Provider {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    secret_key: Arc<[u8; 32]>,
    notifier: Notifier,
    /// The signing keys built from the sealed set last read (rebuilt when it changes).
    signing: Arc<Mutex<Option<BuiltKeys>>>,
}

impl Provider {
    /// The provider over these parts; `secret_key` keys the hashes of client secrets (the
    /// instance key of `secrets.rs`).
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        keys: Arc<Keyring>,
        secret_key: Arc<[u8; 32]>,
        notifier: Notifier,
    ) -> Provider {
        Provider {
            config,
            store,
            keys,
            secret_key,
            notifier,
            signing: Arc::new(Mutex::new(None)),
        }
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The issuer: the public URL.
    pub fn issuer(&self) -> &str {
        self.config.public_url.as_str()
    }

    /// The signing keys in force: the sealed set as the node remembers it (created on first
    /// use), built again only when it changed (a roll, or a re-seal). A set this node cannot
    /// open, because a master key rotation sealed it under a key that came after this
    /// process started, leaves the keys it had in force until the restart the rotation asks
    /// for.
    pub async fn signing_keys(&self, now: UnixTime) -> Result<Arc<SigningKeys>, Error> {
        let sealed = keys::sealed_set(self.store(), &self.keys, now).await?;
        let kept = {
            let built = self.signing.lock().unwrap_or_else(PoisonError::into_inner);
            match &*built {
                Some((blob, keys)) if *blob == sealed.blob => return Ok(Arc::clone(keys)),
                Some((_, keys)) => Some(Arc::clone(keys)),
                None => None,
            }
        };
        match SigningKeys::open(&sealed, &self.keys) {
            Ok(opened) => {
                let opened = Arc::new(opened);
                *self.signing.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((sealed.blob, Arc::clone(&opened)));
                Ok(opened)
            }
            Err(error) => match kept {
                Some(keys) => {
                    tracing::warn!(%error, "the signing keys changed under a master key this \
                        process does not hold; signing with the previous keys until restarted");
                    Ok(keys)
                }
                None => Err(error.into()),
            },
        }
    }

    /// Records an event about `account` (or nobody), done from `client`.
    async fn record(
        &self,
        account: Option<&AccountId>,
        kind: EventKind,
        client: &ClientInfo,
        now: UnixTime,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let event = NewEvent {
            account_id: account.cloned(),
            actor_id: None,
            workspace_id: None,
            kind,
            at: now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details,
        };
        self.notifier.record(self.store(), &event).await
    }
}
