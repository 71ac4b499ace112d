//! How `/account/security` renders, for its `GET` ([`super::security`]) and its forms
//! ([`super::security_actions`]): the authenticator card in its three states (`data-state`
//! = `not_configured`, `pending`, `enabled`), the QR code and secret of a pending
//! enrolment, the recovery codes shown once, the API tokens (a new one shown once), and the
//! forms. The state and the requirement
//! are what the API's `GET /me` shows ([`crate::accounts`]).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::config::ProofKind;
use crate::domain::sign_in::ProofBacking;
use crate::domain::two_factor::TwoFactorState;
use crate::domain::workspace::Access;
use crate::http::error::ApiError;
use crate::http::pages::error::PageError;
use crate::http::pages::security_webauthn::KeyRow;
use crate::http::pages::viewer::{Nav, Viewer};
use crate::http::pages::{render_with, when, when_or_dash, Flash};
use crate::http::qr;
use crate::http::AppState;

/// Recovery codes left at which the page warns.
const FEW_RECOVERY_CODES: u32 = 3;

/// A pending enrolment as the page shows it.
pub struct PendingView {
    /// Base32, for typing into an app.
    pub secret: String,
    /// The QR code of the `otpauth://` URI.
    pub qr_svg: String,
    /// The URI itself (a link opens an authenticator on the same device).
    pub otpauth_uri: String,
    /// When it lapses.
    pub expires_at: String,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    nav: Nav,
    flash: Option<Flash>,
    requirement: Option<Flash>,
    state: &'static str,
    enabled_at: String,
    pending: Option<PendingView>,
    remaining: u32,
    few_left: bool,
    new_codes: Vec<String>,
    codes_href: String,
    ask_password: bool,
    ask_code: bool,
    ask_recovery: bool,
    ask_email_code: bool,
    email: String,
    email_verified: bool,
    has_password: bool,
    sends_email: bool,
    applications: Vec<ApplicationRow>,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
    open: &'static str,
    two_factor_on: bool,
    keys: Vec<KeyRow>,
    webauthn_available: bool,
}

/// One of the person's API tokens.
struct TokenRow {
    id: String,
    name: String,
    created_at: String,
    expires_at: String,
    last_used_at: String,
    expired: bool,
}

/// An application the person consented to.
struct ApplicationRow {
    client_id: String,
    name: String,
    scope: String,
    granted_at: String,
}

/// What a form just did: the page's message and, once, new recovery codes.
#[derive(Default)]
pub struct Outcome {
    /// The message.
    pub flash: Option<Flash>,
    /// Recovery codes to show this once.
    pub new_codes: Vec<String>,
    /// The action (`check`, `replace`, `disable`, `regenerate`) to show open, to try again.
    pub open: &'static str,
    /// A new API token to show this once.
    pub new_token: Option<String>,
}

impl Outcome {
    /// An API error's sentence.
    pub fn error(error: &ApiError, open: &'static str) -> Outcome {
        Outcome {
            flash: Some(Flash::from_error(error)),
            open,
            ..Outcome::default()
        }
    }
}

fn download_href(codes: &[String]) -> String {
    let text = format!(
        "Deadbolt recovery codes\nEach code signs you in once. Keep them somewhere safe.\n\n{}\n",
        codes.join("\n")
    );
    format!(
        "data:text/plain;charset=utf-8,{}",
        utf8_percent_encode(&text, NON_ALPHANUMERIC)
    )
}

/// Renders the page for `viewer` with `outcome` and `status`. After a form that changed
/// the authenticator, pass [`Viewer::refreshed`], so the page shows the change.
pub async fn render_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    outcome: Outcome,
) -> Result<Response, PageError> {
    let auth = &viewer.auth;
    let obligation = state
        .accounts
        .obligation(auth.caller(), auth.instance_access)
        .await?;
    let now = state.clock.now();
    let pending = match state
        .accounts
        .pending_enrollment(&auth.account, now)
        .await?
    {
        Some(enrollment) => Some(PendingView {
            secret: enrollment.secret.to_base32(),
            qr_svg: qr::svg(&enrollment.otpauth_uri).map_err(ApiError::Internal)?,
            otpauth_uri: enrollment.otpauth_uri,
            expires_at: when(enrollment.expires_at),
        }),
        None => None,
    };
    let enabled = auth.two_factor.state(auth.now) == TwoFactorState::Enabled;
    // The authenticator app's own card: a security key alone turns two-factor on, not it.
    let factors = state.accounts.second_factors(&auth.account.id).await?;
    let two_factor = TwoFactorState::of(factors.totp, auth.two_factor.pending_until, auth.now);
    let keys = state
        .accounts
        .webauthn_credentials(&auth.account.id)
        .await?
        .into_iter()
        .map(KeyRow::from)
        .collect();
    let requirement = match (enabled, obligation.access) {
        (false, Access::Blocked { .. }) => Some(Flash::Error(
            ApiError::TwoFactorRequired { deadline: None }.parts().2,
        )),
        (false, Access::Grace { .. }) => Some(Flash::Error(format!(
            "Two-factor authentication is required on your account from {}. Set it up now.",
            when_or_dash(obligation.access.deadline())
        ))),
        // Two-factor is on, yet access is short of ok: a phishing-resistant factor is
        // required and the account has an authenticator app alone.
        (true, Access::Blocked { .. }) => Some(Flash::Error(
            "A security key or passkey is required on your account. Add one below to go on."
                .to_owned(),
        )),
        (true, Access::Grace { .. }) => Some(Flash::Error(format!(
            "A security key or passkey is required on your account from {}. Add one below; \
             an authenticator app alone will not do.",
            when_or_dash(obligation.access.deadline())
        ))),
        _ => None,
    };
    let confirm_with = &state.config.two_factor.confirm_with;
    let has_password = auth.account.has_password();
    let backing = ProofBacking {
        password: has_password,
        two_factor: enabled,
        // The pages' proof forms take typed proofs only.
        webauthn: false,
    };
    let remaining = auth.recovery_codes_remaining();
    let applications = state
        .oidc
        .consents(&auth.account.id)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|c| ApplicationRow {
            client_id: c.client_id,
            name: c.name,
            scope: c.scope,
            granted_at: when(c.granted_at),
        })
        .collect();
    let tokens = state
        .accounts
        .tokens(&auth.account.id)
        .await?
        .into_iter()
        .map(|token| TokenRow {
            expired: !token.is_live(now),
            id: token.id.0,
            name: token.name,
            created_at: when(token.created_at),
            expires_at: when(token.expires_at),
            last_used_at: when_or_dash(token.last_used_at),
        })
        .collect();
    let page = SecurityPage {
        applications,
        tokens,
        new_token: outcome.new_token,
        nav: viewer.nav("security"),
        flash: outcome.flash,
        requirement,
        state: two_factor.as_str(),
        enabled_at: when_or_dash(auth.two_factor.enabled_at),
        pending,
        remaining,
        few_left: enabled && remaining <= FEW_RECOVERY_CODES,
        codes_href: download_href(&outcome.new_codes),
        new_codes: outcome.new_codes,
        ask_password: confirm_with.contains(&ProofKind::Password) && has_password,
        ask_code: confirm_with.contains(&ProofKind::Code),
        ask_recovery: confirm_with.contains(&ProofKind::RecoveryCode),
        ask_email_code: ProofKind::EmailCode.counts(confirm_with, backing),
        email: auth.account.email.as_str().to_owned(),
        email_verified: auth.account.email_verified_at.is_some(),
        has_password,
        sends_email: state.signin.sends_email(),
        open: outcome.open,
        two_factor_on: enabled,
        keys,
        webauthn_available: state.signin.webauthn_available(),
    };
    Ok(render_with(status, &page)?)
}
