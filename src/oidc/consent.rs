//! Consent (SPEC §12): asked once per person and non-trusted client, for the scopes asked,
//! and remembered (`oidc_consents`); declined, the client hears `access_denied`.

use serde_json::json;

use super::authorize::Browser;
use super::{AuthorizationRequest, Authorized, Error, Provider, RedirectError};
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::oidc::Scopes;
use crate::domain::time::UnixTime;
use crate::store::Consent;

/// What the consent page shows.
#[derive(Debug, Clone)]
pub struct ConsentView {
    /// The client's name.
    pub client_name: String,
    /// Its id.
    pub client_id: String,
    /// What it asks for, in words.
    pub scopes: Vec<&'static str>,
    /// The request, to post back with the answer.
    pub request: String,
}

pub(super) fn scope_words(scopes: Scopes) -> Vec<&'static str> {
    let mut words = vec!["Know who you are (your account id) and how you signed in"];
    if scopes.email {
        words.push("See your e-mail address");
    }
    if scopes.profile {
        words.push("See your name");
    }
    words
}

impl Provider {
    /// The person's answer on the consent page for `request`: approved, the consent is
    /// remembered (for this client and these scopes) and the request answered again;
    /// declined, the client hears `access_denied`.
    pub async fn answer_consent(
        &self,
        request: &AuthorizationRequest,
        browser: Option<Browser<'_>>,
        approve: bool,
        client_info: &ClientInfo,
        now: UnixTime,
    ) -> Result<Authorized, Error> {
        let checked = match self.check(request).await? {
            Ok(checked) => checked,
            Err(refusal) => return Ok(Authorized::Redirect(refusal)),
        };
        let Some(browser) = browser else {
            return Ok(Authorized::SignIn {
                next: request.path_without(&["login"]),
            });
        };
        let client_id = &checked.client.client_id;
        if !approve {
            let details = json!({"client_id": client_id, "error": "consent_declined"});
            self.record(
                Some(&browser.account.id),
                EventKind::OidcAuthorizationDenied,
                client_info,
                now,
                details,
            )
            .await?;
            return Ok(Authorized::Redirect(self.error_redirect(
                &checked.redirect,
                request,
                RedirectError::AccessDenied,
                "the person declined",
            )));
        }
        let scope = checked.scopes.as_string();
        self.store()
            .grant_oidc_consent(&browser.account.id, client_id, &scope, now)
            .await?;
        let details = json!({"client_id": client_id, "scope": scope});
        self.record(
            Some(&browser.account.id),
            EventKind::OidcConsentGranted,
            client_info,
            now,
            details,
        )
        .await?;
        let mut again = request.clone();
        again.prompt = request.prompt.as_deref().and_then(|prompt| {
            let kept: Vec<&str> = prompt
                .split(' ')
                .filter(|p| !p.is_empty() && *p != "consent")
                .collect();
            (!kept.is_empty()).then(|| kept.join(" "))
        });
        self.authorize(&again, Some(browser), client_info, now)
            .await
    }

    /// The applications `account` consented to, by name.
    pub async fn consents(&self, account: &AccountId) -> Result<Vec<Consent>, Error> {
        Ok(self.store().oidc_consents(account).await?)
    }

    /// Withdraws `account`'s consent to `client_id`: the application asks again next time,
    /// and the access tokens it holds for the account end at once. Recorded as
    /// `oidc_consent_revoked`; false when there was no such consent.
    pub async fn revoke_consent(
        &self,
        account: &AccountId,
        client_id: &str,
        client_info: &ClientInfo,
        now: UnixTime,
    ) -> Result<bool, Error> {
        let details = json!({"client_id": client_id});
        let kind = EventKind::OidcConsentRevoked;
        let events = [NewEvent::by_owner(account, kind, client_info, now, details)];
        let journal = self.notifier.journal(&events);
        let revoked = self
            .store()
            .revoke_oidc_consent(account, client_id, journal)
            .await?;
        Ok(revoked)
    }
}
