//! The authorization request (OpenID Connect Core §3.1.2) and consent: the client and its
//! redirect URI are checked first (an unknown client or an unregistered redirect URI gets
//! an error page, never a redirect), then the request's parameters (errors go back to the
//! redirect URI with `state`), then `domain::oidc::decide_authorization` says what follows:
//! a sign-in, setting up two-factor, consent (`consent.rs`), a refusal, or a code.

use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::{paths, Error, Provider, RedirectError};
use crate::domain::account::Account;
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::{SessionId, Token};
use crate::domain::oidc::{
    decide_authorization, is_pkce_value, redirect_registered, AuthorizationFacts,
    AuthorizationStep, Prompt, Scopes, SignInRecord, CODE_TTL_SECONDS, PKCE_METHOD_S256,
};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{access, Access, SecondFactors};
use crate::store::{OidcClient, OidcGrant};

/// The parameters of an authorization request, as sent (query or consent form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuthorizationRequest {
    /// `client_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `redirect_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// `response_type`: `code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    /// `scope`, with `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `state`, returned as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `nonce`, put in the ID token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `code_challenge` (RFC 7636).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// `code_challenge_method`: `S256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
    /// `prompt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// `max_age`, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// `acr_values`; `mfa` asks for two factors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
}

impl AuthorizationRequest {
    /// The request as a query string.
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }

    /// The request as a path on this server, to come back to after signing in: without
    /// `prompt=login` (just satisfied) and without `prompt=consent` once consent was given.
    pub fn path_without(&self, drop: &[&str]) -> String {
        let mut request = self.clone();
        request.prompt = self.prompt.as_deref().and_then(|prompt| {
            let kept: Vec<&str> = prompt
                .split(' ')
                .filter(|p| !p.is_empty() && !drop.contains(p))
                .collect();
            (!kept.is_empty()).then(|| kept.join(" "))
        });
        format!("{}?{}", paths::AUTHORIZE, request.query())
    }
}

/// The signed-in browser making the request.
#[derive(Debug, Clone, Copy)]
pub struct Browser<'a> {
    /// Its session.
    pub session: &'a SessionId,
    /// Its account.
    pub account: &'a Account,
    /// The account's second factors.
    pub factors: SecondFactors,
}

/// Where an authorization request leads.
#[derive(Debug, Clone)]
pub enum Authorized {
    /// Sign in (again) first, then come back to `next`.
    SignIn {
        /// The authorization request to come back to.
        next: String,
    },
    /// Set up two-factor first (`/account/security`).
    SetUpTwoFactor,
    /// Ask the person's consent.
    AskConsent(super::ConsentView),
    /// Send the browser to the client: a code, or an error (RFC 6749 §4.1.2).
    Redirect(Url),
}

/// A request checked: its client, redirect URI and parameters.
pub(super) struct Checked {
    pub(super) client: OidcClient,
    /// The redirect URI as sent (and registered): the exchange must repeat it exactly.
    pub(super) redirect_uri: String,
    pub(super) redirect: Url,
    pub(super) scopes: Scopes,
    pub(super) prompt: Prompt,
    pub(super) max_age: Option<i64>,
    pub(super) wants_mfa: bool,
}

impl Provider {
    /// The client and redirect URI of `request`, when the client exists and registered the
    /// URI exactly; only then may anything be sent to it.
    async fn trusted_redirect(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<(OidcClient, String, Url), Error> {
        let (Some(client_id), Some(redirect_uri)) = (&request.client_id, &request.redirect_uri)
        else {
            return Err(Error::UntrustedRedirect);
        };
        let client = self
            .store()
            .oidc_client(client_id)
            .await?
            .ok_or(Error::UntrustedRedirect)?;
        if !redirect_registered(&client.redirect_uris, redirect_uri) {
            return Err(Error::UntrustedRedirect);
        }
        let redirect = Url::parse(redirect_uri).map_err(|_| Error::UntrustedRedirect)?;
        Ok((client, redirect_uri.clone(), redirect))
    }

    /// When `next` is an authorization request (a path on this server) whose client
    /// registered its redirect URI, that URI: the sign-in, challenge and consent pages of
    /// the request let their forms lead there (CSP `form-action`), since the redirects after
    /// them end at it.
    pub async fn redirect_of(&self, next: &str) -> Result<Option<Url>, Error> {
        let Some(query) = next
            .strip_prefix(paths::AUTHORIZE)
            .and_then(|rest| rest.strip_prefix('?'))
        else {
            return Ok(None);
        };
        let Ok(request) = serde_urlencoded::from_str::<AuthorizationRequest>(query) else {
            return Ok(None);
        };
        match self.trusted_redirect(&request).await {
            Ok((_, _, redirect)) => Ok(Some(redirect)),
            Err(Error::UntrustedRedirect) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Checks the request: the client and redirect URI (else [`Error::UntrustedRedirect`]),
    /// then its parameters (else a redirect carrying the error).
    pub(super) async fn check(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<Result<Checked, Url>, Error> {
        let (client, redirect_uri, redirect) = self.trusted_redirect(request).await?;
        let refuse = |error: RedirectError, description: &str| {
            Ok(Err(self.error_redirect(
                &redirect,
                request,
                error,
                description,
            )))
        };
        if request.response_type.as_deref() != Some("code") {
            return refuse(
                RedirectError::UnsupportedResponseType,
                "response_type must be code",
            );
        }
        let scopes = Scopes::parse(request.scope.as_deref().unwrap_or(""));
        if !scopes.openid {
            return refuse(RedirectError::InvalidScope, "scope must include openid");
        }
        let Some(prompt) = Prompt::parse(request.prompt.as_deref()) else {
            return refuse(RedirectError::InvalidRequest, "unsupported prompt");
        };
        let max_age = match request.max_age.as_deref().map(str::parse::<i64>) {
            None => None,
            Some(Ok(seconds)) if seconds >= 0 => Some(seconds),
            Some(_) => return refuse(RedirectError::InvalidRequest, "max_age must be seconds"),
        };
        match (
            &request.code_challenge,
            request.code_challenge_method.as_deref(),
        ) {
            (Some(challenge), Some(PKCE_METHOD_S256)) if is_pkce_value(challenge) => {}
            (Some(_), _) => {
                return refuse(
                    RedirectError::InvalidRequest,
                    "code_challenge must be an S256 challenge (code_challenge_method=S256)",
                )
            }
            (None, _) if client.is_public() => {
                return refuse(
                    RedirectError::InvalidRequest,
                    "a public client must send an S256 code_challenge",
                )
            }
            (None, _) => {}
        }
        let wants_mfa = request
            .acr_values
            .as_deref()
            .is_some_and(|values| values.split(' ').any(|v| v == "mfa"));
        Ok(Ok(Checked {
            client,
            redirect_uri,
            redirect,
            scopes,
            prompt,
            max_age,
            wants_mfa,
        }))
    }

    pub(super) fn error_redirect(
        &self,
        redirect: &Url,
        request: &AuthorizationRequest,
        error: RedirectError,
        description: &str,
    ) -> Url {
        let mut url = redirect.clone();
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("error", error.as_str());
            pairs.append_pair("error_description", description);
            if let Some(state) = &request.state {
                pairs.append_pair("state", state);
            }
            pairs.append_pair("iss", self.issuer());
        }
        url
    }

    /// Answers an authorization request from `browser` (none when not signed in).
    pub async fn authorize(
        &self,
        request: &AuthorizationRequest,
        browser: Option<Browser<'_>>,
        client_info: &ClientInfo,
        now: UnixTime,
    ) -> Result<Authorized, Error> {
        let checked = match self.check(request).await? {
            Ok(checked) => checked,
            Err(refusal) => return Ok(Authorized::Redirect(refusal)),
        };
        let record = match browser {
            Some(browser) => self
                .store()
                .session_sign_in(browser.session)
                .await?
                .map(|(methods, at)| SignInRecord::parse(&methods, at)),
            None => None,
        };
        let (workspace, role, consented) = match (browser, &record) {
            (Some(browser), Some(_)) => {
                let (workspace, role) = match &checked.client.workspace_id {
                    None => (None, None),
                    Some(id) => match self.store().membership(id, &browser.account.id).await? {
                        None => (Some(None), None),
                        Some((workspace, role)) => {
                            let requirement = workspace.requirement_for(role);
                            let access = access(requirement, browser.factors, now);
                            (Some(Some(access)), Some(role))
                        }
                    },
                };
                let consented = match self
                    .store()
                    .oidc_consent(&browser.account.id, &checked.client.client_id)
                    .await?
                {
                    Some(granted) => checked.scopes.within(Scopes::parse(&granted)),
                    None => false,
                };
                (workspace, role, consented)
            }
            _ => (None, None, false),
        };
        let facts = AuthorizationFacts {
            signed_in: record.as_ref(),
            has_two_factor: browser.is_some_and(|b| b.factors.any()),
            prompt: checked.prompt,
            max_age: checked.max_age,
            wants_mfa: checked.wants_mfa,
            client_requires_two_factor: checked.client.require_two_factor,
            workspace,
            trusted: checked.client.trusted,
            consented,
            now,
        };
        let refuse = |error: RedirectError, description: &str| {
            Ok(Authorized::Redirect(self.error_redirect(
                &checked.redirect,
                request,
                error,
                description,
            )))
        };
        match decide_authorization(&facts) {
            AuthorizationStep::SignIn => Ok(Authorized::SignIn {
                next: request.path_without(&["login"]),
            }),
            AuthorizationStep::SetUpTwoFactor => Ok(Authorized::SetUpTwoFactor),
            AuthorizationStep::LoginRequired => {
                refuse(RedirectError::LoginRequired, "a sign-in is required")
            }
            AuthorizationStep::ConsentRequired => {
                refuse(RedirectError::ConsentRequired, "consent is required")
            }
            AuthorizationStep::InteractionRequired => refuse(
                RedirectError::InteractionRequired,
                "two-factor authentication must be set up first",
            ),
            AuthorizationStep::AccessDenied => {
                let account = browser.map(|b| &b.account.id);
                let details = json!({
                    "client_id": checked.client.client_id,
                    "error": "not_a_member",
                });
                self.record(
                    account,
                    EventKind::OidcAuthorizationDenied,
                    client_info,
                    now,
                    details,
                )
                .await?;
                refuse(
                    RedirectError::AccessDenied,
                    "this application admits only the members of its workspace",
                )
            }
            AuthorizationStep::AskConsent => Ok(Authorized::AskConsent(super::ConsentView {
                client_name: checked.client.name.clone(),
                client_id: checked.client.client_id.clone(),
                scopes: super::consent::scope_words(checked.scopes),
                request: request.query(),
            })),
            AuthorizationStep::Grant(granted) => {
                // Only `Grant` follows a session read above, so both are there.
                let (Some(browser), Some(record)) = (browser, record) else {
                    return Ok(Authorized::SignIn {
                        next: request.path_without(&["login"]),
                    });
                };
                let code = self
                    .issue_code(
                        request,
                        &checked,
                        browser,
                        &record,
                        granted,
                        role,
                        client_info,
                        now,
                    )
                    .await?;
                let mut url = checked.redirect.clone();
                {
                    let mut pairs = url.query_pairs_mut();
                    pairs.append_pair("code", code.expose());
                    if let Some(state) = &request.state {
                        pairs.append_pair("state", state);
                    }
                    // RFC 9207: the issuer, so a client of several providers can tell.
                    pairs.append_pair("iss", self.issuer());
                }
                Ok(Authorized::Redirect(url))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        checked: &Checked,
        browser: Browser<'_>,
        record: &SignInRecord,
        granted: Access,
        role: Option<crate::domain::workspace::Role>,
        client_info: &ClientInfo,
        now: UnixTime,
    ) -> Result<Token, Error> {
        let code = Token::generate();
        let grant = OidcGrant {
            code_hash: code.hash(),
            client_id: checked.client.client_id.clone(),
            account_id: browser.account.id.clone(),
            session_id: browser.session.clone(),
            redirect_uri: checked.redirect_uri.clone(),
            scope: checked.scopes.as_string(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            auth_time: record.auth_time,
            amr: record.methods_text(),
            access: granted.as_str().to_owned(),
            deadline: granted.deadline(),
            workspace_role: role.map(|r| r.as_str().to_owned()),
            created_at: now,
            expires_at: now.plus_seconds(CODE_TTL_SECONDS),
        };
        self.store().create_oidc_code(&grant).await?;
        let details = json!({
            "client_id": grant.client_id,
            "scope": grant.scope,
            "acr": record.acr(),
            "access": grant.access,
        });
        self.record(
            Some(&browser.account.id),
            EventKind::OidcAuthorized,
            client_info,
            now,
            details,
        )
        .await?;
        Ok(code)
    }
}
