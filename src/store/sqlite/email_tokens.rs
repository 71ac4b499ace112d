//! One-time e-mail tokens on SQLite: at most one per account and purpose (issuing replaces
//! the row), each spent by one conditional delete (`migrations/sqlite/0010_email_tokens.sql`).

use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::SqliteStore;
use crate::domain::email::Email;
use crate::domain::email_token::{Purpose, MAX_CODE_FAILURES};
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::{CodeAnswer, EmailTokens, NewEmailToken, SpentEmailToken, StoreError};

#[async_trait]
impl EmailTokens for SqliteStore {
    async fn issue_email_token(&self, token: &NewEmailToken) -> Result<(), StoreError> {
        self.cache
            .write(Write::IssueEmailToken, async {
                let token = token.clone();
                self.db
                    .write(move |tx| {
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
                            token.account.as_str(),
                            token.purpose.as_str(),
                            token.email.as_str(),
                            &token.link_hash,
                            &token.code_hash,
                            token.created_at.0,
                            token.expires_at.0,
                        ))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn spend_email_link(
        &self,
        purpose: Purpose,
        link_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, StoreError> {
        self.cache
            .write(Write::SpendEmailLink, async {
                let link_hash = link_hash.to_vec();
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
                        Ok(spent.map(|(account, email)| SpentEmailToken {
                            account: AccountId(account),
                            email: Email::from_stored(email),
                        }))
                    })
                    .await
            })
            .await
    }

    async fn spend_email_code(
        &self,
        purpose: Purpose,
        account: &AccountId,
        code_hash: &[u8],
        now: UnixTime,
    ) -> Result<CodeAnswer, StoreError> {
        self.cache
            .write(Write::SpendEmailCode, async {
                let (account, code_hash) = (account.clone(), code_hash.to_vec());
                self.db
                    .write(move |tx| {
                        let key = (account.as_str(), purpose.as_str(), now.0, MAX_CODE_FAILURES);
                        let spent = tx
                            .prepare_cached(
                                "DELETE FROM email_tokens
                                 WHERE account_id = ?1 AND purpose = ?2 AND expires_at > ?3
                                   AND failures < ?4 AND code_hash = ?5
                                 RETURNING email",
                            )?
                            .query_row((key.0, key.1, key.2, key.3, &code_hash), |row| {
                                row.get::<_, String>(0)
                            })
                            .optional()?;
                        if let Some(email) = spent {
                            return Ok(CodeAnswer::Spent(SpentEmailToken {
                                account,
                                email: Email::from_stored(email),
                            }));
                        }
                        let failures = tx
                            .prepare_cached(
                                "UPDATE email_tokens SET failures = failures + 1
                                 WHERE account_id = ?1 AND purpose = ?2 AND expires_at > ?3
                                   AND failures < ?4 AND code_hash IS NOT NULL
                                 RETURNING failures",
                            )?
                            .query_row(key, |row| row.get::<_, i64>(0))
                            .optional()?;
                        Ok(match failures {
                            Some(failures) => CodeAnswer::Wrong {
                                failures: u32::try_from(failures).unwrap_or(u32::MAX),
                            },
                            None => CodeAnswer::NoToken,
                        })
                    })
                    .await
            })
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
