//! One-time e-mail tokens on SQLite: at most one per account and purpose (issuing replaces
//! the row), each spent by one conditional delete (`migrations/sqlite/0010_email_tokens.sql`).

use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::{journal, outbox, SqliteStore};
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

/// A proven address, while still the account's, is verified if it was not yet (`?1` the
/// account, `?2` the address, `?3` now); one row changed says it is still the account's.
const VERIFY_IF_STILL: &str =
    "UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, ?3)
     WHERE id = ?1 AND email = ?2";

/// The account's (`?1`) open reset request is stamped confirmed at `?2`, unless it was
/// already; its id. No row: the account has no open request.
const CONFIRM_OPEN_REQUEST: &str =
    "UPDATE reset_requests SET email_confirmed_at = COALESCE(email_confirmed_at, ?2)
     WHERE account_id = ?1 AND closed_at IS NULL
     RETURNING id";

#[async_trait]
impl EmailTokens for SqliteStore {
    async fn issue_email_token(
        &self,
        token: &NewEmailToken,
    ) -> Result<Option<AccountId>, StoreError> {
        self.cache
            .write(Write::IssueEmailToken, async {
                let token = token.clone();
                self.db
                    .write(move |tx| {
                        let account = match &token.owner {
                            TokenOwner::Account(account) => account.clone(),
                            TokenOwner::ByAddress => {
                                let found: Option<(String, bool)> = tx
                                    .prepare_cached(&format!(
                                        "SELECT a.id, {} FROM accounts a WHERE a.email = ?1",
                                        eligible(token.purpose)
                                    ))?
                                    .query_row([token.email.as_str()], |row| {
                                        Ok((row.get(0)?, row.get(1)?))
                                    })
                                    .optional()?;
                                match found {
                                    Some((id, true)) => AccountId(id),
                                    other => {
                                        let whose = other.map(|(id, _)| AccountId(id));
                                        let event = withheld_event(&token, whose.as_ref());
                                        journal::append(tx, &event, Channels::default())?;
                                        return Ok(None);
                                    }
                                }
                            }
                        };
                        tx.prepare_cached(
                            "INSERT INTO email_tokens (account_id, purpose, email, link_hash,
                                 code_hash, created_at, expires_at, failures)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)
                             ON CONFLICT (account_id, purpose) DO UPDATE SET
                                 email = excluded.email, link_hash = excluded.link_hash,
                                 code_hash = excluded.code_hash,
                                 created_at = excluded.created_at,
                                 expires_at = excluded.expires_at, failures = 0",
                        )?
                        .execute((
                            account.as_str(),
                            token.purpose.as_str(),
                            token.email.as_str(),
                            &token.link_hash,
                            &token.code_hash,
                            token.created_at.0,
                            token.expires_at.0,
                        ))?;
                        // A new message starts its wrong codes again.
                        tx.prepare_cached("DELETE FROM throttle_counters WHERE key = ?1")?
                            .execute([token.purpose.code_counter(&token.email)])?;
                        let event = sent_event(&token, &account);
                        let event_id = journal::append(tx, &event, Channels::default())?;
                        tx.prepare_cached(
                            "INSERT INTO notification_outbox (event_id, channel, recipient_id,
                                 to_address, message_key, message, next_attempt_at, created_at)
                             VALUES (?1, 'email', ?2, ?3, ?4, ?5, ?6, ?6)",
                        )?
                        .execute((
                            event_id,
                            account.as_str(),
                            token.email.as_str(),
                            &token.message.key_id.0,
                            &token.message.blob,
                            token.created_at.0,
                        ))?;
                        Ok(Some(account))
                    })
                    .await
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
                    let link_hash = link_hash.to_vec();
                    let (client, effect) = (client.clone(), effect.clone());
                    self.db
                        .write(move |tx| {
                            let spent = tx
                                .prepare_cached(
                                    "DELETE FROM email_tokens
                                 WHERE link_hash = ?1 AND purpose = ?2 AND expires_at > ?3
                                 RETURNING account_id, email",
                                )?
                                .query_row((link_hash, purpose.as_str(), now.0), |row| {
                                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                                })
                                .optional()?;
                            let Some((account, email)) = spent else {
                                return Ok(None);
                            };
                            let (id, at) = (account.as_str(), now.0);
                            // The address a change of address leaves, to tell it.
                            let previous: Option<String> = match purpose {
                                Purpose::ChangeAddress => tx
                                    .prepare_cached("SELECT email FROM accounts WHERE id = ?1")?
                                    .query_row([id], |row| row.get(0))
                                    .optional()?,
                                _ => None,
                            };
                            let mut confirmed: Option<String> = None;
                            let changed = match (&effect, purpose) {
                                (LinkEffect::SignIn, _) => tx
                                    .prepare_cached(VERIFY_IF_STILL)?
                                    .execute((id, &email, at))?,
                                (LinkEffect::Verify, Purpose::ChangeAddress) => {
                                    let moved = tx
                                        .prepare_cached(
                                            "UPDATE accounts SET email = ?2, email_verified_at = ?3
                                             WHERE id = ?1 AND suspended_at IS NULL",
                                        )?
                                        .execute((id, &email, at))
                                        .map_err(|e| conflict_as(e, Constraint::AccountEmail))?;
                                    if moved == 1 {
                                        // Whatever was sent to the old address proves nothing now.
                                        tx.prepare_cached(&void_tokens("?1"))?.execute([id])?;
                                    }
                                    moved
                                }
                                (LinkEffect::Verify, _) => tx
                                    .prepare_cached(
                                        "UPDATE accounts SET email_verified_at = ?3
                                     WHERE id = ?1 AND email = ?2 AND suspended_at IS NULL",
                                    )?
                                    .execute((id, &email, at))?,
                                (LinkEffect::ResetPassword { password_hash }, _) => {
                                    let reset = tx
                                        .prepare_cached(
                                            "UPDATE accounts SET password_hash = ?2,
                                                 email_verified_at = ?3
                                             WHERE id = ?1 AND email = ?4
                                               AND suspended_at IS NULL",
                                        )?
                                        .execute((id, password_hash, at, &email))?;
                                    if reset == 1 {
                                        // Every session and open challenge ends, and every
                                        // other token the account was sent dies with them.
                                        for end in [
                                            "DELETE FROM sessions WHERE account_id = ?1",
                                            "DELETE FROM challenges WHERE account_id = ?1",
                                        ] {
                                            tx.prepare_cached(end)?.execute([id])?;
                                        }
                                        tx.prepare_cached(&void_tokens("?1"))?.execute([id])?;
                                    }
                                    reset
                                }
                                (LinkEffect::ConfirmResetRequest, _) => {
                                    if tx
                                        .prepare_cached(VERIFY_IF_STILL)?
                                        .execute((id, &email, at))?
                                        == 1
                                    {
                                        confirmed = tx
                                            .prepare_cached(CONFIRM_OPEN_REQUEST)?
                                            .query_row((id, at), |row| row.get(0))
                                            .optional()?;
                                    }
                                    usize::from(confirmed.is_some())
                                }
                            };
                            if changed != 1 {
                                // The account moved to another address since: the token is spent
                                // (it can never prove anything again) but proves nothing now.
                                return Ok(None);
                            }
                            let spent = SpentEmailToken {
                                account: AccountId(account),
                                email: Email::from_stored(email),
                            };
                            let (previous, request) = (previous.as_deref(), confirmed.as_deref());
                            let event =
                                effect.event(&spent, purpose, previous, request, &client, now);
                            if let Some(event) = event {
                                if matches!(effect, LinkEffect::ResetPassword { .. }) {
                                    // SPEC §14: a password reset revokes the API tokens.
                                    super::api_tokens::revoke_all(tx, &spent.account.0, &event)?;
                                }
                                let event_id = journal::append(tx, &event, channels)?;
                                if let (Some(previous), true) = (previous, channels.email) {
                                    outbox::enqueue_to_address(tx, event_id, &event, previous)?;
                                }
                            }
                            Ok(Some(spent))
                        })
                        .await
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
        let found: Option<(String, String)> = self.db.read(|conn| {
            conn.prepare_cached(
                "SELECT account_id, email FROM email_tokens
                     WHERE link_hash = ?1 AND purpose = ?2 AND expires_at > ?3",
            )?
            .query_row((link_hash, purpose.as_str(), now.0), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
        })?;
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
        let (email, code_hash) = (email.clone(), code_hash.to_vec());
        let spend = self.db.write(move |tx| {
            let spent = tx
                .prepare_cached(
                    "DELETE FROM email_tokens
                     WHERE email = ?1 AND purpose = ?2 AND code_hash = ?3 AND expires_at > ?4
                       AND EXISTS (SELECT 1 FROM accounts a
                                   WHERE a.id = email_tokens.account_id AND a.email = ?1)
                     RETURNING account_id",
                )?
                .query_row(
                    (email.as_str(), purpose.as_str(), &code_hash, now.0),
                    |row| row.get::<_, String>(0),
                )
                .optional()?;
            let Some(account) = spent else {
                return Ok(None);
            };
            tx.prepare_cached(VERIFY_IF_STILL)?
                .execute((&account, email.as_str(), now.0))?;
            Ok(Some(SpentEmailToken {
                account: AccountId(account),
                email,
            }))
        });
        self.cache
            .write_if(Write::SpendEmailCode, spend, spent)
            .await
    }

    async fn purge_expired_email_tokens(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.cache
            .write(Write::PurgeEmailTokens, async {
                let deleted = self
                    .db
                    .write(move |tx| {
                        Ok(tx
                            .prepare_cached("DELETE FROM email_tokens WHERE expires_at <= ?1")?
                            .execute([now.0])?)
                    })
                    .await?;
                Ok(u64::try_from(deleted).unwrap_or(0))
            })
            .await
    }
}
