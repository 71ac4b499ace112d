//! `/login`, `/signup` and `/logout`. Signing in goes through the sign-in flow
//! ([`crate::signin`]) as the API's `POST /api/v1/sessions` does: the same throttles, the
//! same uniform cost for an unknown address and a wrong password, the same challenge and
//! events. On success the browser gets a new session cookie and any session it held
//! before is ended.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::config::SignupMode;
use crate::domain::password::Password;
use crate::http::error::ApiError;
use crate::http::extract::{resolve_session, ClientInfo};
use crate::http::pages::csrf::{self, EmptyForm, PageForm};
use crate::http::pages::email;
use crate::http::pages::entry::{
    after_first_factor, allow_forms_to, login_page, safe_next, with_csrf_cookie, with_next,
};
use crate::http::pages::error::PageError;
use crate::http::pages::viewer::Viewer;
use crate::http::pages::{cookies, render_with, see_other, Flash};
use crate::http::AppState;
use crate::signin::Step;

/// `?next=` (where to go after signing in), and `?signed_out` or `?password_reset` (what
/// the sign-in page says above its form).
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    /// Sign in again even with a live session (an application asked: `prompt=login`,
    /// `max_age`, or a second factor the session lacks).
    fresh: Option<String>,
    signed_out: Option<String>,
    password_reset: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    flash: Option<Flash>,
    csrf: String,
    email: String,
    name: String,
    open: bool,
    next: String,
    login_href: String,
    sends_email: bool,
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// The sign-up form's fields.
#[derive(Debug, Deserialize)]
pub struct SignupForm {
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// The first factor through the sign-in flow, counted like the API's.
async fn with_password(
    state: &AppState,
    email: &str,
    password: Password,
    client: &ClientInfo,
) -> Result<Step, ApiError> {
    let now = state.clock.now();
    let step = state
        .signin
        .with_password(email, password, client, now)
        .await;
    state.metrics.sign_in_step(&step);
    Ok(step?)
}

/// `GET /login`; someone already signed in goes straight on.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let next = query.next.unwrap_or_default();
    if query.fresh.is_none()
        && resolve_session(&state, &headers, state.clock.now())
            .await?
            .is_some()
    {
        return Ok(see_other(safe_next(&state, &next).location()));
    }
    let flash = match (query.signed_out, query.password_reset) {
        (_, Some(_)) => Some(Flash::Ok(
            "Your password was reset and every session signed out. Sign in with the new one."
                .to_owned(),
        )),
        (Some(_), None) => Some(Flash::Ok("You are signed out.".to_owned())),
        (None, None) => None,
    };
    login_page(&state, &headers, StatusCode::OK, flash, String::new(), next).await
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    let password = Password::new(form.password);
    match with_password(&state, &form.email, password, &client).await {
        Ok(step) => after_first_factor(&state, &headers, step, &form.next).await,
        Err(
            error @ (ApiError::InvalidCredentials
            | ApiError::AccountSuspended
            | ApiError::TooManyAttempts { .. }),
        ) => {
            let (status, _, _) = error.parts();
            let flash = Some(Flash::from_error(&error));
            login_page(&state, &headers, status, flash, form.email, form.next).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn signup_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    flash: Option<Flash>,
    form: SignupForm,
) -> Result<Response, PageError> {
    let (token, fresh) = csrf::pre_session(headers);
    let mut response = render_with(
        status,
        &SignupPage {
            flash,
            csrf: token.clone(),
            email: form.email,
            name: form.name,
            open: state.config.signup == SignupMode::Open,
            login_href: with_next("/login", &form.next),
            next: form.next.clone(),
            sends_email: state.signin.sends_email(),
        },
    )?;
    allow_forms_to(state, &mut response, &form.next).await;
    Ok(with_csrf_cookie(state, response, &token, fresh))
}

/// `GET /signup`, with `?next=` to go on to afterwards (an invitation link, say).
pub async fn show_signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let form = SignupForm {
        email: String::new(),
        name: String::new(),
        password: String::new(),
        next: query.next.unwrap_or_default(),
    };
    signup_page(&state, &headers, StatusCode::OK, None, form).await
}

/// `POST /signup`: creates the account (as the API does) and signs it in.
pub async fn submit_signup(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<SignupForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim();
    let name = (!name.is_empty()).then_some(name);
    // An empty password asks for an account without one (it signs in by e-mail).
    let password = (!form.password.is_empty()).then(|| Password::new(form.password.clone()));
    let passwordless = password.is_none();
    let now = state.clock.now();
    let signed_up = state
        .accounts
        .sign_up(&form.email, name, password, &client, now);
    if let Err(error) = signed_up.await {
        let error = ApiError::from(error);
        let (status, _, _) = error.parts();
        let flash = Some(Flash::from_error(&error));
        let form = SignupForm {
            password: String::new(),
            ..form
        };
        return signup_page(&state, &headers, status, flash, form).await;
    }
    if passwordless {
        return email::code_page(&state, &headers, form.email.trim(), &form.next);
    }
    let password = Password::new(form.password);
    let step = with_password(&state, &form.email, password, &client).await?;
    after_first_factor(&state, &headers, step, &form.next).await
}

/// `POST /logout`: ends the session on the server and drops the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let auth = viewer.auth;
    state
        .store
        .delete_session(&auth.account.id, &auth.credential.id)
        .await?;
    let mut response = see_other("/login?signed_out=1");
    cookies::clear_session(&mut response, &state.config.public_url);
    Ok(response)
}
