//! The token endpoint's code exchange (RFC 6749 §4.1.3, OpenID Connect Core §3.1.3) and
//! userinfo (OpenID Connect Core §5.3).
//!
//! The exchange is one change (`store/oidc_exchange.rs`): the code is spent before anything
//! else is judged, so a code presented with a wrong verifier, client or redirect URI is
//! spent too and cannot be tried again; its tokens and event are kept with it. A code spent
//! before answers `invalid_grant` and revokes what it issued. Only the ID token is made
//! after, from what the change returned: the client and the signing keys are read from the
//! node's memory, so an exchange is one statement on PostgreSQL.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Error, Provider};
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::{AccountId, SessionId, Token};
use crate::domain::oidc::{
    person_claims, presented_challenge, session_sid, IdTokenClaims, Person, PersonClaims, Scopes,
    SignInRecord, ACCESS_TOKEN_TTL_SECONDS, ID_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS,
};
use crate::domain::time::UnixTime;
use crate::domain::workspace::Access;
use crate::store::{CodeExchange, Exchange, OidcClient, Refusal, Subject};

/// What `invalid_grant` says of a refused code.
fn refused(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::OtherClient => "the code was issued to another client",
        Refusal::RedirectUri => "redirect_uri differs from the request's",
        Refusal::Verifier => "code_verifier does not match",
        Refusal::AccountGone => "the account is gone",
        Refusal::Suspended => "the account is suspended",
        Refusal::SessionEnded => "the session the code was issued under has ended",
    }
}

/// A token request's form (RFC 6749 §4.1.3), with the client's credentials from the
/// `Authorization` header or the form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    /// `authorization_code` or `refresh_token`.
    #[serde(default)]
    pub grant_type: Option<String>,
    /// The refresh token (`grant_type=refresh_token`).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// With a refresh: the scopes asked, which must be within those granted.
    #[serde(default)]
    pub scope: Option<String>,
    /// The code.
    #[serde(default)]
    pub code: Option<String>,
    /// The redirect URI of the authorization request.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The client (`client_secret_post` or a public client).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The secret (`client_secret_post`).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The PKCE verifier.
    #[serde(default)]
    pub code_verifier: Option<String>,
}

/// The token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// An opaque bearer token for userinfo.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// The ID token (a JWT).
    pub id_token: String,
    /// The scopes granted.
    pub scope: String,
    /// With scope `offline_access`: a refresh token, opaque, single use (each use returns
    /// the next one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// What an ID token says of the sign-in a grant (a code's, or a refresh token's) keeps.
pub(super) struct SignInFacts<'a> {
    pub(super) account_id: &'a AccountId,
    pub(super) client_id: &'a str,
    pub(super) session_id: &'a SessionId,
    pub(super) scope: &'a str,
    pub(super) auth_time: UnixTime,
    pub(super) amr: &'a str,
    pub(super) access: &'a str,
    pub(super) deadline: Option<UnixTime>,
    pub(super) workspace_role: Option<&'a str>,
}

impl Provider {
    /// The claims of an ID token about `subject` for the sign-in `facts` describe, issued
    /// `now` (a refreshed one keeps `auth_time`, `amr` and `acr`, and has no nonce).
    pub(super) fn id_token_claims(
        &self,
        subject: &Subject,
        facts: &SignInFacts<'_>,
        nonce: Option<String>,
        now: UnixTime,
    ) -> IdTokenClaims {
        let record = SignInRecord::parse(facts.amr, facts.auth_time);
        let access = workspace_of(facts.access, facts.deadline);
        let person = Person {
            account_id: facts.account_id.as_str(),
            email: &subject.email,
            email_verified: subject.email_verified,
            name: subject.name.as_deref(),
            workspace: facts.workspace_role.map(|role| (role, access)),
        };
        IdTokenClaims {
            iss: self.issuer().to_owned(),
            sub: facts.account_id.as_str().to_owned(),
            aud: facts.client_id.to_owned(),
            exp: now.0 + ID_TOKEN_TTL_SECONDS,
            iat: now.0,
            auth_time: facts.auth_time.0,
            nonce,
            amr: record.amr(),
            acr: record.acr().to_owned(),
            azp: facts.client_id.to_owned(),
            sid: session_sid(&self.secret_key, facts.session_id.as_str()),
            person: person_claims(person, Scopes::parse(facts.scope)),
        }
    }
}

pub(super) fn workspace_of(grant_access: &str, deadline: Option<UnixTime>) -> Access {
    match (grant_access, deadline) {
        ("grace", Some(deadline)) => Access::Grace { deadline },
        _ => Access::Ok,
    }
}

impl Provider {
    /// Exchanges a code: `credentials` are the client's from the `Authorization` header
    /// (`client_secret_basic`), when it sent them.
    pub async fn exchange(
        &self,
        form: &TokenRequest,
        credentials: Option<(String, String)>,
        client_info: &ClientInfo,
        now: UnixTime,
    ) -> Result<TokenResponse, Error> {
        match form.grant_type.as_deref() {
            Some("authorization_code") => {}
            Some("refresh_token") => {
                let client = self.client_of(form, credentials).await?;
                return self.refresh(&client, form, client_info, now).await;
            }
            Some(_) => return Err(Error::UnsupportedGrantType),
            None => return Err(Error::InvalidRequest("grant_type is required")),
        }
        let client = self.client_of(form, credentials).await?;
        let code = form
            .code
            .as_deref()
            .ok_or(Error::InvalidRequest("code is required"))?;
        let (access_token, refresh_token) = (Token::generate(), Token::generate());
        let exchange = CodeExchange {
            code_hash: Token::from_presented(code).hash(),
            client_id: client.client_id.clone(),
            redirect_uri: form.redirect_uri.clone(),
            challenge: presented_challenge(form.code_verifier.as_deref()),
            access_token: access_token.hash(),
            access_expires_at: now.plus_seconds(ACCESS_TOKEN_TTL_SECONDS),
            refresh_token: refresh_token.hash(),
            refresh_expires_at: now.plus_seconds(REFRESH_TOKEN_TTL_SECONDS),
            ip: client_info.ip.clone(),
            user_agent: client_info.user_agent.clone(),
            now,
        };
        let (grant, subject, refresh) = match self.store().exchange_oidc_code(&exchange).await? {
            Exchange::Issued {
                grant,
                subject,
                refresh,
            } => (*grant, subject, refresh),
            Exchange::Refused(refusal) => return Err(Error::InvalidGrant(refused(refusal))),
            Exchange::Reused { revoked } => {
                let details = json!({"client_id": client.client_id, "revoked": revoked});
                self.record(None, EventKind::OidcCodeReused, client_info, now, details)
                    .await?;
                return Err(Error::InvalidGrant("the code was used before"));
            }
            Exchange::Unknown => return Err(Error::InvalidGrant("unknown or expired code")),
        };
        let facts = SignInFacts {
            account_id: &grant.account_id,
            client_id: &grant.client_id,
            session_id: &grant.session_id,
            scope: &grant.scope,
            auth_time: grant.auth_time,
            amr: &grant.amr,
            access: &grant.access,
            deadline: grant.deadline,
            workspace_role: grant.workspace_role.as_deref(),
        };
        let claims = self.id_token_claims(&subject, &facts, grant.nonce.clone(), now);
        let id_token = self
            .signing_keys(now)
            .await?
            .sign(client.id_token_alg, &claims)?;
        Ok(TokenResponse {
            access_token: access_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_TTL_SECONDS,
            id_token,
            scope: grant.scope,
            refresh_token: refresh.then(|| refresh_token.expose().to_owned()),
        })
    }

    /// The client a token request authenticates as (RFC 6749 §2.3.1): from the
    /// `Authorization` header (`client_secret_basic`) or the form (`client_secret_post`, or a
    /// public client's `client_id` alone); both, naming different clients, is refused.
    pub(super) async fn client_of(
        &self,
        form: &TokenRequest,
        credentials: Option<(String, String)>,
    ) -> Result<OidcClient, Error> {
        let (client_id, secret) = match (credentials, &form.client_id) {
            (Some((id, secret)), None) => (id, Some(secret)),
            (Some((id, secret)), Some(form_id)) if &id == form_id => (id, Some(secret)),
            (Some(_), Some(_)) => return Err(Error::InvalidClient),
            (None, Some(id)) => (id.clone(), form.client_secret.clone()),
            (None, None) => return Err(Error::InvalidClient),
        };
        self.authenticate_client(&client_id, secret.as_deref())
            .await
    }

    /// Userinfo for the bearer `token`: the claims of the ID token about the person (with
    /// `sub`), as the scopes granted release them. One indexed read, remembered by the node
    /// until a write that can end the token publishes.
    pub async fn userinfo(&self, token: &str, now: UnixTime) -> Result<serde_json::Value, Error> {
        let grant = self
            .store()
            .oidc_access_token(&Token::from_presented(token).hash(), now)
            .await?
            .ok_or(Error::InvalidToken)?;
        let access = workspace_of(&grant.access, grant.deadline);
        let person = Person {
            account_id: grant.account_id.as_str(),
            email: &grant.email,
            email_verified: grant.email_verified,
            name: grant.name.as_deref(),
            workspace: grant.workspace_role.as_deref().map(|role| (role, access)),
        };
        let claims: PersonClaims = person_claims(person, Scopes::parse(&grant.scope));
        let mut body = serde_json::to_value(&claims).unwrap_or_else(|_| json!({}));
        body["sub"] = json!(claims.sub);
        Ok(body)
    }
}
