//! Who is signed in: a session (the browser cookie, or its token as a bearer) or an API token
//! (a bearer starting `dbt_`, SPEC §14), with the account and what the instance policy allows
//! it.
//!
//! The rule that an API token never changes security settings is kept here, in one place,
//! by type: [`Authenticated`] (a session, the default) refuses a live token with `403
//! token_not_allowed`, and only a handler that takes [`ApiCaller`] (a session or a token)
//! accepts one. So every route refuses tokens unless its handler says otherwise; the
//! security settings (two-factor, security keys, password, e-mail, tokens, sessions) and the
//! pages take [`Authenticated`]. `tests/api/tokens.rs` walks every route of the OpenAPI
//! document with a token.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::{client_info, peer, ClientInfo};
use crate::domain::account::{needs_touch, Account, Caller, Session};
use crate::domain::api_token::{ApiToken, ApiTokenSecret};
use crate::domain::ids::Token;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorSummary;
use crate::domain::workspace::{access, Access, Role, SecondFactors, Workspace};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::store::{SessionLookup, TokenLookup};

/// The browser session cookie; the same session as a bearer token.
pub const SESSION_COOKIE: &str = "deadbolt_session";

/// Routes a person blocked by the instance policy may still reach: their account, enrolment
/// and sign-out (the challenge needs no session).
const REACHABLE_WHEN_BLOCKED: &[&str] = &[
    "/api/v1/me",
    "/api/v1/me/two-factor/enrollment",
    "/api/v1/me/two-factor/enrollment/confirm",
    "/api/v1/me/two-factor/enrollment/qr.png",
    "/api/v1/sessions/current",
    "/api/v1/me/webauthn/registration",
    "/api/v1/me/webauthn/registration/finish",
];

/// How the caller signed in.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A session (cookie or bearer).
    Session(Session),
    /// An API token (bearer).
    Token(ApiToken),
}

/// The signed-in caller and its account, by `credential`: a [`Session`] (the default: what
/// security settings and pages take) or any [`Credential`] ([`ApiCaller`]). As an extractor,
/// `401 unauthenticated` when absent, unknown, or ended; `403 two_factor_required` when the
/// instance policy blocks the account and the route is not one it may still reach; and, for
/// a session only, `403 token_not_allowed` for a live API token.
#[derive(Debug, Clone)]
pub struct Authenticated<C = Session> {
    /// How the caller signed in.
    pub credential: C,
    /// Its account.
    pub account: Account,
    /// The account's second factors (two-factor is on when it has any).
    pub factors: SecondFactors,
    /// The account's authenticator, as `/me` shows it.
    pub two_factor: TwoFactorSummary,
    /// What the instance policy allows the account.
    pub instance_access: Access,
    /// The time the request was authenticated at.
    pub now: UnixTime,
}

/// A caller signed in with a session or an API token: what the API's ordinary routes take.
pub type ApiCaller = Authenticated<Credential>;

impl<C> Authenticated<C> {
    /// The caller as the account, workspace and admin operations take it.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            account: &self.account,
            factors: self.factors,
            now: self.now,
        }
    }

    /// Unused recovery codes, as `/me` shows them: none while two-factor is off.
    pub fn recovery_codes_remaining(&self) -> u32 {
        if self.factors.any() {
            self.two_factor.recovery_codes_remaining.unwrap_or(0)
        } else {
            0
        }
    }

    fn map<D>(self, credential: impl FnOnce(C) -> D) -> Authenticated<D> {
        Authenticated {
            credential: credential(self.credential),
            account: self.account,
            factors: self.factors,
            two_factor: self.two_factor,
            instance_access: self.instance_access,
            now: self.now,
        }
    }
}

/// Refuses anyone but an instance admin (`403 forbidden`).
pub fn admin_only<C>(auth: &Authenticated<C>) -> Result<(), ApiError> {
    if auth.account.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The bearer credential, if the request has an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The API token in the request: a bearer with the token prefix (never a cookie).
fn api_token(headers: &HeaderMap) -> Option<ApiTokenSecret> {
    bearer(headers).and_then(ApiTokenSecret::recognise)
}

/// The session token in the request: the bearer token, else the session cookie. An API
/// token given as the bearer finds no session.
pub fn session_token(headers: &HeaderMap) -> Option<Token> {
    if headers.contains_key(header::AUTHORIZATION) {
        return bearer(headers).map(Token::from_presented);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| Token::from_presented(value))
}

/// The account behind a credential, as a lookup found it.
struct Owner {
    account: Account,
    factors: SecondFactors,
    two_factor: TwoFactorSummary,
}

impl From<SessionLookup> for (Session, Owner) {
    fn from(found: SessionLookup) -> Self {
        let owner = Owner {
            account: found.account,
            factors: found.factors,
            two_factor: found.two_factor,
        };
        (found.session, owner)
    }
}

impl From<TokenLookup> for (ApiToken, Owner) {
    fn from(found: TokenLookup) -> Self {
        let owner = Owner {
            account: found.account,
            factors: found.factors,
            two_factor: found.two_factor,
        };
        (found.token, owner)
    }
}

/// Resolves the request's session, or `None` when there is no live one (an API token is
/// none).
pub async fn resolve_session(
    state: &AppState,
    headers: &HeaderMap,
    now: UnixTime,
) -> Result<Option<Authenticated>, ApiError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    // Security: the lookup is by SHA-256 digest on an indexed column, so the timing of a
    // miss reveals nothing useful about stored tokens.
    let Some(found) = state.store.session_by_token(&token.hash()).await? else {
        return Ok(None);
    };
    let (session, owner) = found.into();
    session_caller(state, session, owner, now).await
}

/// Resolves the request's session or API token, or `None` when there is no live one.
async fn resolve_credential(
    state: &AppState,
    headers: &HeaderMap,
    client: impl FnOnce() -> ClientInfo,
    now: UnixTime,
) -> Result<Option<ApiCaller>, ApiError> {
    let Some(secret) = api_token(headers) else {
        let found = resolve_session(state, headers, now).await?;
        return Ok(found.map(|auth| auth.map(Credential::Session)));
    };
    let hash = secret.hash(&state.recovery_key);
    let Some(found) = state.store.api_token_by_hash(&hash).await? else {
        return Ok(None);
    };
    let (token, owner) = found.into();
    token_caller(state, token, owner, client, now).await
}

/// The request's session or API token with the account's membership of `workspace`, in
/// one query (for forward-auth); `None` when there is no live one.
pub async fn resolve_credential_in(
    state: &AppState,
    headers: &HeaderMap,
    workspace: &str,
    client: impl FnOnce() -> ClientInfo,
    now: UnixTime,
) -> Result<Option<(ApiCaller, Option<(Workspace, Role)>)>, ApiError> {
    if let Some(secret) = api_token(headers) {
        let hash = secret.hash(&state.recovery_key);
        let store = &state.store;
        let Some(found) = store.api_token_in_workspace(&hash, workspace).await? else {
            return Ok(None);
        };
        let ((token, owner), membership): ((ApiToken, Owner), _) =
            (found.found.into(), found.membership);
        let auth = token_caller(state, token, owner, client, now).await?;
        return Ok(auth.map(|auth| (auth, membership)));
    }
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let store = &state.store;
    let Some(found) = store.session_in_workspace(&token.hash(), workspace).await? else {
        return Ok(None);
    };
    let ((session, owner), membership): ((Session, Owner), _) =
        (found.found.into(), found.membership);
    let auth = session_caller(state, session, owner, now).await?;
    Ok(auth.map(|auth| (auth.map(Credential::Session), membership)))
}

/// Checks a looked-up session's lifetimes (deleting an ended one), records its use at most
/// once a minute, and applies the instance policy.
async fn session_caller(
    state: &AppState,
    session: Session,
    owner: Owner,
    now: UnixTime,
) -> Result<Option<Authenticated>, ApiError> {
    if owner.account.is_suspended() {
        // Suspending ends every session; this one was minted by a sign-in that raced the
        // suspension. It is honoured nowhere (API, pages, forward-auth).
        return Ok(None);
    }
    if !state.config.sessions.is_live(&session, now) {
        state
            .store
            .delete_session(&session.account_id, &session.id)
            .await?;
        return Ok(None);
    }
    if needs_touch(&session, now) {
        state.store.touch_session(&session.id, now).await?;
    }
    signed_in(state, session, owner, now).await.map(Some)
}

/// Checks a looked-up API token's expiry, records its use at most once a minute (its first
/// use is an event), and applies the instance policy.
async fn token_caller(
    state: &AppState,
    token: ApiToken,
    owner: Owner,
    client: impl FnOnce() -> ClientInfo,
    now: UnixTime,
) -> Result<Option<ApiCaller>, ApiError> {
    if owner.account.is_suspended() || !token.is_live(now) {
        return Ok(None);
    }
    if token.needs_touch(now) {
        state.accounts.token_used(&token, &client(), now).await?;
    }
    signed_in(state, Credential::Token(token), owner, now)
        .await
        .map(Some)
}

/// The caller signed in with `credential`, under the instance policy.
async fn signed_in<C>(
    state: &AppState,
    credential: C,
    owner: Owner,
    now: UnixTime,
) -> Result<Authenticated<C>, ApiError> {
    let policy = state.store.instance_policy().await?;
    let requirement = policy.and_then(|p| p.requirement_for(owner.account.is_admin));
    Ok(Authenticated {
        instance_access: access(requirement, owner.factors, now),
        credential,
        account: owner.account,
        factors: owner.factors,
        two_factor: owner.two_factor,
        now,
    })
}

/// `403 two_factor_required` when the instance policy blocks the caller on this route.
fn reachable<C>(auth: &Authenticated<C>, parts: &Parts) -> Result<(), ApiError> {
    if let Access::Blocked { deadline } = auth.instance_access {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        if !route.is_some_and(|route| REACHABLE_WHEN_BLOCKED.contains(&route)) {
            return Err(ApiError::TwoFactorRequired {
                deadline: Some(deadline),
            });
        }
    }
    Ok(())
}

/// The caller's client, for the event of a token's first use.
fn client_of<'a>(parts: &'a Parts, state: &'a AppState) -> impl FnOnce() -> ClientInfo + 'a {
    move || client_info(&parts.headers, peer(parts), state)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        if api_token(&parts.headers).is_some() {
            // Security: security settings and pages take a session only. A live token is told
            // so; anything else is simply not signed in.
            let found = resolve_credential(state, &parts.headers, client_of(parts, state), now);
            return Err(match found.await? {
                Some(_) => ApiError::TokenNotAllowed,
                None => ApiError::Unauthenticated,
            });
        }
        let auth = resolve_session(state, &parts.headers, now)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        reachable(&auth, parts)?;
        Ok(auth)
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let auth = resolve_credential(state, &parts.headers, client_of(parts, state), now)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        reachable(&auth, parts)?;
        Ok(auth)
    }
}
