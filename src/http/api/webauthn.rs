//! `/api/v1/me/webauthn…`: a person's security keys and passkeys (SPEC §13): registering
//! (options, then the browser's answer), listing, renaming and removing behind a proof.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::accounts::webauthn::CredentialView;
use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo, MaybeJson};
use crate::http::AppState;
use crate::signin::proof::Proof;

/// A registered security key or passkey.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialResponse {
    /// Its id.
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// When it was registered.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When it was last used.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<UnixTime>,
}

impl From<CredentialView> for CredentialResponse {
    fn from(view: CredentialView) -> Self {
        CredentialResponse {
            id: view.id,
            name: view.name,
            created_at: view.created_at,
            last_used_at: view.last_used_at,
        }
    }
}

/// The account's security keys and passkeys.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsResponse {
    /// Oldest first.
    pub credentials: Vec<CredentialResponse>,
}

/// The browser's answer to the registration options, and a name for the credential.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistrationRequest {
    /// 1 to 64 characters.
    pub name: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON (binary
    /// fields in base64url).
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
}

/// A credential registered.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredResponse {
    /// The credential.
    pub credential: CredentialResponse,
    /// Recovery codes, shown this once, when this is the account's first second factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// 1 to 64 characters.
    pub name: String,
}

/// The account's security keys and passkeys.
#[utoipa::path(get, path = "/me/webauthn", tag = "webauthn",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CredentialsResponse),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn list_credentials(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<CredentialsResponse>, ApiError> {
    let credentials = state
        .accounts
        .webauthn_credentials(&auth.account.id)
        .await?;
    Ok(Json(CredentialsResponse {
        credentials: credentials.into_iter().map(Into::into).collect(),
    }))
}

/// Starts registering a security key or passkey: the options to pass to
/// `navigator.credentials.create()` (`{"publicKey": …}`), good for 5 minutes and once.
#[utoipa::path(post, path = "/me/webauthn/registration", tag = "webauthn",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Object),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 409, description = "`webauthn_unavailable`", body = ErrorBody)))]
pub async fn start_registration(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let options = state
        .accounts
        .start_webauthn_registration(&auth.account, auth.now)
        .await?;
    Ok(Json(options))
}

/// Finishes registering: the browser's answer, checked against the options it answers
/// (which it uses up), is stored under its name. The account's first second factor turns
/// two-factor on and comes with recovery codes, shown once.
#[utoipa::path(post, path = "/me/webauthn/registration/finish", tag = "webauthn",
    security(("bearer" = [])),
    request_body = FinishRegistrationRequest,
    responses(
        (status = 201, body = RegisteredResponse),
        (status = 401, description = "`invalid_webauthn`", body = ErrorBody),
        (status = 409, description = "`invalid_ceremony`, `credential_exists`", body = ErrorBody),
        (status = 422, description = "`invalid_body`: the name", body = ErrorBody)))]
pub async fn finish_registration(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(request): AppJson<FinishRegistrationRequest>,
) -> Result<(StatusCode, Json<RegisteredResponse>), ApiError> {
    let registration = state
        .accounts
        .finish_webauthn_registration(
            &auth.account,
            &request.name,
            &request.credential,
            &client,
            auth.now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredResponse {
            credential: registration.credential.into(),
            recovery_codes: registration.recovery_codes,
        }),
    ))
}

/// Renames a security key or passkey.
#[utoipa::path(patch, path = "/me/webauthn/{id}", tag = "webauthn",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Credential id")),
    request_body = RenameRequest,
    responses(
        (status = 204, description = "Renamed"),
        (status = 404, description = "`not_found`: no such credential of yours", body = ErrorBody),
        (status = 422, description = "`invalid_body`: the name", body = ErrorBody)))]
pub async fn rename_credential(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    AppJson(request): AppJson<RenameRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .rename_webauthn_credential(&auth.account.id, &id, &request.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a security key or passkey, after a proof.
#[utoipa::path(delete, path = "/me/webauthn/{id}", tag = "webauthn",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Credential id")),
    request_body(content = Proof, description = "A proof"),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`confirmation_failed`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such credential of yours", body = ErrorBody)))]
pub async fn remove_credential(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path(id): Path<String>,
    MaybeJson(proof): MaybeJson<Proof>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .remove_webauthn_credential(
            &auth.account,
            &id,
            proof.unwrap_or_default(),
            &client,
            auth.now,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The options for confirming a change with a security key or passkey: pass them to
/// `navigator.credentials.get()` and give its answer as the proof `{"webauthn": …}`; good
/// for 5 minutes and once.
#[utoipa::path(post, path = "/me/webauthn/proof", tag = "webauthn",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Object),
        (status = 409, description = "`not_enabled`: no security key; `webauthn_unavailable`",
         body = ErrorBody)))]
pub async fn start_proof(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let options = state
        .signin
        .start_webauthn_proof(&auth.account.id, auth.now)
        .await?;
    Ok(Json(options))
}
