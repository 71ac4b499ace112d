//! The code exchange on PostgreSQL: one statement (`exchange_code.sql`, which says why it
//! keeps each promise), and for a code spent before, the reuse's mark and revocation.

use async_trait::async_trait;

use super::PostgresStore;
use crate::store::cache::Write;
use crate::store::oidc::GrantRow;
use crate::store::oidc_exchange::{offline, CodeExchange, Exchange, Refusal, Subject};
use crate::store::{OidcExchanges, OidcGrant, StoreError};

const EXCHANGE: &str = include_str!("exchange_code.sql");

/// What the exchange read of a spent code: the code, and its account and session.
#[derive(sqlx::FromRow)]
struct JudgedRow {
    #[sqlx(flatten)]
    grant: GrantRow,
    email: Option<String>,
    name: Option<String>,
    email_verified_at: Option<i64>,
    suspended_at: Option<i64>,
    session_live: bool,
    /// Whether the statement issued tokens.
    issued: bool,
}

impl JudgedRow {
    /// The grant, and its account when there is one.
    fn split(self) -> (OidcGrant, Option<Subject>) {
        let subject = self.email.map(|email| Subject {
            email,
            email_verified: self.email_verified_at.is_some(),
            name: self.name,
            suspended: self.suspended_at.is_some(),
        });
        (self.grant.into(), subject)
    }
}

#[async_trait]
impl OidcExchanges for PostgresStore {
    async fn exchange_oidc_code(&self, exchange: &CodeExchange) -> Result<Exchange, StoreError> {
        // Publishes only a reuse (it revokes what the code issued, which nodes may remember);
        // a plain exchange adds tokens no node knows yet.
        self.cache
            .write_if(
                Write::ExchangeOidcCode,
                async {
                    let judged: Option<JudgedRow> = sqlx::query_as(EXCHANGE)
                        .bind(&exchange.code_hash.0)
                        .bind(exchange.now.0)
                        .bind(&exchange.client_id)
                        .bind(&exchange.redirect_uri)
                        .bind(&exchange.challenge)
                        .bind(&exchange.access_token.0)
                        .bind(exchange.access_expires_at.0)
                        .bind(&exchange.refresh_token.0)
                        .bind(exchange.refresh_expires_at.0)
                        .bind(&exchange.ip)
                        .bind(&exchange.user_agent)
                        .fetch_optional(&self.pool)
                        .await?;
                    let Some(judged) = judged else {
                        return self.reused(exchange).await;
                    };
                    let (session_live, issued) = (judged.session_live, judged.issued);
                    let (grant, subject) = judged.split();
                    let refusal = Refusal::of(&grant, exchange, subject.as_ref(), session_live);
                    match (refusal, subject, issued) {
                        (Some(refusal), _, false) => Ok(Exchange::Refused(refusal)),
                        (None, Some(subject), true) => Ok(Exchange::Issued {
                            refresh: offline(&grant.scope),
                            grant: Box::new(grant),
                            subject,
                        }),
                        _ => Err(StoreError::Schema(
                            "exchange_code.sql and Refusal::of judged a code differently"
                                .to_owned(),
                        )),
                    }
                },
                |done| matches!(done, Exchange::Reused { .. }),
            )
            .await
    }
}

impl PostgresStore {
    /// A code the exchange did not spend: unknown, or spent before. Marked reused first (an
    /// exchange issuing from it holds its row until it commits, so this waits for it, and
    /// one after finds the code spent), then what it issued is revoked by a second
    /// statement, which sees every token committed before the mark.
    async fn reused(&self, exchange: &CodeExchange) -> Result<Exchange, StoreError> {
        let mut tx = self.pool.begin().await?;
        let used = sqlx::query(
            "UPDATE oidc_codes SET reused_at = COALESCE(reused_at, $2)
             WHERE code_hash = $1 AND spent_at IS NOT NULL",
        )
        .bind(&exchange.code_hash.0)
        .bind(exchange.now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used == 0 {
            tx.commit().await?;
            return Ok(Exchange::Unknown);
        }
        let revoked =
            super::oidc_refresh::revoke_family(&mut tx, &exchange.code_hash.0, exchange.now.0)
                .await?;
        tx.commit().await?;
        Ok(Exchange::Reused { revoked })
    }
}
