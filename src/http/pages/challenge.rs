//! `/login/two-factor`: the second step of signing in, through the sign-in flow
//! ([`crate::signin`]) as the API's `POST/DELETE /api/v1/sessions/challenge` and
//! `…/reset-request` do, so the challenge's five tries, the account's second-factor lock
//! and every event are the same. The challenge token rides in an HttpOnly cookie scoped to
//! `/login`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::domain::account::note;
use crate::http::error::ApiError;
use crate::http::extract::ClientInfo;
use crate::http::pages::cookies::{self, CHALLENGE_COOKIE};
use crate::http::pages::csrf::{self, PageForm};
use crate::http::pages::entry::{allow_forms_to, login_page, safe_next, signed_in};
use crate::http::pages::error::PageError;
use crate::http::pages::{render_with, see_other, Flash};
use crate::http::AppState;
use crate::signin::factor::Factor;

/// `?next=` and `?method=recovery`.
#[derive(Debug, Default, Deserialize)]
pub struct ChallengeQuery {
    #[serde(default)]
    next: String,
    method: Option<String>,
}

/// An answer: a `code` or a `recovery_code`.
#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    /// A security key or passkey's answer, as JSON (`assets/webauthn.js`).
    #[serde(default)]
    webauthn: String,
    #[serde(default)]
    next: String,
}

/// What happened, for an administrator.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    message: String,
}

#[derive(Template)]
#[template(path = "challenge.html")]
struct ChallengePage {
    flash: Option<Flash>,
    csrf: String,
    next: String,
    recovery: bool,
    replacement_code: Option<String>,
    continue_to: String,
    passkeys: bool,
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    flash: Option<Flash>,
    next: String,
    recovery: bool,
) -> Result<Response, PageError> {
    // The challenge page is only reached with a challenge cookie, set by the sign-in form,
    // whose double-submit cookie is already there.
    let (token, _) = csrf::pre_session(headers);
    let mut response = render_with(
        status,
        &ChallengePage {
            flash,
            csrf: token,
            next: next.clone(),
            recovery,
            replacement_code: None,
            continue_to: String::new(),
            passkeys: state.signin.webauthn_available(),
        },
    )?;
    allow_forms_to(state, &mut response, &next).await;
    Ok(response)
}

async fn expired(
    state: &AppState,
    headers: &HeaderMap,
    next: String,
) -> Result<Response, PageError> {
    let error = ApiError::InvalidChallenge;
    let flash = Some(Flash::from_error(&error));
    let mut response = login_page(
        state,
        headers,
        StatusCode::UNAUTHORIZED,
        flash,
        String::new(),
        next,
    )
    .await?;
    cookies::clear_challenge(&mut response, &state.config.public_url);
    Ok(response)
}

/// `GET /login/two-factor`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ChallengeQuery>,
) -> Result<Response, PageError> {
    if cookies::read(&headers, CHALLENGE_COOKIE).is_none() {
        return Ok(see_other("/login"));
    }
    let recovery = query.method.as_deref() == Some("recovery");
    page(&state, &headers, StatusCode::OK, None, query.next, recovery).await
}

/// `POST /login/two-factor`.
pub async fn submit(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<AnswerForm>,
) -> Result<Response, PageError> {
    let Some(challenge_token) = cookies::read(&headers, CHALLENGE_COOKIE) else {
        return expired(&state, &headers, form.next).await;
    };
    let recovery = form.code.trim().is_empty();
    let filled = |text: &str| (!text.trim().is_empty()).then(|| text.to_owned());
    let factor = if !form.webauthn.trim().is_empty() {
        let answer = serde_json::from_str(&form.webauthn).ok();
        answer.map(|answer| Factor::WebAuthn(Box::new(answer)))
    } else if recovery {
        filled(&form.recovery_code).map(Factor::RecoveryCode)
    } else {
        filled(&form.code).map(Factor::Code)
    };
    let Some(factor) = factor else {
        let message = if recovery {
            "Enter one of your recovery codes."
        } else {
            "Enter the 6-digit code from your authenticator app."
        };
        let flash = Some(Flash::Error(message.to_owned()));
        return page(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            flash,
            form.next,
            recovery,
        )
        .await;
    };
    let now = state.clock.now();
    let answered = state
        .signin
        .answer(&challenge_token, &factor, &client, now)
        .await;
    state.metrics.sign_in_step(&answered);
    match answered.map_err(ApiError::from) {
        Ok(answer) => {
            let next = if answer.two_factor_disabled {
                "/account/security".to_owned()
            } else {
                form.next.clone()
            };
            let mut response = signed_in(
                &state,
                &headers,
                answer.token.expose(),
                answer.session.expires_at,
                &next,
            )
            .await?;
            if let Some(code) = answer.new_recovery_code {
                // Shown once: the replacement for the code just used.
                let (token, _) = csrf::pre_session(&headers);
                let page = ChallengePage {
                    flash: None,
                    csrf: token,
                    next: String::new(),
                    recovery: true,
                    replacement_code: Some(code),
                    continue_to: safe_next(&state, &next).location().to_owned(),
                    passkeys: false,
                };
                let cookies_set = response.headers().clone();
                response = render_with(StatusCode::OK, &page)?;
                for cookie in cookies_set.get_all(axum::http::header::SET_COOKIE) {
                    response
                        .headers_mut()
                        .append(axum::http::header::SET_COOKIE, cookie.clone());
                }
            }
            Ok(response)
        }
        Err(ApiError::InvalidChallenge) => expired(&state, &headers, form.next).await,
        Err(
            error @ (ApiError::InvalidCode
            | ApiError::CodeReused
            | ApiError::InvalidRecoveryCode
            | ApiError::InvalidWebAuthn
            | ApiError::InvalidCeremony
            | ApiError::NotEnabled
            | ApiError::TooManyAttempts { .. }),
        ) => {
            let (status, _, _) = error.parts();
            let flash = Some(Flash::from_error(&error));
            page(&state, &headers, status, flash, form.next, recovery).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /login/two-factor/cancel`: "sign in as a different user".
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(_): PageForm<crate::http::pages::csrf::EmptyForm>,
) -> Result<Response, PageError> {
    if let Some(challenge_token) = cookies::read(&headers, CHALLENGE_COOKIE) {
        state.signin.cancel(&challenge_token).await?;
    }
    let mut response = see_other("/login");
    cookies::clear_challenge(&mut response, &state.config.public_url);
    Ok(response)
}

/// `POST /login/two-factor/reset-request`: no device and no recovery code left.
pub async fn request_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    PageForm(form): PageForm<ResetForm>,
) -> Result<Response, PageError> {
    let Some(challenge_token) = cookies::read(&headers, CHALLENGE_COOKIE) else {
        return expired(&state, &headers, String::new()).await;
    };
    let Some(message) = note(&form.message) else {
        let flash = Flash::Error(if form.message.trim().is_empty() {
            "Tell the administrators what happened (a sentence is enough).".to_owned()
        } else {
            "Keep the message under 1000 characters.".to_owned()
        });
        return page(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(flash),
            String::new(),
            true,
        )
        .await;
    };
    let now = state.clock.now();
    let filed = state
        .signin
        .request_reset(&challenge_token, message, &client, now)
        .await;
    match filed.map_err(ApiError::from) {
        Ok(_) => {
            let flash = Flash::Ok(
                "Your request was sent to the administrators. Once they reset two-factor on your \
                 account, sign in with your password and set up a new authenticator."
                    .to_owned(),
            );
            page(
                &state,
                &headers,
                StatusCode::OK,
                Some(flash),
                String::new(),
                true,
            )
            .await
        }
        Err(ApiError::InvalidChallenge) => expired(&state, &headers, String::new()).await,
        Err(other) => Err(other.into()),
    }
}

/// `POST /login/two-factor/webauthn`: the options for answering this browser's challenge
/// with a security key or passkey (JSON, for `assets/webauthn.js`).
pub async fn webauthn_options(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let challenge_token =
        cookies::read(&headers, CHALLENGE_COOKIE).ok_or(ApiError::InvalidChallenge)?;
    let now = state.clock.now();
    let options = state
        .signin
        .start_challenge_webauthn(&challenge_token, now)
        .await?;
    Ok(axum::Json(options))
}
