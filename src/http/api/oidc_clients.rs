//! OpenID Connect clients for instance admins (SPEC §12): listing, registering (a
//! confidential client's secret is answered once and kept only as a keyed hash) and
//! removing. The operations are [`crate::oidc::Provider`]'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{admin_only, ApiCaller, AppJson, ClientInfo};
use crate::http::AppState;
use crate::oidc::ClientRegistration;
use crate::store::{LogoutQueue, OidcClient};

/// A client as an admin sees it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    /// Its id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// No secret; PKCE required.
    pub public: bool,
    /// The workspace whose members alone it admits.
    pub workspace: Option<String>,
    /// Everyone signs in with two factors.
    pub require_two_factor: bool,
    /// Consent is not asked.
    pub trusted: bool,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens go.
    pub backchannel_logout_uri: Option<String>,
    /// `ES256` or `EdDSA`.
    pub id_token_signed_response_alg: &'static str,
    /// `config` (`[[oidc.clients]]`) or `admin`.
    pub source: &'static str,
    /// When it was registered (or last synced from the file).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// Where the logout tokens queued for it stand (absent when none was ever queued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logouts: Option<LogoutQueueView>,
}

/// Where a client's back-channel logouts stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutQueueView {
    /// Not delivered yet, still tried.
    pub waiting: i64,
    /// Given up after every attempt failed.
    pub abandoned: i64,
    /// Delivered.
    pub delivered: i64,
    /// The latest failure of a logout not delivered.
    pub last_error: Option<String>,
}

impl From<LogoutQueue> for LogoutQueueView {
    fn from(queue: LogoutQueue) -> Self {
        LogoutQueueView {
            waiting: queue.waiting,
            abandoned: queue.abandoned,
            delivered: queue.delivered,
            last_error: queue.last_error,
        }
    }
}

impl From<OidcClient> for ClientView {
    fn from(client: OidcClient) -> Self {
        ClientView {
            public: client.is_public(),
            client_id: client.client_id,
            name: client.name,
            redirect_uris: client.redirect_uris,
            workspace: client.workspace_id,
            require_two_factor: client.require_two_factor,
            trusted: client.trusted,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            backchannel_logout_uri: client.backchannel_logout_uri,
            id_token_signed_response_alg: client.id_token_alg.as_str(),
            source: client.source.as_str(),
            created_at: client.created_at,
            backchannel_logouts: None,
        }
    }
}

/// The clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientsView {
    /// By id.
    pub clients: Vec<ClientView>,
}

/// A client just registered, with its secret this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    /// The client.
    #[serde(flatten)]
    pub client: ClientView,
    /// The generated secret of a confidential client: shown once, never again.
    pub client_secret: Option<String>,
}

/// Every client (instance admins).
#[utoipa::path(get, path = "/admin/oidc/clients", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = ClientsView),
              (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_clients(
    State(state): State<AppState>,
    auth: ApiCaller,
) -> Result<Json<ClientsView>, ApiError> {
    admin_only(&auth)?;
    let clients = state.oidc.clients_with_logouts().await?;
    Ok(Json(ClientsView {
        clients: clients
            .into_iter()
            .map(|(client, queue)| ClientView {
                backchannel_logouts: queue.map(LogoutQueueView::from),
                ..ClientView::from(client)
            })
            .collect(),
    }))
}

/// Registers a client (instance admins); a confidential client's secret is in this answer
/// only.
#[utoipa::path(post, path = "/admin/oidc/clients", tag = "admin",
    security(("bearer" = [])),
    request_body = ClientRegistration,
    responses((status = 201, body = CreatedClient),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 409, description = "`client_exists`", body = ErrorBody),
              (status = 422, description = "`invalid_client_metadata`, `invalid_body`", body = ErrorBody)))]
pub async fn create_client(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    AppJson(registration): AppJson<ClientRegistration>,
) -> Result<(StatusCode, Json<CreatedClient>), ApiError> {
    admin_only(&auth)?;
    let registered = state
        .oidc
        .register_client(Some(&auth.account.id), &registration, &client, auth.now)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedClient {
            client: registered.client.into(),
            client_secret: registered.secret,
        }),
    ))
}

/// Removes a client an admin registered, with its consents, codes and tokens (instance
/// admins); a configured one is removed from the file.
#[utoipa::path(delete, path = "/admin/oidc/clients/{client_id}", tag = "admin",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    responses((status = 204),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody),
              (status = 409, description = "`configured_client`", body = ErrorBody)))]
pub async fn remove_client(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin_only(&auth)?;
    state
        .oidc
        .remove_client(Some(&auth.account.id), &client_id, &client, auth.now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
