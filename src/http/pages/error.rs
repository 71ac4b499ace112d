//! How pages answer errors: the same [`ApiError`] enum as the API, rendered through one
//! error template with the API's sentence, except that "sign in first" and "two-factor
//! required" become redirects to the sign-in and setup pages.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::http::error::{ApiError, ErrorCode, InternalErrorSource};
use crate::http::pages::{render_with, see_other};

/// Where a blocked account is sent: the authenticator setup.
pub const SETUP_PAGE: &str = "/account/security";

/// An error answered by a page.
#[derive(Debug)]
pub enum PageError {
    /// Anything the API would answer.
    Api(ApiError),
    /// Not signed in: to the sign-in page, then back to `next`.
    SignIn {
        /// The path to come back to.
        next: String,
    },
    /// The form's CSRF token is missing or wrong.
    Csrf,
    /// The form could not be read.
    BadForm,
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError::Api(error)
    }
}

impl From<crate::signin::Error> for PageError {
    fn from(error: crate::signin::Error) -> Self {
        PageError::Api(error.into())
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(error: crate::store::StoreError) -> Self {
        PageError::Api(error.into())
    }
}

impl From<crate::accounts::Error> for PageError {
    fn from(error: crate::accounts::Error) -> Self {
        PageError::Api(error.into())
    }
}

impl From<crate::workspaces::Error> for PageError {
    fn from(error: crate::workspaces::Error) -> Self {
        PageError::Api(error.into())
    }
}

impl From<crate::admin::Error> for PageError {
    fn from(error: crate::admin::Error) -> Self {
        PageError::Api(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    message: String,
}

/// The sign-in page, coming back to `next` afterwards.
pub fn sign_in_path(next: &str) -> String {
    if next.is_empty() || next == "/" {
        return "/login".to_owned();
    }
    format!(
        "/login?next={}",
        utf8_percent_encode(next, NON_ALPHANUMERIC)
    )
}

fn error_page(status: StatusCode, code: &'static str, message: String) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        message,
    };
    let mut response =
        render_with(status, &page).unwrap_or_else(|_| (status, "error").into_response());
    response.extensions_mut().insert(ErrorCode(code));
    response
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { next } => see_other(&sign_in_path(&next)),
            PageError::Api(ApiError::Unauthenticated) => see_other("/login"),
            PageError::Api(ApiError::TwoFactorRequired { .. }) => see_other(SETUP_PAGE),
            PageError::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "csrf",
                "This form has expired or came from another site. Go back, reload the page and try again."
                    .to_owned(),
            ),
            PageError::BadForm => error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "The form was incomplete. Go back, reload the page and try again.".to_owned(),
            ),
            PageError::Api(error) => {
                let (status, code, message) = error.parts();
                let mut response = error_page(status, code, message);
                if let ApiError::Internal(source) = error {
                    response
                        .extensions_mut()
                        .insert(InternalErrorSource(source));
                }
                response
            }
        }
    }
}
