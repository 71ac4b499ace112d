//! Relying parties: the configured ones synced at start, and those an instance admin
//! registers through the API or the CLI. A confidential client's secret is generated here
//! (256 bits), shown once and kept only as a keyed hash (`domain::oidc::client_secret_hash`);
//! a configured client's secret is read from its `client_secret_file` at start.

use serde_json::json;

use super::{Error, Provider};
use crate::config::{ClientAuthConfig, OidcConfig};
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::{AccountId, Token};
use crate::domain::oidc::{
    client_secret_hash, client_secret_matches, valid_client_id, valid_redirect_uri,
    SigningAlgorithm, MIN_CLIENT_SECRET_CHARS,
};
use crate::domain::time::UnixTime;
use crate::store::{ClientSource, LogoutQueue, OidcClient, Store, StoreError};

/// Why the configured clients could not be synced.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A `client_secret_file` could not be read, or holds too short a secret.
    #[error("oidc.clients[{index}].client_secret_file: {message}")]
    SecretFile {
        /// The client's position in the file.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The database failed, or a configured client has the id of one an admin registered.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// At start: the clients of `[[oidc.clients]]` become exactly the configured clients in the
/// database (added, changed or removed as the file now says); clients an admin registered
/// stay. `secret_key` keys the secrets' hashes.
pub async fn sync_configured_clients(
    store: &dyn Store,
    config: &OidcConfig,
    secret_key: &[u8; 32],
    now: UnixTime,
) -> Result<(), SyncError> {
    let mut clients = Vec::with_capacity(config.clients.len());
    for (index, client) in config.clients.iter().enumerate() {
        let secret_hash = match &client.auth {
            ClientAuthConfig::Public => None,
            ClientAuthConfig::SecretFile(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|error| SyncError::SecretFile {
                        index,
                        message: format!("{}: {error}", path.display()),
                    })?;
                let secret = text.trim();
                if secret.chars().count() < MIN_CLIENT_SECRET_CHARS {
                    return Err(SyncError::SecretFile {
                        index,
                        message: format!(
                            "{}: the secret must have at least {MIN_CLIENT_SECRET_CHARS} characters",
                            path.display()
                        ),
                    });
                }
                Some(client_secret_hash(secret_key, secret))
            }
        };
        clients.push(OidcClient {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            secret_hash,
            workspace_id: client.workspace.clone(),
            require_two_factor: client.require_two_factor,
            trusted: client.trusted,
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            id_token_alg: client.id_token_alg,
            source: ClientSource::Config,
            created_at: now,
        });
    }
    store.sync_configured_oidc_clients(&clients).await?;
    Ok(())
}

/// A client to register, as an admin describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    /// Its id: letters, digits, `.`, `_`, `-`.
    pub client_id: String,
    /// Shown on the consent page (the id when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Where codes may be sent; matched exactly.
    pub redirect_uris: Vec<String>,
    /// A public client: no secret, PKCE required. Otherwise a secret is generated.
    #[serde(default)]
    pub public: bool,
    /// The id of the workspace whose members alone may sign in.
    #[serde(default)]
    pub workspace: Option<String>,
    /// Everyone signs in with two factors.
    #[serde(default)]
    pub require_two_factor: bool,
    /// Consent is not asked.
    #[serde(default)]
    pub trusted: bool,
    /// Where RP-initiated logout may return to.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are sent.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// How its ID tokens are signed: `ES256` (default) or `EdDSA`.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
}

/// A registered client, with its secret the one time it is shown.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    /// The client.
    pub client: OidcClient,
    /// The generated secret (confidential clients), shown once.
    pub secret: Option<String>,
}

fn check_registration(registration: &ClientRegistration) -> Result<(), Error> {
    let bad = |message: &str| Err(Error::InvalidClientMetadata(message.to_owned()));
    if !valid_client_id(&registration.client_id) {
        return bad("client_id must be 1 to 100 letters, digits, `.`, `_` or `-`");
    }
    if registration.redirect_uris.is_empty()
        || !registration
            .redirect_uris
            .iter()
            .all(|u| valid_redirect_uri(u))
    {
        return bad("redirect_uris must list absolute http(s) URLs without a fragment");
    }
    if !registration
        .post_logout_redirect_uris
        .iter()
        .all(|u| valid_redirect_uri(u))
    {
        return bad("post_logout_redirect_uris must be absolute http(s) URLs");
    }
    if registration
        .backchannel_logout_uri
        .as_deref()
        .is_some_and(|u| !valid_redirect_uri(u))
    {
        return bad("backchannel_logout_uri must be an absolute http(s) URL");
    }
    if registration
        .name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().count() > 100)
    {
        return bad("name must be 1 to 100 characters");
    }
    Ok(())
}

impl Provider {
    /// Registers a client for an instance admin (`actor`, or nobody from the CLI); a
    /// confidential client's secret is generated and answered this once.
    pub async fn register_client(
        &self,
        actor: Option<&AccountId>,
        registration: &ClientRegistration,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<RegisteredClient, Error> {
        check_registration(registration)?;
        let id_token_alg = match registration.id_token_signed_response_alg.as_deref() {
            None => SigningAlgorithm::ES256,
            Some(name) => SigningAlgorithm::parse(name).ok_or_else(|| {
                Error::InvalidClientMetadata(
                    "id_token_signed_response_alg must be ES256 or EdDSA".to_owned(),
                )
            })?,
        };
        let secret = (!registration.public).then(Token::generate);
        let registered = OidcClient {
            client_id: registration.client_id.clone(),
            name: registration
                .name
                .clone()
                .unwrap_or_else(|| registration.client_id.clone()),
            redirect_uris: registration.redirect_uris.clone(),
            secret_hash: secret
                .as_ref()
                .map(|s| client_secret_hash(&self.secret_key, s.expose())),
            workspace_id: registration.workspace.clone(),
            require_two_factor: registration.require_two_factor,
            trusted: registration.trusted,
            post_logout_redirect_uris: registration.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: registration.backchannel_logout_uri.clone(),
            id_token_alg,
            source: ClientSource::Admin,
            created_at: now,
        };
        self.store().create_oidc_client(&registered).await?;
        let details = json!({"client_id": registered.client_id, "public": registration.public});
        self.record(actor, EventKind::OidcClientCreated, client, now, details)
            .await?;
        Ok(RegisteredClient {
            client: registered,
            secret: secret.map(|s| s.expose().to_owned()),
        })
    }

    /// Every client, by id.
    pub async fn clients(&self) -> Result<Vec<OidcClient>, Error> {
        Ok(self.store().list_oidc_clients().await?)
    }

    /// Every client, by id, with where its back-channel logouts stand (none when it was
    /// never sent one).
    pub async fn clients_with_logouts(
        &self,
    ) -> Result<Vec<(OidcClient, Option<LogoutQueue>)>, Error> {
        let clients = self.store().list_oidc_clients().await?;
        let mut queues = self.store().logout_queue().await?;
        Ok(clients
            .into_iter()
            .map(|client| {
                let queue = queues
                    .iter()
                    .position(|queue| queue.client_id == client.client_id)
                    .map(|at| queues.swap_remove(at));
                (client, queue)
            })
            .collect())
    }

    /// Removes a client an admin registered, with its consents, codes and tokens.
    pub async fn remove_client(
        &self,
        actor: Option<&AccountId>,
        client_id: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let found = self
            .store()
            .oidc_client(client_id)
            .await?
            .ok_or(Error::NotFound)?;
        if found.source == ClientSource::Config {
            return Err(Error::ConfiguredClient);
        }
        if !self.store().remove_oidc_client(client_id).await? {
            return Err(Error::NotFound);
        }
        let details = json!({"client_id": client_id});
        self.record(actor, EventKind::OidcClientRemoved, client, now, details)
            .await?;
        Ok(())
    }

    /// The client `client_id`, authenticated by `secret` when it is confidential (RFC 6749
    /// §2.3). Security: an unknown client and a wrong secret answer alike, and the secret
    /// is compared in constant time.
    pub(super) async fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<OidcClient, Error> {
        let found = self
            .store()
            .oidc_client(client_id)
            .await?
            .ok_or(Error::InvalidClient)?;
        match (&found.secret_hash, secret) {
            (None, None) => Ok(found),
            (Some(stored), Some(secret))
                if client_secret_matches(&self.secret_key, stored, secret) =>
            {
                Ok(found)
            }
            _ => Err(Error::InvalidClient),
        }
    }
}
