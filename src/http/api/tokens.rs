//! `/api/v1/me/tokens…`: the caller's API tokens (SPEC §14): creating one behind a proof
//! (shown once), listing and revoking them. A session only: a token cannot manage tokens.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webauthn_rs::prelude::PublicKeyCredential;

use crate::domain::api_token::ApiToken;
use crate::domain::password::Password;
use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo};
use crate::http::AppState;
use crate::signin::proof::Proof;

/// A token to create, and the proof that confirms it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// What the token is for (1 to 100 characters).
    pub name: String,
    /// How long it works, 1 to 365 days.
    pub expires_in_days: u32,
    /// The proof: the account password…
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Password>,
    /// …or a current authenticator code…
    pub code: Option<String>,
    /// …or an unused recovery code (it is used up)…
    pub recovery_code: Option<String>,
    /// …or the code of the latest `POST /me/email/proof` message…
    pub email_code: Option<String>,
    /// …or a security key or passkey's answer to the options of `POST /me/webauthn/proof`.
    #[schema(value_type = Option<Object>)]
    pub webauthn: Option<PublicKeyCredential>,
}

/// One of the caller's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Token id (public; used to revoke it).
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When it stops working.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
    /// When it was last used (to the minute); absent before its first use.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<UnixTime>,
}

impl From<ApiToken> for TokenView {
    fn from(token: ApiToken) -> Self {
        TokenView {
            id: token.id.0,
            name: token.name,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
        }
    }
}

/// A new token, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenResponse {
    /// The token, `dbt_…`: send it as `Authorization: Bearer …`. It is never shown again.
    pub token: String,
    /// The token as listed.
    #[serde(flatten)]
    pub view: TokenView,
}

/// The caller's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Newest first, expired ones included.
    pub tokens: Vec<TokenView>,
}

/// Creates an API token, after a proof. The owner is notified.
#[utoipa::path(post, path = "/me/tokens", tag = "me",
    security(("bearer" = [])),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, body = CreatedTokenResponse),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`confirmation_failed`, `token_not_allowed`",
         body = ErrorBody),
        (status = 422, description = "`invalid_body`: name or lifetime", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(request): AppJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedTokenResponse>), ApiError> {
    let proof = Proof {
        password: request.password,
        code: request.code,
        recovery_code: request.recovery_code,
        email_code: request.email_code,
        webauthn: request.webauthn,
    };
    let created = state
        .accounts
        .create_token(
            &auth.account,
            &request.name,
            request.expires_in_days,
            proof,
            &client,
            auth.now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenResponse {
            token: created.secret.expose().to_owned(),
            view: created.token.into(),
        }),
    ))
}

/// Lists the caller's API tokens.
#[utoipa::path(get, path = "/me/tokens", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TokenList),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`token_not_allowed`", body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<TokenList>, ApiError> {
    let tokens = state.accounts.tokens(&auth.account.id).await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(TokenView::from).collect(),
    }))
}

/// Revokes one of the caller's API tokens: once this answers, no node accepts it.
#[utoipa::path(delete, path = "/me/tokens/{id}", tag = "me",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`token_not_allowed`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such token of yours", body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .revoke_token(&auth.account.id, &id, &client, auth.now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
