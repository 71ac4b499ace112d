//! The code exchange on SQLite: one write transaction on the single writer, so nothing
//! interleaves between spending the code and issuing its tokens.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;

use super::decode::optional;
use super::SqliteStore;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::notification::Channels;
use crate::store::cache::Write;
use crate::store::oidc::{GrantRow, GRANT_COLUMNS};
use crate::store::oidc_exchange::{offline, CodeExchange, Exchange, Refusal, Subject};
use crate::store::oidc_refresh::REFRESH_COLUMNS;
use crate::store::{OidcExchanges, OidcGrant, StoreError};

/// The columns a token copies from its code (`REFRESH_COLUMNS` but the last two).
const COPIED: &str = "code_hash, client_id, account_id, session_id, scope, auth_time, amr, \
     access, deadline, workspace_role";

#[async_trait]
impl OidcExchanges for SqliteStore {
    async fn exchange_oidc_code(&self, exchange: &CodeExchange) -> Result<Exchange, StoreError> {
        // Publishes only a reuse (it revokes what the code issued, which nodes may remember);
        // a plain exchange adds tokens no node knows yet.
        self.cache
            .write_if(
                Write::ExchangeOidcCode,
                async {
                    let exchange = exchange.clone();
                    self.db
                        .write(move |tx| Ok(exchange_in(tx, &exchange)?))
                        .await
                },
                |done| matches!(done, Exchange::Reused { .. }),
            )
            .await
    }
}

fn exchange_in(tx: &Connection, exchange: &CodeExchange) -> rusqlite::Result<Exchange> {
    let (code, now) = (&exchange.code_hash.0, exchange.now.0);
    // Security: one conditional update spends the code; rows affected decide.
    let spent: Option<GrantRow> = optional(
        tx,
        &format!(
            "UPDATE oidc_codes SET spent_at = ?2
             WHERE code_hash = ?1 AND spent_at IS NULL AND expires_at > ?2
             RETURNING {GRANT_COLUMNS}"
        ),
        (code, now),
    )?;
    let Some(grant) = spent.map(OidcGrant::from) else {
        let used = tx
            .prepare_cached(
                "UPDATE oidc_codes SET reused_at = COALESCE(reused_at, ?2)
                 WHERE code_hash = ?1 AND spent_at IS NOT NULL",
            )?
            .execute((code, now))?;
        if used == 0 {
            return Ok(Exchange::Unknown);
        }
        let revoked = super::oidc_refresh::revoke_family(tx, code, now)?;
        return Ok(Exchange::Reused { revoked });
    };
    let subject = tx
        .prepare_cached(
            "SELECT email, name, email_verified_at, suspended_at FROM accounts WHERE id = ?1",
        )?
        .query_row([grant.account_id.as_str()], |row| {
            Ok(Subject {
                email: row.get(0)?,
                name: row.get(1)?,
                email_verified: row.get::<_, Option<i64>>(2)?.is_some(),
                suspended: row.get::<_, Option<i64>>(3)?.is_some(),
            })
        })
        .optional()?;
    let session_live: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")?
        .query_row([grant.session_id.as_str()], |row| row.get(0))?;
    let subject = match (
        Refusal::of(&grant, exchange, subject.as_ref(), session_live),
        subject,
    ) {
        (None, Some(subject)) => subject,
        (Some(refusal), _) => return Ok(Exchange::Refused(refusal)),
        (None, None) => return Ok(Exchange::Refused(Refusal::AccountGone)),
    };
    let copy = |table: &str| {
        format!(
            "INSERT INTO {table} (token_hash, {REFRESH_COLUMNS})
             SELECT ?1, {COPIED}, ?3, ?4 FROM oidc_codes WHERE code_hash = ?2"
        )
    };
    tx.prepare_cached(&copy("oidc_access_tokens"))?.execute((
        &exchange.access_token.0,
        code,
        now,
        exchange.access_expires_at.0,
    ))?;
    let refresh = offline(&grant.scope);
    if refresh {
        tx.prepare_cached(&copy("oidc_refresh_tokens"))?.execute((
            &exchange.refresh_token.0,
            code,
            now,
            exchange.refresh_expires_at.0,
        ))?;
    }
    let event = NewEvent {
        account_id: Some(grant.account_id.clone()),
        actor_id: None,
        workspace_id: None,
        kind: EventKind::OidcTokensIssued,
        at: exchange.now,
        ip: exchange.ip.clone(),
        user_agent: exchange.user_agent.clone(),
        details: json!({"client_id": grant.client_id, "scope": grant.scope}),
    };
    super::journal::append(tx, &event, Channels::default())?;
    Ok(Exchange::Issued {
        grant: Box::new(grant),
        subject,
        refresh,
    })
}
