//! The first-start page: `serve` prints `PUBLIC_URL/setup/TOKEN` when the database holds
//! no account; the page creates the first instance admin, and the link dies once used.
//! The token in the path is itself the CSRF defence: a forger cannot know it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use crate::domain::account::{validate_new_account, NewAccountError};
use crate::domain::ids::{AccountId, Token};
use crate::domain::password::Password;
use crate::http::error::ApiError;
use crate::http::pages::render;
use crate::http::AppState;
use crate::store::{Constraint, FirstAdmin, NewAccount, StoreError};

/// The setup form's fields.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    email: String,
    #[serde(default)]
    name: String,
    password: Password,
}

/// Values to show back in the form, with an error.
pub struct FormView {
    email: String,
    name: String,
    error: Option<String>,
}

/// What the page shows.
pub enum SetupOutcome {
    /// The form (again, with an error).
    Form(FormView),
    /// Done.
    Created(String),
    /// The link is used or expired.
    Dead,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    token: String,
    outcome: SetupOutcome,
}

fn page(status: StatusCode, token: String, outcome: SetupOutcome) -> Result<Response, ApiError> {
    let mut response = render(&SetupPage { token, outcome })?;
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /setup/{token}`.
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let live = state
        .store
        .setup_token_is_live(&Token::from_presented(&token).hash(), now)
        .await?;
    if !live {
        return page(StatusCode::NOT_FOUND, String::new(), SetupOutcome::Dead);
    }
    let form = FormView {
        email: String::new(),
        name: String::new(),
        error: None,
    };
    page(StatusCode::OK, token, SetupOutcome::Form(form))
}

/// `POST /setup/{token}`.
pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let token_hash = Token::from_presented(&token).hash();
    if !state.store.setup_token_is_live(&token_hash, now).await? {
        return page(StatusCode::NOT_FOUND, String::new(), SetupOutcome::Dead);
    }
    let again = |message: String| FormView {
        email: form.email.clone(),
        name: form.name.clone(),
        error: Some(message),
    };
    let valid = match validate_new_account(&form.email, Some(&form.name), &form.password) {
        Ok(valid) => valid,
        Err(error) => {
            let message = match error {
                NewAccountError::InvalidEmail => {
                    "Enter a valid e-mail address, like name@example.com.".to_owned()
                }
                NewAccountError::InvalidName => {
                    "Use at most 100 characters for the name.".to_owned()
                }
                NewAccountError::WeakPassword(reason) => reason.to_string(),
            };
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                token,
                SetupOutcome::Form(again(message)),
            );
        }
    };
    let password_hash = state.passwords.hash(form.password.clone()).await?;
    let account = NewAccount {
        id: AccountId::generate(),
        email: valid.email,
        name: valid.name,
        password_hash: Some(password_hash),
        is_admin: true,
        created_at: now,
    };
    match state
        .store
        .create_first_admin(&token_hash, &account, now)
        .await
    {
        Ok(FirstAdmin::Created) => {
            tracing::info!(account = %account.id, "first administrator created");
            page(
                StatusCode::CREATED,
                String::new(),
                SetupOutcome::Created(account.email.as_str().to_owned()),
            )
        }
        Ok(FirstAdmin::InvalidToken | FirstAdmin::AdminExists) => {
            page(StatusCode::NOT_FOUND, String::new(), SetupOutcome::Dead)
        }
        Err(StoreError::Conflict(Constraint::AccountEmail)) => page(
            StatusCode::CONFLICT,
            token,
            SetupOutcome::Form(again(
                "An account with this e-mail address already exists.".to_owned(),
            )),
        ),
        Err(other) => Err(other.into()),
    }
}
