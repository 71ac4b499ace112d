//! One-time e-mail tokens on PostgreSQL: at most one per account and purpose (issuing
//! replaces the row), each spent by one conditional delete, so of two nodes spending one
//! token only one finds the row (`migrations/postgres/0010_email_tokens.sql`).

use async_trait::async_trait;

use super::{journal, outbox, PostgresStore};
use crate::domain::email::Email;
use crate::domain::email_token::Purpose;
use crate::domain::event::ClientInfo;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::email_tokens::{eligible, sent_event, void_tokens, withheld_event};
use crate::store::rows::conflict_as;
use crate::store::{
    Constraint, EmailTokens, LinkEffect, NewEmailToken, SpentEmailToken, StoreError, TokenOwner,
};

/// A proven address, while still the account's, is verified if it was not yet (`$1` the
/// account, `$2` the address, `$3` now); one row changed says it is still the account's.
const VERIFY_IF_STILL: &str =
    "UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, $3)
     WHERE id = $1 AND email = $2";

/// The account's (`$1`) open reset request is stamped confirmed at `$2`, unless it was
/// already; its id. No row: the account has no open request.
const CONFIRM_OPEN_REQUEST: &str =
    "UPDATE reset_requests SET email_confirmed_at = COALESCE(email_confirmed_at, $2)
     WHERE account_id = $1 AND closed_at IS NULL
     RETURNING id";

#[async_trait]
impl EmailTokens for PostgresStore {
    async fn issue_email_token(
        &self,
        token: &NewEmailToken,
    ) -> Result<Option<AccountId>, StoreError> {
        self.cache
            .write(Write::IssueEmailToken, async {
                let mut tx = self.pool.begin().await?;
                let account = match &token.owner {
                    TokenOwner::Account(account) => account.clone(),
                    TokenOwner::ByAddress => {
                        let found: Option<(String, bool)> = sqlx::query_as(&format!(
                            "SELECT a.id, {} FROM accounts a WHERE a.email = $1",
                            eligible(token.purpose)
                        ))
                        .bind(token.email.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                        match found {
                            Some((id, true)) => AccountId(id),
                            other => {
                                let whose = other.map(|(id, _)| AccountId(id));
                                let event = withheld_event(token, whose.as_ref());
                                journal::append(&mut tx, &event, Channels::default()).await?;
                                tx.commit().await?;
                                return Ok(None);
                            }
                        }
                    }
                };
                sqlx::query(
                    "INSERT INTO email_tokens (account_id, purpose, email, link_hash, code_hash,
                                               created_at, expires_at, failures)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0)
                     ON CONFLICT (account_id, purpose) DO UPDATE SET
                         email = excluded.email, link_hash = excluded.link_hash,
                         code_hash = excluded.code_hash, created_at = excluded.created_at,
                         expires_at = excluded.expires_at, failures = 0",
                )
                .bind(account.as_str())
                .bind(token.purpose.as_str())
                .bind(token.email.as_str())
                .bind(&token.link_hash)
                .bind(&token.code_hash)
                .bind(token.created_at.0)
                .bind(token.expires_at.0)
                .execute(&mut *tx)
                .await?;
                // A new message starts its wrong codes again.
                sqlx::query("DELETE FROM throttle_counters WHERE key = $1")
                    .bind(token.purpose.code_counter(&token.email))
                    .execute(&mut *tx)
                    .await?;
                let event = sent_event(token, &account);
                let event_id = journal::append(&mut tx, &event, Channels::default()).await?;
                sqlx::query(
                    "INSERT INTO notification_outbox (event_id, channel, recipient_id, to_address,
                                                      message_key, message, next_attempt_at,
                                                      created_at)
                     VALUES ($1, 'email', $2, $3, $4, $5, $6, $6)",
                )
                .bind(event_id)
                .bind(account.as_str())
                .bind(token.email.as_str())
                .bind(&token.message.key_id.0)
                .bind(&token.message.blob)
                .bind(token.created_at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(account))
            })
            .await
    }

    async fn spend_email_link(
        &self,
        purpose: Purpose,
        link_hash: &[u8],
        effect: &LinkEffect,
        client: &ClientInfo,
        channels: Channels,
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, StoreError> {
        let spent = |spent: &Option<SpentEmailToken>| spent.is_some();
        self.cache
            .write_if(
                Write::SpendEmailLink,
                async {
                    let mut tx = self.pool.begin().await?;
                    let spent: Option<(String, String)> = sqlx::query_as(
                        "DELETE FROM email_tokens
                     WHERE link_hash = $1 AND purpose = $2 AND expires_at > $3
                     RETURNING account_id, email",
                    )
                    .bind(link_hash)
                    .bind(purpose.as_str())
                    .bind(now.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((account, email)) = spent else {
                        return Ok(None);
                    };
                    let (id, at) = (account.as_str(), now.0);
                    // The address a change of address leaves, to tell it.
                    let previous: Option<String> = match purpose {
                        Purpose::ChangeAddress => {
                            sqlx::query_scalar(
                                "SELECT email FROM accounts WHERE id = $1 FOR UPDATE",
                            )
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?
                        }
                        _ => None,
                    };
                    let mut confirmed: Option<String> = None;
                    let changed = match (effect, purpose) {
                        (LinkEffect::SignIn, _) => sqlx::query(VERIFY_IF_STILL)
                            .bind(id)
                            .bind(&email)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                        (LinkEffect::Verify, Purpose::ChangeAddress) => {
                            let moved = sqlx::query(
                                "UPDATE accounts SET email = $2, email_verified_at = $3
                             WHERE id = $1 AND suspended_at IS NULL",
                            )
                            .bind(id)
                            .bind(&email)
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| conflict_as(e, Constraint::AccountEmail))?
                            .rows_affected();
                            if moved == 1 {
                                // Whatever was sent to the old address proves nothing now.
                                sqlx::query(&void_tokens("$1"))
                                    .bind(id)
                                    .execute(&mut *tx)
                                    .await?;
                            }
                            moved
                        }
                        (LinkEffect::Verify, _) => sqlx::query(
                            "UPDATE accounts SET email_verified_at = $3
                         WHERE id = $1 AND email = $2 AND suspended_at IS NULL",
                        )
                        .bind(id)
                        .bind(&email)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                        (LinkEffect::ResetPassword { password_hash }, _) => {
                            let reset = sqlx::query(
                                "UPDATE accounts SET password_hash = $3, email_verified_at = $4
                             WHERE id = $1 AND email = $2 AND suspended_at IS NULL",
                            )
                            .bind(id)
                            .bind(&email)
                            .bind(password_hash)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                            if reset == 1 {
                                // Every session and open challenge ends, and every other token the
                                // account was sent dies with them.
                                let void = void_tokens("$1");
                                for end in [
                                    "DELETE FROM sessions WHERE account_id = $1",
                                    "DELETE FROM challenges WHERE account_id = $1",
                                    void.as_str(),
                                ] {
                                    sqlx::query(end).bind(id).execute(&mut *tx).await?;
                                }
                            }
                            reset
                        }
                        (LinkEffect::ConfirmResetRequest, _) => {
                            let still = sqlx::query(VERIFY_IF_STILL)
                                .bind(id)
                                .bind(&email)
                                .bind(at)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                            if still == 1 {
                                confirmed = sqlx::query_scalar(CONFIRM_OPEN_REQUEST)
                                    .bind(id)
                                    .bind(at)
                                    .fetch_optional(&mut *tx)
                                    .await?;
                            }
                            u64::from(confirmed.is_some())
                        }
                    };
                    if changed != 1 {
                        // The account moved to another address since: the token is spent (it can
                        // never prove anything again) but proves nothing now.
                        tx.commit().await?;
                        return Ok(None);
                    }
                    let spent = SpentEmailToken {
                        account: AccountId(account),
                        email: Email::from_stored(email),
                    };
                    let (previous, request) = (previous.as_deref(), confirmed.as_deref());
                    let event = effect.event(&spent, purpose, previous, request, client, now);
                    if let Some(event) = event {
                        if matches!(effect, LinkEffect::ResetPassword { .. }) {
                            // SPEC §14: a password reset revokes the account's API tokens.
                            super::api_tokens::revoke_all(&mut tx, spent.account.as_str(), &event)
                                .await?;
                        }
                        let event_id = journal::append(&mut tx, &event, channels).await?;
                        if let (Some(previous), true) = (previous, channels.email) {
                            outbox::enqueue_to_address(&mut tx, event_id, &event, previous).await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(Some(spent))
                },
                spent,
            )
            .await
    }

    async fn email_link_holder(
        &self,
        purpose: Purpose,
        link_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, StoreError> {
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT account_id, email FROM email_tokens
             WHERE link_hash = $1 AND purpose = $2 AND expires_at > $3",
        )
        .bind(link_hash)
        .bind(purpose.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|(account, email)| SpentEmailToken {
            account: AccountId(account),
            email: Email::from_stored(email),
        }))
    }

    async fn spend_email_code(
        &self,
        purpose: Purpose,
        email: &Email,
        code_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, StoreError> {
        let spent = |spent: &Option<SpentEmailToken>| spent.is_some();
        // Spent and, in the same statement, the address verified while it is still the
        // account's.
        let spend = async {
            let account: Option<String> = sqlx::query_scalar(
                "WITH spent AS (
                     DELETE FROM email_tokens
                     WHERE email = $1 AND purpose = $2 AND code_hash = $3 AND expires_at > $4
                       AND EXISTS (SELECT 1 FROM accounts a
                                   WHERE a.id = email_tokens.account_id AND a.email = $1)
                     RETURNING account_id),
                 verified AS (
                     UPDATE accounts a
                     SET email_verified_at = COALESCE(a.email_verified_at, $4)
                     FROM spent WHERE a.id = spent.account_id AND a.email = $1)
                 SELECT account_id FROM spent",
            )
            .bind(email.as_str())
            .bind(purpose.as_str())
            .bind(code_hash)
            .bind(now.0)
            .fetch_optional(&self.pool)
            .await?;
            Ok(account.map(|account| SpentEmailToken {
                account: AccountId(account),
                email: email.clone(),
            }))
        };
        self.cache
            .write_if(Write::SpendEmailCode, spend, spent)
            .await
    }

    async fn purge_expired_email_tokens(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.cache
            .write(Write::PurgeEmailTokens, async {
                let deleted = sqlx::query("DELETE FROM email_tokens WHERE expires_at <= $1")
                    .bind(now.0)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(deleted)
            })
            .await
    }
}
