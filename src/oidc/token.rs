//! The token endpoint's code exchange (RFC 6749 §4.1.3, OpenID Connect Core §3.1.3) and
//! userinfo (OpenID Connect Core §5.3).
//!
//! A code is spent before anything else is judged (one conditional update; see
//! `store/oidc.rs`), so a code presented with a wrong verifier, client or redirect URI is
//! spent too: it cannot be tried again. A code spent before answers `invalid_grant` and
//! revokes the access tokens issued from it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::keys::SigningAlgorithm;
use super::{Error, Provider};
use crate::domain::account::Account;
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::{SessionId, Token, TokenHash};
use crate::domain::oidc::{
    person_claims, pkce_matches, session_sid, IdTokenClaims, Person, PersonClaims, Scopes,
    SignInRecord, ACCESS_TOKEN_TTL_SECONDS, ID_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS,
};
use crate::domain::time::UnixTime;
use crate::domain::workspace::Access;
use crate::store::{OidcClient, OidcGrant, Redemption, RefreshGrant};

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

/// What a refresh token issued by the exchange of `grant` carries.
fn refresh_grant_of(code_hash: &TokenHash, grant: &OidcGrant, now: UnixTime) -> RefreshGrant {
    RefreshGrant {
        code_hash: code_hash.clone(),
        client_id: grant.client_id.clone(),
        account_id: grant.account_id.clone(),
        session_id: grant.session_id.clone(),
        scope: grant.scope.clone(),
        auth_time: grant.auth_time,
        amr: grant.amr.clone(),
        access: grant.access.clone(),
        deadline: grant.deadline,
        workspace_role: grant.workspace_role.clone(),
        created_at: now,
        expires_at: now.plus_seconds(REFRESH_TOKEN_TTL_SECONDS),
    }
}

/// What an ID token says of the sign-in a grant (a code's, or a refresh token's) keeps.
pub(super) struct SignInFacts<'a> {
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
    /// The claims of an ID token about `account` for the sign-in `facts` describe, issued
    /// `now` (a refreshed one keeps `auth_time`, `amr` and `acr`, and has no nonce).
    pub(super) fn id_token_claims(
        &self,
        account: &Account,
        facts: &SignInFacts<'_>,
        nonce: Option<String>,
        now: UnixTime,
    ) -> IdTokenClaims {
        let record = SignInRecord::parse(facts.amr, facts.auth_time);
        let access = workspace_of(facts.access, facts.deadline);
        let person = Person {
            account_id: account.id.as_str(),
            email: account.email.as_str(),
            email_verified: account.email_verified_at.is_some(),
            name: account.name.as_deref(),
            workspace: facts.workspace_role.map(|role| (role, access)),
        };
        IdTokenClaims {
            iss: self.issuer().to_owned(),
            sub: account.id.as_str().to_owned(),
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
        let code_hash = Token::from_presented(code).hash();
        let grant = match self.store().redeem_oidc_code(&code_hash, now).await? {
            Redemption::Redeemed(grant) => *grant,
            Redemption::Reused { revoked } => {
                let details = json!({"client_id": client.client_id, "revoked": revoked});
                self.record(None, EventKind::OidcCodeReused, client_info, now, details)
                    .await?;
                return Err(Error::InvalidGrant("the code was used before"));
            }
            Redemption::Unknown => return Err(Error::InvalidGrant("unknown or expired code")),
        };
        if grant.client_id != client.client_id {
            return Err(Error::InvalidGrant("the code was issued to another client"));
        }
        if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            return Err(Error::InvalidGrant(
                "redirect_uri differs from the request's",
            ));
        }
        match (&grant.code_challenge, &form.code_verifier) {
            (Some(challenge), Some(verifier)) if pkce_matches(challenge, verifier) => {}
            (None, None) => {}
            _ => return Err(Error::InvalidGrant("code_verifier does not match")),
        }
        let response = self
            .issue_tokens(&code_hash, &grant, client.id_token_alg, now)
            .await?;
        let details = json!({"client_id": client.client_id, "scope": grant.scope});
        self.record(
            Some(&grant.account_id),
            EventKind::OidcTokensIssued,
            client_info,
            now,
            details,
        )
        .await?;
        Ok(response)
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

    async fn issue_tokens(
        &self,
        code_hash: &TokenHash,
        grant: &OidcGrant,
        alg: SigningAlgorithm,
        now: UnixTime,
    ) -> Result<TokenResponse, Error> {
        let account = self
            .store()
            .account_by_id(&grant.account_id)
            .await?
            .ok_or(Error::InvalidGrant("the account is gone"))?;
        if account.is_suspended() {
            return Err(Error::InvalidGrant("the account is suspended"));
        }
        let scopes = Scopes::parse(&grant.scope);
        let facts = SignInFacts {
            client_id: &grant.client_id,
            session_id: &grant.session_id,
            scope: &grant.scope,
            auth_time: grant.auth_time,
            amr: &grant.amr,
            access: &grant.access,
            deadline: grant.deadline,
            workspace_role: grant.workspace_role.as_deref(),
        };
        let claims = self.id_token_claims(&account, &facts, grant.nonce.clone(), now);
        let keys = self.signing_keys(now).await?;
        let id_token = keys.sign(alg, &claims)?;
        let access_token = Token::generate();
        let kept = self
            .store()
            .create_oidc_access_token(
                &access_token.hash(),
                code_hash,
                grant,
                now.plus_seconds(ACCESS_TOKEN_TTL_SECONDS),
            )
            .await?;
        if !kept {
            // The code was presented again after this exchange spent it (another node's
            // request, say), or its session ended: the answer stands, since this is the one
            // exchange the code had, but its access token is revoked already, as a reuse
            // revokes what the code issued (the ID token, a signed statement, cannot be).
            tracing::info!(client_id = %grant.client_id, "access token revoked at issue");
        }
        let refresh_token = if scopes.offline_access {
            let refresh_token = Token::generate();
            self.store()
                .create_oidc_refresh_token(
                    &refresh_token.hash(),
                    &refresh_grant_of(code_hash, grant, now),
                    now.plus_seconds(REFRESH_TOKEN_TTL_SECONDS),
                )
                .await?;
            Some(refresh_token.expose().to_owned())
        } else {
            None
        };
        Ok(TokenResponse {
            access_token: access_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_TTL_SECONDS,
            id_token,
            scope: grant.scope.clone(),
            refresh_token,
        })
    }

    /// Userinfo for the bearer `token`: the claims of the ID token about the person (with
    /// `sub`), as the scopes granted release them. One indexed read; nothing is remembered.
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
