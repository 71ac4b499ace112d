//! The API tokens of `/account/security` (SPEC §14), each the operation the API calls
//! ([`crate::accounts::tokens`]): creating one behind a proof, shown this once, and revoking
//! one. The page takes a session only, like every page.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::{EmptyForm, PageForm};
use crate::http::pages::error::PageError;
use crate::http::pages::security_actions::{failed, ProofForm};
use crate::http::pages::security_email::done;
use crate::http::pages::security_view::{render_page, Outcome};
use crate::http::pages::viewer::Viewer;
use crate::http::pages::Flash;
use crate::http::AppState;

/// A new token's name and lifetime, and a proof.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    name: String,
    expires_in_days: u32,
    #[serde(flatten)]
    proof: ProofForm,
}

/// `POST /account/security/tokens`: creates a token and shows it this once.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let proof = form.proof.into_proof();
    let created = state
        .accounts
        .create_token(
            &auth.account,
            &form.name,
            form.expires_in_days,
            proof,
            &client,
            auth.now,
        )
        .await;
    match created {
        Ok(created) => {
            let outcome = Outcome {
                flash: Some(Flash::Ok(format!(
                    "Token \"{}\" created. Copy it now: it is shown only this once.",
                    created.token.name
                ))),
                new_token: Some(created.secret.expose().to_owned()),
                ..Outcome::default()
            };
            render_page(&state, &viewer, StatusCode::OK, outcome).await
        }
        Err(error) => failed(&state, &viewer, error, "token").await,
    }
}

/// `POST /account/security/tokens/{id}/revoke`: revokes a token at once, everywhere.
pub async fn revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let revoked = state
        .accounts
        .revoke_token(&auth.account.id, &id, &client, auth.now)
        .await;
    match revoked {
        Ok(()) => done(&state, &viewer, "The token was revoked.".to_owned(), "").await,
        Err(error) => failed(&state, &viewer, error, "").await,
    }
}
