//! The security key and passkey forms (SPEC §13): adding one on `/account/security` (the
//! browser's answer, put into the form by `assets/webauthn.js`), renaming and removing
//! (behind a proof), and signing in with a passkey from `/login`. Each is the operation the
//! JSON API calls ([`crate::accounts::webauthn`], [`crate::signin::passkey`]); the options
//! the script hands the browser come from the JSON API itself.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::accounts;
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::entry::{login_page, signed_in};
use crate::http::pages::error::PageError;
use crate::http::pages::security_actions::{failed, ProofForm};
use crate::http::pages::security_view::{render_page, Outcome};
use crate::http::pages::viewer::Viewer;
use crate::http::pages::{see_other, Flash};
use crate::http::AppState;

/// A new credential: its name and the browser's answer (JSON).
#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    credential: String,
}

/// A new name.
#[derive(Debug, Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    name: String,
}

/// A passkey's answer (JSON), and where to go next.
#[derive(Debug, Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    credential: String,
    #[serde(default)]
    next: String,
}

/// The browser's answer, or the error a malformed one is.
fn parsed<T: serde::de::DeserializeOwned>(credential: &str) -> Result<T, ApiError> {
    serde_json::from_str(credential).map_err(|_| ApiError::InvalidWebAuthn)
}

/// `POST /account/security/webauthn`: registers the answered credential; the first second
/// factor shows the recovery codes once.
pub async fn add(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<AddForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let answer = match parsed(&form.credential) {
        Ok(answer) => answer,
        Err(error) => {
            let (status, _, _) = error.parts();
            return render_page(&state, &viewer, status, Outcome::error(&error, "")).await;
        }
    };
    let added = state
        .accounts
        .finish_webauthn_registration(&auth.account, &form.name, &answer, &client, auth.now)
        .await;
    match added {
        Ok(registration) => {
            let outcome = Outcome {
                flash: Some(Flash::Ok(format!(
                    "Security key \"{}\" added.",
                    registration.credential.name
                ))),
                new_codes: registration.recovery_codes.unwrap_or_default(),
                open: "",
                new_token: None,
            };
            let viewer = viewer.refreshed(&state).await?;
            render_page(&state, &viewer, StatusCode::OK, outcome).await
        }
        Err(error) => failed(&state, &viewer, error, "").await,
    }
}

/// `POST /account/security/webauthn/{id}/rename`.
pub async fn rename(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    PageForm(form): PageForm<RenameForm>,
) -> Result<Response, PageError> {
    let account = &viewer.auth.account.id;
    let renamed = state
        .accounts
        .rename_webauthn_credential(account, &id, &form.name)
        .await;
    match renamed {
        Ok(()) => Ok(see_other("/account/security?done=key-renamed")),
        Err(error) => failed(&state, &viewer, error, "").await,
    }
}

/// `POST /account/security/webauthn/{id}/remove`, behind a proof.
pub async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    Path(id): Path<String>,
    PageForm(form): PageForm<ProofForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let proof = form.into_proof();
    let removed = state
        .accounts
        .remove_webauthn_credential(&auth.account, &id, proof, &client, auth.now)
        .await;
    match removed {
        Ok(()) => Ok(see_other("/account/security?done=key-removed")),
        Err(error) => failed(&state, &viewer, error, "").await,
    }
}

/// `POST /login/passkey`: signs in with a passkey that verified its user.
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<PasskeyForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let finished = match parsed(&form.credential) {
        Ok(answer) => {
            let finished = state.signin.finish_passkey(&answer, &client, now).await;
            state.metrics.sign_in_step(&finished);
            finished.map_err(ApiError::from)
        }
        Err(error) => Err(error),
    };
    match finished {
        Ok(done) => {
            let token = done.token.expose();
            signed_in(&state, &headers, token, done.session.expires_at, &form.next).await
        }
        Err(error @ ApiError::Internal(_)) => Err(error.into()),
        Err(error) => {
            let (status, _, _) = error.parts();
            let flash = Some(Flash::from_error(&error));
            login_page(&state, &headers, status, flash, String::new(), form.next).await
        }
    }
}

/// The messages after a redirect (`?done=`).
pub fn done_message(key: &str) -> Option<&'static str> {
    match key {
        "key-renamed" => Some("Security key renamed."),
        "key-removed" => Some("Security key removed."),
        _ => None,
    }
}

impl From<accounts::webauthn::CredentialView> for KeyRow {
    fn from(view: accounts::webauthn::CredentialView) -> Self {
        KeyRow {
            id: view.id,
            name: view.name,
            created_at: crate::http::pages::when(view.created_at),
            last_used_at: crate::http::pages::when_or_dash(view.last_used_at),
        }
    }
}

/// A security key as the card lists it.
pub struct KeyRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was added.
    pub created_at: String,
    /// When it was last used, or a dash.
    pub last_used_at: String,
}
