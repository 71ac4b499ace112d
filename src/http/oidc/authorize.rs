//! `GET /oauth2/authorize` and the consent page's `POST /oauth2/authorize/consent`: the
//! browser's part of the code flow. An unknown client or unregistered redirect URI gets an
//! error page; a sign-in goes through the sign-in pages (`/login?fresh&next=…`, which lead
//! through the two-factor challenge and back here); the consent page allows its form to lead
//! to exactly the origin of the client's redirect URI (CSP `form-action`), as the sign-in
//! and challenge pages do (`pages::entry::allow_forms_to`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use url::Url;

use crate::http::error::ApiError;
use crate::http::extract::{resolve_session, session_token, Authenticated, ClientInfo};
use crate::http::middleware::FormActionOrigin;
use crate::http::pages::csrf::{self, PageForm};
use crate::http::pages::error::{PageError, SETUP_PAGE};
use crate::http::pages::{render_with, see_other};
use crate::http::AppState;
use crate::oidc::authorize::Browser;
use crate::oidc::{AuthorizationRequest, Authorized, ConsentView};

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    client_name: String,
    client_id: String,
    email: String,
    scopes: Vec<&'static str>,
    request: String,
    csrf: String,
}

/// The consent form.
#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    /// The authorization request, as the page received it.
    request: String,
    /// `approve` or `deny`.
    decision: String,
}

fn browser(auth: &Authenticated) -> Browser<'_> {
    Browser {
        session: &auth.credential.id,
        account: &auth.account,
        factors: auth.factors,
    }
}

/// What the provider answered, as a response.
fn respond(
    outcome: Authorized,
    auth: Option<&Authenticated>,
    headers: &HeaderMap,
    redirect: Option<Url>,
) -> Result<Response, PageError> {
    match outcome {
        Authorized::SignIn { next } => Ok(see_other(&format!(
            "/login?fresh=1&next={}",
            utf8_percent_encode(&next, NON_ALPHANUMERIC)
        ))),
        Authorized::SetUpTwoFactor => Ok(see_other(SETUP_PAGE)),
        Authorized::Redirect(url) => Ok(see_other(url.as_str())),
        Authorized::AskConsent(view) => {
            let Some(auth) = auth else {
                return Err(PageError::Api(ApiError::Unauthenticated));
            };
            consent_page(view, auth, headers, redirect)
        }
    }
}

fn consent_page(
    view: ConsentView,
    auth: &Authenticated,
    headers: &HeaderMap,
    redirect: Option<Url>,
) -> Result<Response, PageError> {
    let csrf = session_token(headers)
        .map(|token| csrf::for_session(token.expose()))
        .unwrap_or_default();
    let mut response = render_with(
        StatusCode::OK,
        &ConsentPage {
            client_name: view.client_name,
            client_id: view.client_id,
            email: auth.account.email.as_str().to_owned(),
            scopes: view.scopes,
            request: view.request,
            csrf,
        },
    )?;
    // The answer's redirect ends at the client's redirect URI.
    if let Some(origin) = redirect.as_ref().and_then(FormActionOrigin::of) {
        response.extensions_mut().insert(origin);
    }
    Ok(response)
}

async fn redirect_of(state: &AppState, request: &AuthorizationRequest) -> Option<Url> {
    let path = format!("/oauth2/authorize?{}", request.query());
    state.oidc.redirect_of(&path).await.ok().flatten()
}

/// `GET /oauth2/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    Query(request): Query<AuthorizationRequest>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let auth = resolve_session(&state, &headers, now).await?;
    let outcome = state
        .oidc
        .authorize(&request, auth.as_ref().map(browser), &client, now)
        .await
        .map_err(ApiError::from)?;
    let redirect = match outcome {
        Authorized::AskConsent(_) => redirect_of(&state, &request).await,
        _ => None,
    };
    respond(outcome, auth.as_ref(), &headers, redirect)
}

/// `POST /oauth2/authorize/consent`.
pub async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    PageForm(form): PageForm<ConsentForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let request: AuthorizationRequest =
        serde_urlencoded::from_str(&form.request).map_err(|_| PageError::BadForm)?;
    let auth = resolve_session(&state, &headers, now).await?;
    let approve = form.decision == "approve";
    let outcome = state
        .oidc
        .answer_consent(&request, auth.as_ref().map(browser), approve, &client, now)
        .await
        .map_err(ApiError::from)?;
    let redirect = match outcome {
        Authorized::AskConsent(_) => redirect_of(&state, &request).await,
        _ => None,
    };
    respond(outcome, auth.as_ref(), &headers, redirect)
}
