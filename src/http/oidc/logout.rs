//! `GET /oauth2/logout` (RP-Initiated Logout 1.0, the `end_session_endpoint`) and its
//! confirmation form's `POST /oauth2/logout`. Handlers extract, call
//! [`crate::oidc::Provider::end_session`] and shape the answer: a redirect (to the client's
//! registered `post_logout_redirect_uri` with `state`, or to `/login?signed_out=1`) dropping
//! the session cookie, or the confirmation page, whose form may lead to exactly the origin
//! of that URI (CSP `form-action`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::extract::{resolve_session, session_token, Authenticated};
use crate::http::middleware::FormActionOrigin;
use crate::http::pages::csrf::{self, PageForm};
use crate::http::pages::error::PageError;
use crate::http::pages::{cookies, render_with, see_other};
use crate::http::AppState;
use crate::oidc::{CurrentSession, LogoutRequest, LogoutStep};

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    email: String,
    request: String,
    csrf: String,
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    /// The logout request, as the page received it.
    request: String,
}

fn current(auth: &Authenticated) -> CurrentSession<'_> {
    CurrentSession {
        account: &auth.account.id,
        session: &auth.credential.id,
    }
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    request: LogoutRequest,
    confirmed: bool,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let auth = resolve_session(state, headers, now).await?;
    let step = state
        .oidc
        .end_session(&request, auth.as_ref().map(current), confirmed, now)
        .await
        .map_err(ApiError::from)?;
    match (step, auth) {
        (LogoutStep::Done(redirect), auth) => {
            let to = redirect.map_or_else(|| "/login?signed_out=1".to_owned(), String::from);
            let mut response = see_other(&to);
            if auth.is_some() {
                cookies::clear_session(&mut response, &state.config.public_url);
            }
            Ok(response)
        }
        (LogoutStep::Confirm(redirect), Some(auth)) => {
            let csrf = session_token(headers)
                .map(|token| csrf::for_session(token.expose()))
                .unwrap_or_default();
            let page = LogoutPage {
                email: auth.account.email.as_str().to_owned(),
                request: request.query(),
                csrf,
            };
            let mut response = render_with(StatusCode::OK, &page)?;
            if let Some(origin) = redirect.as_ref().and_then(FormActionOrigin::of) {
                response.extensions_mut().insert(origin);
            }
            Ok(response)
        }
        (LogoutStep::Confirm(_), None) => Err(PageError::Api(ApiError::Unauthenticated)),
    }
}

/// `GET /oauth2/logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(request): Query<LogoutRequest>,
) -> Result<Response, PageError> {
    answer(&state, &headers, request, false).await
}

/// `POST /oauth2/logout`: the person confirmed.
pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm<LogoutForm>,
) -> Result<Response, PageError> {
    let request: LogoutRequest =
        serde_urlencoded::from_str(&form.request).map_err(|_| PageError::BadForm)?;
    answer(&state, &headers, request, true).await
}
