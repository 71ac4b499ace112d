//! The signed-in person on a page: the browser session (cookie) resolved as the API does,
//! with the page form of the instance-policy gate: a covered account without two-factor
//! past its deadline is sent to the setup page from every other page.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use crate::domain::workspace::Access;
use crate::http::extract::{resolve_session, session_token, Authenticated};
use crate::http::pages::csrf;
use crate::http::pages::error::{PageError, SETUP_PAGE};
use crate::http::AppState;

/// The header every signed-in page shows: who, whether admin, and the sign-out form's token.
#[derive(Debug, Clone)]
pub struct Nav {
    /// The account's e-mail.
    pub email: String,
    /// Instance admin (shows the Admin link).
    pub is_admin: bool,
    /// The CSRF token for this session's forms.
    pub csrf: String,
    /// Which section is open: `security`, `sessions`, `workspaces`, `admin`.
    pub current: &'static str,
}

/// A signed-in person, allowed on the page asked for.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The session and account, as the API handlers take them.
    pub auth: Authenticated,
    /// The CSRF token for this session's forms.
    pub csrf: String,
    /// The request's `Cookie` and `Authorization` headers, to read the session again.
    credentials: HeaderMap,
}

impl Viewer {
    /// The same person, read again: after a form changed the account (two-factor turned
    /// on or off, say), since [`Authenticated`] is read once, with the session.
    pub async fn refreshed(&self, state: &AppState) -> Result<Viewer, PageError> {
        let auth = resolve_session(state, &self.credentials, state.clock.now())
            .await?
            .ok_or(PageError::SignIn {
                next: String::new(),
            })?;
        Ok(Viewer {
            auth,
            csrf: self.csrf.clone(),
            credentials: self.credentials.clone(),
        })
    }

    /// The header for a page of section `current`.
    pub fn nav(&self, current: &'static str) -> Nav {
        Nav {
            email: self.auth.account.email.as_str().to_owned(),
            is_admin: self.auth.account.is_admin,
            csrf: self.csrf.clone(),
            current,
        }
    }
}

/// Whether a blocked account may still open this page route.
fn reachable_when_blocked(route: &str) -> bool {
    route == SETUP_PAGE || route.starts_with("/account/security/") || route == "/logout"
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let next = || {
            let path = parts.uri.path().to_owned();
            if parts.method == axum::http::Method::GET {
                path
            } else {
                String::new()
            }
        };
        let Some(token) = session_token(&parts.headers) else {
            return Err(PageError::SignIn { next: next() });
        };
        let Some(auth) = resolve_session(state, &parts.headers, now).await? else {
            return Err(PageError::SignIn { next: next() });
        };
        if let Access::Blocked { deadline } = auth.instance_access {
            let route = parts
                .extensions
                .get::<MatchedPath>()
                .map(MatchedPath::as_str);
            if !route.is_some_and(reachable_when_blocked) {
                return Err(PageError::Api(
                    crate::http::error::ApiError::TwoFactorRequired {
                        deadline: Some(deadline),
                    },
                ));
            }
        }
        let mut credentials = HeaderMap::new();
        for name in [header::COOKIE, header::AUTHORIZATION] {
            for value in parts.headers.get_all(&name) {
                credentials.append(name.clone(), value.clone());
            }
        }
        Ok(Viewer {
            auth,
            csrf: csrf::for_session(token.expose()),
            credentials,
        })
    }
}
