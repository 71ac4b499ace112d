//! Refresh (RFC 6749 §6, OpenID Connect Core §12), revocation (RFC 7009) and
//! introspection (RFC 7662).
//!
//! A refresh token is spent by one conditional update and its successor kept in the same
//! transaction (`store/oidc_refresh.rs`); a spent one presented again revokes its family
//! (every refresh and access token descended from the same code) and is an
//! `oidc_refresh_reused` event. A refreshed ID token keeps the `auth_time`, `amr` and `acr`
//! of the sign-in it descends from, and carries no `nonce`.

use serde::Deserialize;
use serde_json::json;

use super::token::{SignInFacts, TokenRequest, TokenResponse};
use super::{Error, Provider};
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::Token;
use crate::domain::oidc::{Scopes, ACCESS_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS};
use crate::domain::time::UnixTime;
use crate::store::{IssuedTokens, OidcClient, Rotation, Subject};

/// A revocation (RFC 7009 §2.1) or introspection (RFC 7662 §2.1) request's form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenQuery {
    /// The token.
    #[serde(default)]
    pub token: Option<String>,
    /// `access_token` or `refresh_token`: a hint only (both kinds are looked for).
    #[serde(default)]
    pub token_type_hint: Option<String>,
    /// The client (`client_secret_post` or a public client).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The secret (`client_secret_post`).
    #[serde(default)]
    pub client_secret: Option<String>,
}

impl TokenQuery {
    fn credentials_form(&self) -> TokenRequest {
        TokenRequest {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            ..TokenRequest::default()
        }
    }
}

impl Provider {
    /// `grant_type=refresh_token` for the authenticated `client`.
    pub(super) async fn refresh(
        &self,
        client: &OidcClient,
        form: &TokenRequest,
        client_info: &ClientInfo,
        now: UnixTime,
    ) -> Result<TokenResponse, Error> {
        let presented = form
            .refresh_token
            .as_deref()
            .ok_or(Error::InvalidRequest("refresh_token is required"))?;
        let presented = Token::from_presented(presented).hash();
        if let Some(asked) = &form.scope {
            // RFC 6749 §6: a refresh may not widen the grant (it is not narrowed either: the
            // tokens keep the scopes granted).
            let granted = self.store().oidc_refresh_token(&presented, now).await?;
            let within =
                granted.is_some_and(|g| Scopes::parse(asked).within(Scopes::parse(&g.scope)));
            if !within {
                return Err(Error::InvalidScope);
            }
        }
        let (refresh_token, access_token) = (Token::generate(), Token::generate());
        let next = IssuedTokens {
            refresh_hash: refresh_token.hash(),
            refresh_expires_at: now.plus_seconds(REFRESH_TOKEN_TTL_SECONDS),
            access_hash: access_token.hash(),
            access_expires_at: now.plus_seconds(ACCESS_TOKEN_TTL_SECONDS),
        };
        let grant = match self
            .store()
            .rotate_oidc_refresh_token(&presented, &client.client_id, &next, now)
            .await?
        {
            Rotation::Rotated(grant) => *grant,
            Rotation::Reused {
                client_id,
                account_id,
                revoked,
            } => {
                let details = json!({"client_id": client_id, "revoked": revoked});
                self.record(
                    Some(&account_id),
                    EventKind::OidcRefreshReused,
                    client_info,
                    now,
                    details,
                )
                .await?;
                return Err(Error::InvalidGrant("the refresh token was used before"));
            }
            Rotation::Unknown => {
                return Err(Error::InvalidGrant(
                    "unknown, expired or revoked refresh token",
                ))
            }
        };
        let account = self
            .store()
            .account_by_id(&grant.account_id)
            .await?
            .ok_or(Error::InvalidGrant("the account is gone"))?;
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
        let claims = self.id_token_claims(&Subject::from(&account), &facts, None, now);
        let details = json!({
            "client_id": grant.client_id,
            "scope": grant.scope,
            "grant_type": "refresh_token",
        });
        self.record(
            Some(&grant.account_id),
            EventKind::OidcTokensIssued,
            client_info,
            now,
            details,
        )
        .await?;
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
            refresh_token: Some(refresh_token.expose().to_owned()),
        })
    }

    /// RFC 7009: revokes `form.token` if the authenticated client holds it (a refresh token
    /// with its family, an access token alone). Unknown tokens, and other clients' tokens,
    /// are answered alike: done.
    pub async fn revoke(
        &self,
        form: &TokenQuery,
        credentials: Option<(String, String)>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let client = self
            .client_of(&form.credentials_form(), credentials)
            .await?;
        let token = form
            .token
            .as_deref()
            .ok_or(Error::InvalidRequest("token is required"))?;
        let revoked = self
            .store()
            .revoke_oidc_token(&Token::from_presented(token).hash(), &client.client_id, now)
            .await?;
        tracing::debug!(client_id = %client.client_id, revoked, "token revocation");
        Ok(())
    }

    /// RFC 7662, for confidential clients: `{"active": false}` for a token that is unknown,
    /// lapsed, revoked, spent, whose session ended, or that another client holds.
    pub async fn introspect(
        &self,
        form: &TokenQuery,
        credentials: Option<(String, String)>,
        now: UnixTime,
    ) -> Result<serde_json::Value, Error> {
        let client = self
            .client_of(&form.credentials_form(), credentials)
            .await?;
        if client.is_public() {
            return Err(Error::InvalidClient);
        }
        let token = form
            .token
            .as_deref()
            .ok_or(Error::InvalidRequest("token is required"))?;
        let hash = Token::from_presented(token).hash();
        if let Some(grant) = self.store().oidc_access_token(&hash, now).await? {
            if grant.client_id == client.client_id {
                return Ok(json!({
                    "active": true,
                    "token_type": "Bearer",
                    "scope": grant.scope,
                    "client_id": grant.client_id,
                    "sub": grant.account_id.as_str(),
                    "exp": grant.expires_at.0,
                    "iat": grant.issued_at.0,
                    "iss": self.issuer(),
                }));
            }
            return Ok(json!({"active": false}));
        }
        if let Some(grant) = self.store().oidc_refresh_token(&hash, now).await? {
            if grant.client_id == client.client_id {
                return Ok(json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": grant.scope,
                    "client_id": grant.client_id,
                    "sub": grant.account_id.as_str(),
                    "exp": grant.expires_at.0,
                    "iat": grant.created_at.0,
                    "iss": self.issuer(),
                }));
            }
        }
        Ok(json!({"active": false}))
    }
}
