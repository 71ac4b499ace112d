//! The address, password and applications forms of `/account/security` (SPEC §11, §12),
//! each the operation the API calls ([`crate::accounts::email`],
//! [`crate::accounts::password`], [`crate::oidc`]): a new confirmation link, a code that
//! proves the mailbox of an account without a password, moving to a new address, setting or
//! changing the password (behind a proof), and withdrawing consent to an application.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::domain::password::Password;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::{EmptyForm, PageForm};
use crate::http::pages::error::PageError;
use crate::http::pages::security_actions::{failed, ProofForm};
use crate::http::pages::security_view::{render_page, Outcome};
use crate::http::pages::viewer::Viewer;
use crate::http::pages::Flash;
use crate::http::AppState;

/// A new address and a proof.
#[derive(Debug, Deserialize)]
pub struct EmailForm {
    email: String,
    #[serde(flatten)]
    proof: ProofForm,
}

/// A new password and a proof.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    new_password: String,
    #[serde(flatten)]
    proof: ProofForm,
}

/// The page again, saying `message`.
pub(super) async fn done(
    state: &AppState,
    viewer: &Viewer,
    message: String,
    open: &'static str,
) -> Result<Response, PageError> {
    let outcome = Outcome {
        flash: Some(Flash::Ok(message)),
        open,
        ..Outcome::default()
    };
    render_page(state, viewer, StatusCode::OK, outcome).await
}

/// `POST /account/security/email/verification`: a new confirmation link.
pub async fn send_verification(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let sent = state
        .accounts
        .send_verification(&auth.account, &client, auth.now)
        .await;
    match sent {
        Ok(()) => {
            let to = auth.account.email.as_str();
            let message = format!("We sent a new confirmation link to {to}.");
            done(&state, &viewer, message, "").await
        }
        Err(error) => failed(&state, &viewer, error, "").await,
    }
}

/// `POST /account/security/email/proof`: a code for the proofs of an account without a
/// password.
pub async fn send_proof(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let sent = state
        .accounts
        .send_email_proof(&auth.account, &client, auth.now)
        .await;
    match sent {
        Ok(()) => {
            let message = "We e-mailed you a code. Type it where a change asks you to \
                           confirm; it works once, for 10 minutes."
                .to_owned();
            done(&state, &viewer, message, "").await
        }
        Err(error) => failed(&state, &viewer, error, "").await,
    }
}

/// `POST /account/security/email`: a link to the new address, after a proof.
pub async fn change_email(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<EmailForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let proof = form.proof.into_proof();
    let sent = state
        .accounts
        .change_email(&auth.account, &form.email, proof, &client, auth.now)
        .await;
    match sent {
        Ok(to) => {
            let message = format!(
                "We sent a link to {}. Your account moves there when it is opened.",
                to.as_str()
            );
            done(&state, &viewer, message, "").await
        }
        Err(error) => failed(&state, &viewer, error, "change-email").await,
    }
}

/// `POST /account/security/password`: sets or changes the password, after a proof; every
/// other session ends.
pub async fn change_password(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let proof = form.proof.into_proof();
    let password = Password::new(form.new_password);
    let changed = state
        .accounts
        .change_password(
            &auth.account,
            &auth.credential.id,
            password,
            proof,
            &client,
            auth.now,
        )
        .await;
    match changed {
        Ok(()) => {
            let viewer = viewer.refreshed(&state).await?;
            let message = "Your password is set. Every other session was signed out.".to_owned();
            done(&state, &viewer, message, "").await
        }
        Err(error) => failed(&state, &viewer, error, "password").await,
    }
}

/// `POST /account/security/applications/{client_id}/revoke`: withdraws the consent to an
/// application (it asks again next time; its access tokens end now).
pub async fn revoke_application(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    axum::extract::Path(client_id): axum::extract::Path<String>,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let revoked = state
        .oidc
        .revoke_consent(&auth.account.id, &client_id, &client, auth.now)
        .await
        .map_err(crate::http::error::ApiError::from)?;
    let message = if revoked {
        "The application no longer signs you in without asking; what it held for you ended."
    } else {
        "That application had no consent to revoke."
    };
    done(&state, &viewer, message.to_owned(), "").await
}
