//! What the sign-in pages (`/login`, `/login/two-factor`, `/signup`) share: the sign-in
//! form, where to go after signing in, and finishing a sign-in in the browser.

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::config::SignupMode;
use crate::domain::time::UnixTime;
use crate::http::extract::session_token;
use crate::http::middleware::FormActionOrigin;
use crate::http::pages::csrf;
use crate::http::pages::destination::Destination;
use crate::http::pages::error::PageError;
use crate::http::pages::{cookies, render_with, see_other, Flash};
use crate::http::AppState;
use crate::signin::Step;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    flash: Option<Flash>,
    csrf: String,
    next: String,
    email: String,
    signup_open: bool,
    signup_href: String,
    invitation: bool,
    sends_email: bool,
    passkeys: bool,
}

/// Where to go after signing in; see [`Destination`].
pub fn safe_next(state: &AppState, next: &str) -> Destination {
    Destination::parse(&state.config.public_url, next)
}

/// Lets the page's forms lead on to `next`'s origin (CSP `form-action`), since the
/// redirect after the form goes there: an application's on this host (forward-auth), or,
/// when `next` is an OpenID Connect authorization request, exactly the origin of the
/// redirect URI its client registered (the request's redirect ends there).
pub async fn allow_forms_to(state: &AppState, response: &mut Response, next: &str) {
    let origin = match safe_next(state, next).form_action_origin() {
        Some(origin) => Some(origin),
        None => match state.oidc.redirect_of(next).await {
            Ok(redirect) => redirect.as_ref().and_then(FormActionOrigin::of),
            Err(error) => {
                tracing::warn!(%error, "could not read the client of an authorization request");
                None
            }
        },
    };
    if let Some(origin) = origin {
        response.extensions_mut().insert(origin);
    }
}

/// `path`, carrying `next` along when there is one (between sign-in and sign-up).
pub(super) fn with_next(path: &str, next: &str) -> String {
    if next.is_empty() {
        return path.to_owned();
    }
    format!(
        "{path}?next={}",
        percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// Whether `next` is an invitation link (the sign-in page then says why it is asked).
fn is_invitation(next: &str) -> bool {
    next.starts_with("/invitations/")
}

/// Completes a sign-in: ends the browser's previous session, sets the new session's
/// cookie, drops the challenge cookie and goes on to `next`.
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    expires_at: UnixTime,
    next: &str,
) -> Result<Response, PageError> {
    if let Some(previous) = session_token(headers) {
        if let Some(found) = state.store.session_by_token(&previous.hash()).await? {
            let session = found.session;
            state
                .store
                .delete_session(&session.account_id, &session.id)
                .await?;
        }
    }
    let public_url = &state.config.public_url;
    let mut response = see_other(safe_next(state, next).location());
    cookies::set_session(
        &mut response,
        public_url,
        token,
        state.clock.now(),
        expires_at,
    );
    cookies::clear_challenge(&mut response, public_url);
    Ok(response)
}

/// Continues after a first factor (a password, or an e-mailed link or code) was accepted:
/// signed in, or on to the challenge.
pub async fn after_first_factor(
    state: &AppState,
    headers: &HeaderMap,
    step: Step,
    next: &str,
) -> Result<Response, PageError> {
    match step {
        Step::Success(done) => {
            let token = done.token.expose();
            signed_in(state, headers, token, done.session.expires_at, next).await
        }
        Step::Continue(challenge) => {
            let mut response = see_other(&with_next("/login/two-factor", next));
            let token = challenge.token.expose();
            cookies::set_challenge(&mut response, &state.config.public_url, token);
            Ok(response)
        }
    }
}

/// Sets the pre-session CSRF cookie on `response` when `token` is new.
pub(super) fn with_csrf_cookie(
    state: &AppState,
    mut response: Response,
    token: &str,
    fresh: bool,
) -> Response {
    if fresh {
        cookies::set_csrf(&mut response, &state.config.public_url, token);
    }
    response
}

/// The sign-in form, with a message and the fields to keep.
pub async fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    flash: Option<Flash>,
    email: String,
    next: String,
) -> Result<Response, PageError> {
    let (token, fresh) = csrf::pre_session(headers);
    let mut response = render_with(
        status,
        &LoginPage {
            flash,
            csrf: token.clone(),
            next: next.clone(),
            email,
            signup_open: state.config.signup == SignupMode::Open,
            signup_href: with_next("/signup", &next),
            invitation: is_invitation(&next),
            sends_email: state.signin.sends_email(),
            passkeys: state.signin.webauthn_available(),
        },
    )?;
    allow_forms_to(state, &mut response, &next).await;
    Ok(with_csrf_cookie(state, response, &token, fresh))
}
