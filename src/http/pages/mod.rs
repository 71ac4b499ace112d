//! Server-rendered pages (SPEC §7): askama templates, CSS and a little JavaScript, all
//! embedded in the binary; pages make no external request of any kind and work without
//! JavaScript (except the copy buttons).
//!
//! Pages are a second face of the API: each page handler calls the same operation as the
//! API's handler ([`crate::accounts`], [`crate::workspaces`], [`crate::admin`],
//! [`crate::signin`]), never the handler itself, and renders its answer or its
//! [`ApiError`]'s message, so throttling, events and every rule live in one place. Pages
//! are not in the OpenAPI document.
//!
//! Invariants: every POST form carries a CSRF token checked by [`csrf::PageForm`]; the
//! browser session is the `deadbolt_session` cookie (HttpOnly, SameSite=Lax, Secure behind
//! https), replaced by a new token on every sign-in.

pub mod admin;
mod admin_clients;
pub mod challenge;
pub mod cookies;
pub mod csrf;
pub mod destination;
pub mod email;
pub mod entry;
pub mod error;
pub mod invitations;
pub mod login;
pub mod members;
pub mod paging;
pub mod reset_confirm;
pub mod security;
pub mod security_actions;
pub mod security_email;
pub mod security_tokens;
pub mod security_view;
pub mod security_webauthn;
pub mod sessions;
pub mod setup;
pub mod step;
pub mod viewer;
pub mod workspaces;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::domain::time::UnixTime;
use crate::http::error::ApiError;
use crate::http::AppState;

/// The stylesheet, embedded.
const STYLESHEET: &str = include_str!("../../../assets/deadbolt.css");
/// The script (copy buttons only), embedded; the CSP forbids inline script.
const SCRIPT: &str = include_str!("../../../assets/deadbolt.js");

/// The script of the security key and passkey buttons (SPEC §13), on the pages that have
/// them.
const WEBAUTHN_SCRIPT: &str = include_str!("../../../assets/webauthn.js");

/// The grace periods the enforcement forms offer, with their labels.
pub const GRACE_CHOICES: [(u32, &str); 5] = [
    (0, "Immediately"),
    (3, "3 days"),
    (7, "7 days"),
    (14, "14 days"),
    (30, "30 days"),
];

/// `?done=…`: what the previous form did.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

impl DoneQuery {
    /// The key, when there is one.
    pub fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

/// Every page route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/assets/deadbolt.css", get(stylesheet))
        .route("/assets/deadbolt.js", get(script))
        .route("/assets/webauthn.js", get(webauthn_script))
        .route("/login/passkey", post(security_webauthn::sign_in))
        .route(
            "/login/two-factor/webauthn",
            post(challenge::webauthn_options),
        )
        .route("/account/security/webauthn", post(security_webauthn::add))
        .route(
            "/account/security/webauthn/{id}/rename",
            post(security_webauthn::rename),
        )
        .route(
            "/account/security/webauthn/{id}/remove",
            post(security_webauthn::remove),
        )
        .route("/setup/{token}", get(setup::show).post(setup::submit))
        .route("/login", get(login::show).post(login::submit))
        .route(
            "/login/email",
            get(email::show_sign_in).post(email::send_sign_in),
        )
        .route("/login/email/code", post(email::sign_in_with_code))
        .route(
            "/login/email/{token}",
            get(email::show_sign_in_link).post(email::sign_in_with_link),
        )
        .route(
            "/verify-email/{token}",
            get(email::show_verify).post(email::verify),
        )
        .route(
            "/reset-requests/confirm/{token}",
            get(reset_confirm::show).post(reset_confirm::confirm),
        )
        .route(
            "/forgot-password",
            get(email::show_forgot).post(email::forgot),
        )
        .route(
            "/reset-password/{token}",
            get(email::show_reset).post(email::reset),
        )
        .route(
            "/signup",
            get(login::show_signup).post(login::submit_signup),
        )
        .route("/logout", post(login::sign_out))
        .route(
            "/login/two-factor",
            get(challenge::show).post(challenge::submit),
        )
        .route("/login/two-factor/cancel", post(challenge::cancel))
        .route(
            "/login/two-factor/reset-request",
            post(challenge::request_reset),
        )
        .route("/account/security", get(security::show))
        .route("/account/security/enable", post(security_actions::enable))
        .route("/account/security/confirm", post(security_actions::confirm))
        .route("/account/security/cancel", post(security_actions::cancel))
        .route("/account/security/check", post(security_actions::check))
        .route(
            "/account/security/recovery-codes",
            post(security_actions::regenerate),
        )
        .route("/account/security/replace", post(security_actions::replace))
        .route("/account/security/disable", post(security_actions::disable))
        .route(
            "/account/security/email/verification",
            post(security_email::send_verification),
        )
        .route(
            "/account/security/email/proof",
            post(security_email::send_proof),
        )
        .route(
            "/account/security/email",
            post(security_email::change_email),
        )
        .route(
            "/account/security/password",
            post(security_email::change_password),
        )
        .route(
            "/account/security/applications/{client_id}/revoke",
            post(security_email::revoke_application),
        )
        .route("/account/security/delete", post(security_actions::delete))
        .route("/account/security/tokens", post(security_tokens::create))
        .route(
            "/account/security/tokens/{id}/revoke",
            post(security_tokens::revoke),
        )
        .route("/account/sessions", get(sessions::show))
        .route("/account/sessions/{id}/revoke", post(sessions::revoke))
        .route(
            "/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route(
            "/workspaces/{id}/settings/security",
            get(workspaces::show_security).post(workspaces::save_security),
        )
        .route("/workspaces/{id}/members", get(members::show))
        .route("/workspaces/{id}/invitations", post(members::invite))
        .route(
            "/workspaces/{id}/reset-requests/{request_id}/vouch",
            post(members::vouch),
        )
        .route(
            "/workspaces/{id}/members/{account_id}/role",
            post(members::change_role),
        )
        .route(
            "/workspaces/{id}/members/{account_id}/remove",
            post(members::remove),
        )
        .route("/invitations/{token}", get(invitations::show))
        .route("/invitations/{token}/accept", post(invitations::accept))
        .route("/admin", get(admin::show))
        .route("/admin/policy", post(admin::save_policy))
        .route("/admin/accounts/{id}/reset", post(admin::reset))
        .route("/admin/accounts/{id}/suspend", post(admin::suspend))
        .route("/admin/accounts/{id}/unsuspend", post(admin::unsuspend))
        .route("/admin/accounts/{id}/delete", post(admin::delete))
        .route("/admin/notifications/{id}/retry", post(admin::retry))
}

async fn home() -> Redirect {
    Redirect::to("/account/security")
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn webauthn_script() -> Response {
    asset("text/javascript; charset=utf-8", WEBAUTHN_SCRIPT)
}

/// Renders a template, or an internal error if rendering fails.
pub fn render(template: &impl askama::Template) -> Result<Response, ApiError> {
    template
        .render()
        .map(|html| Html(html).into_response())
        .map_err(|e| ApiError::Internal(format!("template: {e}")))
}

/// Renders a template with a status other than 200.
pub fn render_with(
    status: StatusCode,
    template: &impl askama::Template,
) -> Result<Response, ApiError> {
    let mut response = render(template)?;
    *response.status_mut() = status;
    Ok(response)
}

/// A `303 See Other` to `path` (after a form, so a reload does not post again).
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// A message above a page's content.
#[derive(Debug, Clone)]
pub enum Flash {
    /// Something worked.
    Ok(String),
    /// Something did not; the sentence says what to do.
    Error(String),
}

impl Flash {
    /// The page message of an API error (the same sentence the API gives).
    pub fn from_error(error: &ApiError) -> Flash {
        Flash::Error(error.parts().2)
    }

    /// `ok` or `error`, for the CSS class.
    pub fn kind(&self) -> &'static str {
        match self {
            Flash::Ok(_) => "ok",
            Flash::Error(_) => "error",
        }
    }

    /// The sentence.
    pub fn text(&self) -> &str {
        match self {
            Flash::Ok(text) | Flash::Error(text) => text,
        }
    }

    /// `alert` for errors (read out at once), `status` otherwise.
    pub fn role(&self) -> &'static str {
        match self {
            Flash::Ok(_) => "status",
            Flash::Error(_) => "alert",
        }
    }
}

/// A time for people: `2027-01-15 08:00 UTC`.
pub fn when(at: UnixTime) -> String {
    let text = at.to_rfc3339();
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

/// An optional time for people, or a dash.
pub fn when_or_dash(at: Option<UnixTime>) -> String {
    at.map_or_else(|| "—".to_owned(), when)
}
