//! `/reset-requests/confirm/{token}` (SPEC §11, "Lost everything, confirmed"): the page the
//! link e-mailed with a reset request opens. It calls the operation the API's `POST
//! /reset-requests/confirm` calls ([`crate::signin::reset_confirm`]).
//!
//! Security: prefetch-safe like every link page (`email.rs`). The GET only reads whose the
//! link is and shows one button; only the button's POST (with its CSRF token) spends it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::domain::email_token::Purpose;
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
use crate::http::pages::step::{invalid_link, LinkForm, StepPage};
use crate::http::pages::Flash;
use crate::http::AppState;

fn path(token: &str) -> String {
    format!("/reset-requests/confirm/{token}")
}

/// `GET /reset-requests/confirm/{token}`: says which account's request the link confirms
/// and shows one button; spends nothing.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let holder = state
        .signin
        .email_link_holder(Purpose::ResetConfirm, &token, now)
        .await
        .map_err(ApiError::from)?;
    let page = match holder {
        Some(account) => StepPage::new("Confirm your reset request")
            .say(format!(
                "A request to reset the two-factor authentication of {} was filed. Confirm \
                 that it was you, so the administrators know it comes from this mailbox?",
                account.email.as_str()
            ))
            .form(path(&token), Vec::new(), "Confirm the request"),
        None => invalid_link("/login", "Back to sign-in"),
    };
    page.render(&state, &headers, StatusCode::OK)
}

/// `POST /reset-requests/confirm/{token}`: spends the link and stamps the open request.
pub async fn confirm(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    Path(token): Path<String>,
    PageForm(_): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let confirmed = state
        .signin
        .confirm_reset_request(&token, &client, now)
        .await;
    match confirmed.map_err(ApiError::from) {
        Ok(spent) => StepPage::new("Request confirmed")
            .flash(Some(Flash::Ok(format!(
                "Your reset request is confirmed from {}. An administrator will answer it; \
                 you will get an e-mail when two-factor is reset.",
                spent.email.as_str()
            ))))
            .link("/login", "Back to sign-in")
            .render(&state, &headers, StatusCode::OK),
        Err(error @ ApiError::InvalidEmailLink) => {
            invalid_link("/login", "Back to sign-in").render(&state, &headers, error.parts().0)
        }
        Err(other) => Err(other.into()),
    }
}
