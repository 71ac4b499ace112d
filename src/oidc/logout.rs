//! RP-Initiated Logout 1.0 (`end_session_endpoint`): a relying party sends the browser
//! here with an `id_token_hint` (an ID token we signed, expired or not), a
//! `post_logout_redirect_uri` matched exactly against the client's registered list, and a
//! `state`. A hint that names the browser's own session (`sub` and `sid`) signs out at once;
//! otherwise the person confirms on a page (a form with a CSRF token). Ending the Deadbolt
//! session ends the tokens issued under it (`store/oidc_refresh.rs`).

use serde::{Deserialize, Serialize};
use url::Url;

use super::{Error, Provider};
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::oidc::session_sid;
use crate::domain::time::UnixTime;

/// The logout request's parameters.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LogoutRequest {
    /// An ID token we issued to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_hint: Option<String>,
    /// The client, when there is no hint (or repeating the hint's `aud`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Where to send the browser afterwards: one of the client's registered URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uri: Option<String>,
    /// Given back to the client with the redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl LogoutRequest {
    /// The request as a query string (the confirmation form carries it).
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

/// The browser's session, when it has one.
#[derive(Debug, Clone, Copy)]
pub struct CurrentSession<'a> {
    /// Whose.
    pub account: &'a AccountId,
    /// Which.
    pub session: &'a SessionId,
}

/// What a logout request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutStep {
    /// The session (if any) ended: go to the client's URI (with `state`), or to our own
    /// signed-out page when it named none.
    Done(Option<Url>),
    /// Ask the person to confirm; the redirect the answer will lead to.
    Confirm(Option<Url>),
}

impl Provider {
    /// Judges a logout request (a hint we did not sign, or a `post_logout_redirect_uri` the
    /// client did not register, is [`Error::UntrustedRedirect`]: an error page) for the browser's `current` session; with `confirmed` (the
    /// person answered the confirmation form), or a hint naming that session, ends it.
    pub async fn end_session(
        &self,
        request: &LogoutRequest,
        current: Option<CurrentSession<'_>>,
        confirmed: bool,
        now: UnixTime,
    ) -> Result<LogoutStep, Error> {
        let hint = match &request.id_token_hint {
            Some(token) => {
                let claims = self
                    .signing_keys(now)
                    .await?
                    .verify_hint(token)
                    .filter(|claims| claims["iss"] == self.issuer())
                    .ok_or(Error::UntrustedRedirect)?;
                Some(claims)
            }
            None => None,
        };
        let hinted_client = hint
            .as_ref()
            .and_then(|claims| claims["aud"].as_str().map(str::to_owned));
        let client_id = match (hinted_client, &request.client_id) {
            (Some(hinted), Some(asked)) if &hinted != asked => {
                return Err(Error::UntrustedRedirect)
            }
            (Some(hinted), _) => Some(hinted),
            (None, asked) => asked.clone(),
        };
        let redirect = match &request.post_logout_redirect_uri {
            None => None,
            Some(uri) => {
                let client = match &client_id {
                    Some(id) => self.store().oidc_client(id).await?,
                    None => None,
                };
                let registered = client.is_some_and(|client| {
                    client.post_logout_redirect_uris.iter().any(|u| u == uri)
                });
                if !registered {
                    return Err(Error::UntrustedRedirect);
                }
                let mut url = Url::parse(uri).map_err(|_| Error::UntrustedRedirect)?;
                if let Some(state) = &request.state {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(url)
            }
        };
        let Some(current) = current else {
            return Ok(LogoutStep::Done(redirect));
        };
        let names_this_session = hint.as_ref().is_some_and(|claims| {
            claims["sub"] == current.account.as_str()
                && claims["sid"] == session_sid(&self.secret_key, current.session.as_str())
        });
        if !(confirmed || names_this_session) {
            return Ok(LogoutStep::Confirm(redirect));
        }
        self.store()
            .delete_session(current.account, current.session)
            .await?;
        Ok(LogoutStep::Done(redirect))
    }
}
