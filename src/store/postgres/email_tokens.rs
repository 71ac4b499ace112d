//! One-time e-mail tokens on PostgreSQL: at most one per account and purpose (issuing
//! replaces the row), each spent by one conditional delete, so of two nodes spending one
//! token only one finds the row (`migrations/postgres/0010_email_tokens.sql`).

use async_trait::async_trait;

use super::PostgresStore;
use crate::domain::email::Email;
use crate::domain::email_token::{Purpose, MAX_CODE_FAILURES};
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::{CodeAnswer, EmailTokens, NewEmailToken, SpentEmailToken, StoreError};

#[async_trait]
impl EmailTokens for PostgresStore {
    async fn issue_email_token(&self, token: &NewEmailToken) -> Result<(), StoreError> {
        self.cache
            .write(Write::IssueEmailToken, async {
                sqlx::query(
                    "INSERT INTO email_tokens (account_id, purpose, email, link_hash, code_hash,
                                               created_at, expires_at, failures)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0)
                     ON CONFLICT (account_id, purpose) DO UPDATE SET
                         email = excluded.email, link_hash = excluded.link_hash,
                         code_hash = excluded.code_hash, created_at = excluded.created_at,
                         expires_at = excluded.expires_at, failures = 0",
                )
                .bind(token.account.as_str())
                .bind(token.purpose.as_str())
                .bind(token.email.as_str())
                .bind(&token.link_hash)
                .bind(&token.code_hash)
                .bind(token.created_at.0)
                .bind(token.expires_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
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
                let spent: Option<(String, String)> = sqlx::query_as(
                    "DELETE FROM email_tokens
                     WHERE link_hash = $1 AND purpose = $2 AND expires_at > $3
                     RETURNING account_id, email",
                )
                .bind(link_hash)
                .bind(purpose.as_str())
                .bind(now.0)
                .fetch_optional(&self.pool)
                .await?;
                Ok(spent.map(|(account, email)| SpentEmailToken {
                    account: AccountId(account),
                    email: Email::from_stored(email),
                }))
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
                let spent: Option<(String,)> = sqlx::query_as(
                    "DELETE FROM email_tokens
                     WHERE account_id = $1 AND purpose = $2 AND expires_at > $3
                       AND failures < $4 AND code_hash = $5
                     RETURNING email",
                )
                .bind(account.as_str())
                .bind(purpose.as_str())
                .bind(now.0)
                .bind(i64::from(MAX_CODE_FAILURES))
                .bind(code_hash)
                .fetch_optional(&self.pool)
                .await?;
                if let Some((email,)) = spent {
                    return Ok(CodeAnswer::Spent(SpentEmailToken {
                        account: account.clone(),
                        email: Email::from_stored(email),
                    }));
                }
                let failures: Option<(i64,)> = sqlx::query_as(
                    "UPDATE email_tokens SET failures = failures + 1
                     WHERE account_id = $1 AND purpose = $2 AND expires_at > $3
                       AND failures < $4 AND code_hash IS NOT NULL
                     RETURNING failures",
                )
                .bind(account.as_str())
                .bind(purpose.as_str())
                .bind(now.0)
                .bind(i64::from(MAX_CODE_FAILURES))
                .fetch_optional(&self.pool)
                .await?;
                Ok(match failures {
                    Some((failures,)) => CodeAnswer::Wrong {
                        failures: u32::try_from(failures).unwrap_or(u32::MAX),
                    },
                    None => CodeAnswer::NoToken,
                })
            })
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
