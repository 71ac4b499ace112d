//! The pages of SPEC §11 that a message leads to, or that send one: signing in by e-mail
//! (`/login/email`, `/login/email/code`, `/login/email/{token}`), confirming an address
//! (`/verify-email/{token}`), and a forgotten password (`/forgot-password`,
//! `/reset-password/{token}`). Each calls the operation the API calls.
//!
//! Security: a link's page is prefetch-safe. Its GET only reads (whose the link is, to say
//! so) and shows one button; only that button's POST spends the link, so a mail scanner
//! that opens links consumes nothing. Every form carries a CSRF token.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::domain::email_token::Purpose;
use crate::domain::password::Password;
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::entry::after_first_factor;
use crate::http::pages::error::PageError;
use crate::http::pages::step::{cannot_send, invalid_link, Field, LinkForm, StepPage};
use crate::http::pages::{see_other, Flash};
use crate::http::AppState;

/// An address typed into a form.
#[derive(Debug, Deserialize)]
pub struct EmailForm {
    email: String,
    #[serde(default)]
    next: String,
}

/// An address and the code of the message sent to it.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    email: String,
    code: String,
    #[serde(default)]
    next: String,
}

/// A new password.
#[derive(Debug, Deserialize)]
pub struct NewPasswordForm {
    new_password: String,
}

fn ask_for_sign_in_link(state: &AppState, email: String, next: &str) -> StepPage {
    let page = StepPage::new("Sign in by e-mail")
        .say("For an account without a password: we e-mail you a link and a code.")
        .next(next)
        .link("/login", "Sign in with a password instead");
    if !state.signin.sends_email() {
        return cannot_send(page);
    }
    page.form(
        "/login/email".to_owned(),
        vec![Field::email(email)],
        "E-mail me a sign-in link",
    )
}

fn type_the_code(email: &str, next: &str) -> StepPage {
    StepPage::new("Check your e-mail")
        .say(format!(
            "If {email} belongs to an account without a password, a sign-in link and a code \
             are on their way. Open the link, or type the code here. Both work once, for 15 \
             minutes."
        ))
        .form(
            "/login/email/code".to_owned(),
            vec![Field::hidden("email", email.to_owned()), Field::code()],
            "Sign in",
        )
        .next(next)
        .link("/login/email", "Send a new link")
}

/// The page asking for the code of the sign-in message just sent to `email` (after sign-up
/// without a password, too).
pub(super) fn code_page(
    state: &AppState,
    headers: &HeaderMap,
    email: &str,
    next: &str,
) -> Result<Response, PageError> {
    type_the_code(email, next).render(state, headers, StatusCode::OK)
}

/// `GET /login/email`.
pub async fn show_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    ask_for_sign_in_link(&state, String::new(), "").render(&state, &headers, StatusCode::OK)
}

/// `POST /login/email`: sends the link and code (or, for any other address, does the same
/// work and sends nothing), then asks for the code.
pub async fn send_sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<EmailForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let sent = state
        .signin
        .request_email_sign_in(&form.email, &client, now)
        .await;
    match sent.map_err(ApiError::from) {
        Ok(()) => code_page(&state, &headers, form.email.trim(), &form.next),
        Err(error @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => Err(error.into()),
        Err(error) => {
            let status = error.parts().0;
            ask_for_sign_in_link(&state, form.email, &form.next)
                .flash(Some(Flash::from_error(&error)))
                .render(&state, &headers, status)
        }
    }
}

/// `POST /login/email/code`: signs in with the typed code, as the API does.
pub async fn sign_in_with_code(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let step = state
        .signin
        .with_email_code(&form.email, &form.code, &client, now)
        .await;
    state.metrics.sign_in_step(&step);
    match step.map_err(ApiError::from) {
        Ok(step) => after_first_factor(&state, &headers, step, &form.next).await,
        Err(
            error @ (ApiError::InvalidEmailCode
            | ApiError::AccountSuspended
            | ApiError::TooManyAttempts { .. }),
        ) => type_the_code(form.email.trim(), &form.next)
            .flash(Some(Flash::from_error(&error)))
            .render(&state, &headers, error.parts().0),
        Err(other) => Err(other.into()),
    }
}

/// `GET /login/email/{token}`: says whose the link is and shows one button; spends nothing.
pub async fn show_sign_in_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let holder = state
        .signin
        .email_link_holder(Purpose::SignIn, &token, now)
        .await
        .map_err(ApiError::from)?;
    let page = match holder {
        Some(account) => StepPage::new("Sign in")
            .say(format!("Sign in as {}?", account.email.as_str()))
            .form(format!("/login/email/{token}"), Vec::new(), "Sign in"),
        None => invalid_link("/login/email", "Send a new sign-in link"),
    };
    page.render(&state, &headers, StatusCode::OK)
}

/// `POST /login/email/{token}`: spends the link and signs in (or on to the challenge).
pub async fn sign_in_with_link(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    Path(token): Path<String>,
    PageForm(form): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let step = state.signin.with_email_link(&token, &client, now).await;
    state.metrics.sign_in_step(&step);
    match step.map_err(ApiError::from) {
        Ok(step) => after_first_factor(&state, &headers, step, &form.next).await,
        Err(error @ ApiError::InvalidEmailLink) => invalid_link(
            "/login/email",
            "Send a new sign-in link",
        )
        .render(&state, &headers, error.parts().0),
        Err(error @ ApiError::AccountSuspended) => StepPage::new("Sign in")
            .flash(Some(Flash::from_error(&error)))
            .render(&state, &headers, error.parts().0),
        Err(other) => Err(other.into()),
    }
}

/// `GET /verify-email/{token}`: says which address the link confirms and shows one button;
/// spends nothing.
pub async fn show_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let mut holder = None;
    for purpose in [Purpose::Verify, Purpose::ChangeAddress] {
        if holder.is_none() {
            holder = state
                .signin
                .email_link_address(purpose, &token, now)
                .await
                .map_err(ApiError::from)?;
        }
    }
    let page = match holder {
        Some(email) => StepPage::new("Confirm your address")
            .say(format!(
                "Confirm {} as the address of your account?",
                email.as_str()
            ))
            .form(format!("/verify-email/{token}"), Vec::new(), "Confirm"),
        None => invalid_link("/account/security", "Ask for a new link from your account"),
    };
    page.render(&state, &headers, StatusCode::OK)
}

/// `POST /verify-email/{token}`: proves the address.
pub async fn verify(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    Path(token): Path<String>,
    PageForm(_): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let verified = state.accounts.verify_email(&token, &client, now).await;
    match verified.map_err(ApiError::from) {
        Ok(email) => StepPage::new("Address confirmed")
            .flash(Some(Flash::Ok(format!(
                "{} is confirmed as your account's address.",
                email.as_str()
            ))))
            .link("/account/security", "Go to your account")
            .render(&state, &headers, StatusCode::OK),
        Err(error @ (ApiError::InvalidEmailLink | ApiError::EmailTaken)) => {
            let status = error.parts().0;
            invalid_link("/account/security", "Ask for a new link from your account")
                .flash(Some(Flash::from_error(&error)))
                .render(&state, &headers, status)
        }
        Err(other) => Err(other.into()),
    }
}

fn ask_for_reset_link(state: &AppState, email: String) -> StepPage {
    let page = StepPage::new("Forgot your password?")
        .say("We e-mail a link to set a new one. Two-factor stays as it is.")
        .link("/login", "Back to sign-in");
    if !state.signin.sends_email() {
        return cannot_send(page);
    }
    page.form(
        "/forgot-password".to_owned(),
        vec![Field::email(email)],
        "E-mail me a reset link",
    )
}

/// `GET /forgot-password`.
pub async fn show_forgot(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    ask_for_reset_link(&state, String::new()).render(&state, &headers, StatusCode::OK)
}

/// `POST /forgot-password`: the same page for every address.
pub async fn forgot(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<EmailForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let sent = state
        .accounts
        .forgot_password(&form.email, &client, now)
        .await;
    match sent.map_err(ApiError::from) {
        Ok(()) => StepPage::new("Check your e-mail")
            .say(format!(
                "If {} has an account, a link to set a new password is on its way. It works \
                 once, for 15 minutes.",
                form.email.trim()
            ))
            .link("/login", "Back to sign-in")
            .render(&state, &headers, StatusCode::OK),
        Err(error @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => Err(error.into()),
        Err(error) => {
            let status = error.parts().0;
            ask_for_reset_link(&state, form.email)
                .flash(Some(Flash::from_error(&error)))
                .render(&state, &headers, status)
        }
    }
}

fn choose_password(token: &str, email: &str) -> StepPage {
    StepPage::new("Choose a new password")
        .say(format!(
            "Choose a new password for {email}. Every session of the account is signed out; \
             two-factor stays as it is."
        ))
        .form(
            format!("/reset-password/{token}"),
            vec![Field::new_password()],
            "Set new password",
        )
}

/// `GET /reset-password/{token}`: the new password's form; spends nothing.
pub async fn show_reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let holder = state
        .signin
        .email_link_holder(Purpose::PasswordReset, &token, now)
        .await
        .map_err(ApiError::from)?;
    let page = match holder {
        Some(account) => choose_password(&token, account.email.as_str()),
        None => invalid_link("/forgot-password", "Send a new reset link"),
    };
    page.render(&state, &headers, StatusCode::OK)
}

/// `POST /reset-password/{token}`: sets the password, then on to sign in with it.
pub async fn reset(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    Path(token): Path<String>,
    PageForm(form): PageForm<NewPasswordForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let password = Password::new(form.new_password);
    let reset = state
        .accounts
        .reset_password(&token, password, &client, now)
        .await;
    match reset.map_err(ApiError::from) {
        Ok(_) => Ok(see_other("/login?password_reset=1")),
        Err(error @ ApiError::WeakPassword(_)) => {
            let holder = state
                .signin
                .email_link_holder(Purpose::PasswordReset, &token, now)
                .await
                .map_err(ApiError::from)?;
            let email = holder.map(|account| account.email.as_str().to_owned());
            choose_password(&token, email.as_deref().unwrap_or("your account"))
                .flash(Some(Flash::from_error(&error)))
                .render(&state, &headers, error.parts().0)
        }
        Err(error @ ApiError::InvalidEmailLink) => invalid_link(
            "/forgot-password",
            "Send a new reset link",
        )
        .render(&state, &headers, error.parts().0),
        Err(other) => Err(other.into()),
    }
}
