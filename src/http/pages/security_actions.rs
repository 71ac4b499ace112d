//! The forms of `/account/security`, each the operation the API's two-factor routes call
//! ([`crate::accounts::two_factor`]): enable, confirm, cancel, check, regenerate recovery
//! codes, move to a new device and disable (the last three behind a proof: password, code
//! or recovery code, as `two_factor.confirm_with` allows), and deleting the account
//! ([`crate::accounts::lifecycle`], behind the same proof). Errors re-render the page with
//! the API's sentence.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::accounts;
use crate::domain::password::Password;
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::csrf::EmptyForm;
use crate::http::pages::csrf::PageForm;
use crate::http::pages::error::PageError;
use crate::http::pages::security_view::{render_page, Outcome};
use crate::http::pages::viewer::Viewer;
use crate::http::pages::{cookies, see_other, Flash};
use crate::http::AppState;
use crate::signin::proof::Proof;

/// A code typed into a form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// A confirmation proof: whichever field was filled in.
#[derive(Debug, Default, Deserialize)]
pub struct ProofForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    #[serde(default)]
    email_code: String,
}

impl ProofForm {
    pub(super) fn into_proof(self) -> Proof {
        let filled = |text: String| (!text.trim().is_empty()).then_some(text);
        Proof {
            password: filled(self.password).map(Password::new),
            code: filled(self.code),
            recovery_code: filled(self.recovery_code),
            email_code: filled(self.email_code),
            webauthn: None,
        }
    }
}

pub(super) async fn failed(
    state: &AppState,
    viewer: &Viewer,
    error: accounts::Error,
    open: &'static str,
) -> Result<Response, PageError> {
    match ApiError::from(error) {
        // Internal errors get the error page; the rest are sentences for this page.
        error @ ApiError::Internal(_) => Err(error.into()),
        error => {
            let (status, _, _) = error.parts();
            render_page(state, viewer, status, Outcome::error(&error, open)).await
        }
    }
}

/// `POST /account/security/enable`: a new secret, pending until confirmed.
pub async fn enable(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let started = state
        .accounts
        .start_enrollment(&auth.account, None, &client, auth.now)
        .await;
    match started {
        Ok(_) => Ok(see_other("/account/security")),
        Err(error) => failed(&state, &viewer, error, "").await,
    }
}

/// `POST /account/security/confirm`: the first code turns two-factor on; the recovery
/// codes are shown this once.
pub async fn confirm(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let confirmed = state
        .accounts
        .confirm_enrollment(&auth.account, &form.code, &client, auth.now)
        .await;
    match confirmed {
        Ok(recovery_codes) => {
            let outcome = Outcome {
                flash: Some(Flash::Ok(
                    "Two-factor authentication is on. Save your recovery codes now: they are \
                     shown only this once."
                        .to_owned(),
                )),
                new_codes: recovery_codes,
                open: "",
                new_token: None,
            };
            let viewer = viewer.refreshed(&state).await?;
            render_page(&state, &viewer, StatusCode::OK, outcome).await
        }
        Err(error) => failed(&state, &viewer, error, "").await,
    }
}

/// `POST /account/security/cancel`: abandons a pending enrolment.
pub async fn cancel(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(_): PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    state
        .accounts
        .abandon_enrollment(&viewer.auth.account.id)
        .await?;
    Ok(see_other("/account/security?done=cancelled"))
}

/// `POST /account/security/check`: is this code valid now? Uses nothing up.
pub async fn check(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let checked = state
        .accounts
        .check_code(&auth.account, &form.code, &client, auth.now)
        .await;
    match checked {
        Ok(answer) => {
            let flash = if answer.valid {
                Flash::Ok("That code is valid: your authenticator app is set up right.".to_owned())
            } else {
                Flash::Error(
                    "That code did not match. Check that your phone's clock is set automatically."
                        .to_owned(),
                )
            };
            let outcome = Outcome {
                flash: Some(flash),
                new_codes: Vec::new(),
                open: "check",
                new_token: None,
            };
            render_page(&state, &viewer, StatusCode::OK, outcome).await
        }
        Err(error) => failed(&state, &viewer, error, "check").await,
    }
}

/// `POST /account/security/recovery-codes`: a fresh set after a proof; the old set dies.
pub async fn regenerate(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<ProofForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let proof = form.into_proof();
    let fresh = state
        .accounts
        .regenerate_recovery_codes(&auth.account, proof, &client, auth.now)
        .await;
    match fresh {
        Ok(recovery_codes) => {
            let outcome = Outcome {
                flash: Some(Flash::Ok(
                    "New recovery codes. Your old codes no longer work; save these now.".to_owned(),
                )),
                new_codes: recovery_codes,
                open: "",
                new_token: None,
            };
            let viewer = viewer.refreshed(&state).await?;
            render_page(&state, &viewer, StatusCode::OK, outcome).await
        }
        Err(error) => failed(&state, &viewer, error, "regenerate").await,
    }
}

/// `POST /account/security/replace`: moving to a new device, after a proof.
pub async fn replace(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<ProofForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let proof = Some(form.into_proof());
    let started = state
        .accounts
        .start_enrollment(&auth.account, proof, &client, auth.now)
        .await;
    match started {
        Ok(_) => Ok(see_other("/account/security?done=replacing")),
        Err(error) => failed(&state, &viewer, error, "replace").await,
    }
}

/// `POST /account/security/disable`: two-factor off, after a proof.
pub async fn disable(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<ProofForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let proof = form.into_proof();
    let disabled = state
        .accounts
        .disable_two_factor(&auth.account, proof, &client, auth.now)
        .await;
    match disabled {
        Ok(_) => Ok(see_other("/account/security?done=disabled")),
        Err(error) => failed(&state, &viewer, error, "disable").await,
    }
}

/// `POST /account/security/delete`: deletes the account, after a proof, and signs out.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientInfo,
    PageForm(form): PageForm<ProofForm>,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let proof = form.into_proof();
    let deleted = state
        .accounts
        .delete_own_account(&auth.account, proof, &client, auth.now)
        .await;
    match deleted {
        Ok(()) => {
            let mut response = see_other("/login?signed_out=1");
            cookies::clear_session(&mut response, &state.config.public_url);
            Ok(response)
        }
        Err(error) => failed(&state, &viewer, error, "delete").await,
    }
}
