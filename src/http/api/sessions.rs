//! Signing in and out: `POST /sessions`, `GET /sessions`, `DELETE /sessions/current`,
//! `DELETE /sessions/{id}`.
//!
//! Security: an unknown e-mail and a wrong password give the same answer at the same cost
//! (the password is verified against a dummy hash), and are throttled under the same key
//! (the typed address), so throttling reveals nothing either.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::ids::{SessionId, Token};
use crate::domain::password::Password;
use crate::domain::throttle::{ADDRESS_WINDOW, PASSWORD_BACKOFF};
use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo};
use crate::http::metrics::SignInOutcome;
use crate::http::throttling::{begin_attempt, Rule};
use crate::http::AppState;
use crate::store::NewSession;

/// E-mail and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The account's e-mail address (any case).
    pub email: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
}

/// A new session's public part.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionSummary {
    /// Session id (for listing and revoking; not a credential).
    pub id: String,
    /// When it ends at the latest.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
}

/// The result of a sign-in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignInResponse {
    /// Signed in.
    Authenticated {
        /// Bearer token: send as `Authorization: Bearer TOKEN`. Shown once.
        token: String,
        /// The session.
        session: SessionSummary,
    },
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// When it began.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When it was last used (to the minute).
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: UnixTime,
    /// When it ends if unused.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
    /// Client address at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// Throttling key for password guesses against one typed address.
fn password_key(email: &str) -> String {
    format!("password:{}", email.trim().to_lowercase())
}

/// Throttling key for password failures from one client address.
fn address_key(client: &ClientInfo) -> String {
    format!("password-ip:{}", client.ip.as_deref().unwrap_or("unknown"))
}

/// Creates a session for `account` and returns its token (shown once).
pub async fn start_session(
    state: &AppState,
    account: &Account,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<(Token, Session), ApiError> {
    let token = Token::generate();
    let session = Session {
        id: SessionId::generate(),
        account_id: account.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: state.config.sessions.absolute_end(now),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
    };
    state
        .store
        .create_session(&NewSession {
            session: session.clone(),
            token_hash: token.hash(),
        })
        .await?;
    Ok((token, session))
}

/// Checks an e-mail and password under the throttling rules. Returns the account when
/// they match; counts a failure otherwise.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: Password,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Account, ApiError> {
    let store = state.store.as_ref();
    let by_address = address_key(client);
    let by_account = password_key(email);
    begin_attempt(store, &by_address, Rule::Window(ADDRESS_WINDOW), now).await?;
    if let Err(throttled) =
        begin_attempt(store, &by_account, Rule::Backoff(PASSWORD_BACKOFF), now).await
    {
        store.refund_failure(&by_address).await?;
        return Err(throttled);
    }
    let account = match Email::parse(email) {
        Ok(email) => store.account_by_email(&email).await?,
        Err(_) => None,
    };
    let stored_hash = account.as_ref().map(|a| a.password_hash.clone());
    if !state.passwords.verify(password, stored_hash).await {
        return Err(ApiError::InvalidCredentials);
    }
    store.clear_failures(&by_account).await?;
    store.refund_failure(&by_address).await?;
    account.ok_or(ApiError::InvalidCredentials)
}

/// Signs in with e-mail and password.
#[utoipa::path(post, path = "/sessions", tag = "sessions",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in", body = SignInResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`",
         body = ErrorBody)))]
pub async fn create_session(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<SignInRequest>,
) -> Result<(StatusCode, Json<SignInResponse>), ApiError> {
    let now = state.clock.now();
    let account = match check_password(&state, &request.email, request.password, &client, now).await
    {
        Ok(account) => account,
        Err(error) => {
            let outcome = match error {
                ApiError::TooManyAttempts { .. } => SignInOutcome::throttled,
                _ => SignInOutcome::invalid_credentials,
            };
            state.metrics.sign_in(outcome);
            return Err(error);
        }
    };
    let (token, session) = start_session(&state, &account, &client, now).await?;
    state.metrics.sign_in(SignInOutcome::success);
    Ok((
        StatusCode::CREATED,
        Json(SignInResponse::Authenticated {
            token: token.expose().to_owned(),
            session: SessionSummary {
                id: session.id.0,
                expires_at: session.expires_at,
            },
        }),
    ))
}

/// Lists the caller's sessions.
#[utoipa::path(get, path = "/sessions", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SessionList),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<SessionList>, ApiError> {
    let lifetimes = state.config.sessions;
    let sessions = state
        .store
        .list_sessions(&auth.account.id)
        .await?
        .into_iter()
        .filter(|session| lifetimes.is_live(session, auth.now))
        .map(|session| SessionView {
            current: session.id == auth.session.id,
            expires_at: lifetimes.ends_at(&session),
            id: session.id.0,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            ip: session.ip,
            user_agent: session.user_agent,
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// Signs out: ends the session making the request.
#[utoipa::path(delete, path = "/sessions/current", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub async fn delete_current_session(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_session(&auth.account.id, &auth.session.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes one of the caller's sessions.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session of yours", body = ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_session(&auth.account.id, &SessionId(id))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
