//! `GET /account/security`: the authenticator card (see [`super::security_view`]), with
//! what the previous form did (`?done=`); the forms are [`super::security_actions`].

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::http::pages::error::PageError;
use crate::http::pages::security_view::{render_page, Outcome};
use crate::http::pages::viewer::Viewer;
use crate::http::pages::{DoneQuery, Flash};
use crate::http::AppState;

fn done_message(key: &str) -> Option<Flash> {
    let text = match key {
        "cancelled" => "Setup cancelled. Nothing changed.",
        "disabled" => {
            "Two-factor authentication is off. Your authenticator and recovery codes were deleted."
        }
        "replacing" => {
            "Scan the new QR code with your new device and enter its code. Your current \
             authenticator keeps working until then."
        }
        "recovery-disabled" => {
            "You signed in with a recovery code, which turned two-factor authentication off. \
             Set it up again."
        }
        other => super::security_webauthn::done_message(other)?,
    };
    Some(Flash::Ok(text.to_owned()))
}

/// `GET /account/security`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let outcome = Outcome {
        flash: query.done().and_then(done_message),
        ..Outcome::default()
    };
    render_page(&state, &viewer, StatusCode::OK, outcome).await
}
