//! Accounts on PostgreSQL: creating and finding them, the admin area's account search, and the
//! first-start setup link that creates the first administrator (one at most, however many
//! links are redeemed at once).

use async_trait::async_trait;

use super::{journal, PostgresStore};
use crate::domain::account::Account;
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::email_tokens::void_tokens;
use crate::store::rows::{conflict_as, AccountRow, AccountSummaryRow};
use crate::store::{
    AccountSummary, Accounts, Constraint, FirstAdmin, Journal, NewAccount, StoreError,
    ACCOUNT_COLUMNS, ACCOUNT_SUMMARY_COLUMNS,
};

#[async_trait]
impl Accounts for PostgresStore {
    async fn create_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateAccount, async {
                sqlx::query(
                    "INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(account.id.as_str())
                .bind(account.email.as_str())
                .bind(&account.name)
                .bind(account.password_hash.as_deref().unwrap_or(""))
                .bind(account.is_admin)
                .bind(account.created_at.0)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict_as(e, Constraint::AccountEmail))?;
                Ok(())
            })
            .await
    }

    async fn account_by_id(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Account::from))
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Account::from))
    }

    async fn count_accounts(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows: Vec<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.email"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Account::from).collect())
    }

    async fn create_setup_token(
        &self,
        token: &TokenHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateSetupToken, async {
                sqlx::query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, $2)")
                    .bind(&token.0)
                    .bind(expires_at.0)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            })
            .await
    }

    async fn setup_token_is_live(
        &self,
        token: &TokenHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let live: Option<i64> = sqlx::query_scalar(
            "SELECT 1::BIGINT FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(&token.0)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(live.is_some())
    }

    async fn create_first_admin(
        &self,
        token: &TokenHash,
        account: &NewAccount,
        now: UnixTime,
    ) -> Result<FirstAdmin, StoreError> {
        self.cache
            .write(Write::CreateFirstAdmin, async {
                let mut tx = self.pool.begin().await?;
                // Two different links redeemed at once must not make two admins: serialize.
                sqlx::query("LOCK TABLE setup_tokens IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
                let consumed = sqlx::query(
                    "DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(&token.0)
                .bind(now.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if consumed != 1 {
                    return Ok(FirstAdmin::InvalidToken);
                }
                let inserted = sqlx::query(
                    "INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at)
                     SELECT $1, $2, $3, $4, TRUE, $5
                     WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE is_admin)",
                )
                .bind(account.id.as_str())
                .bind(account.email.as_str())
                .bind(&account.name)
                .bind(account.password_hash.as_deref().unwrap_or(""))
                .bind(account.created_at.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_as(e, Constraint::AccountEmail))?
                .rows_affected();
                sqlx::query("DELETE FROM setup_tokens")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(if inserted == 1 {
                    FirstAdmin::Created
                } else {
                    FirstAdmin::AdminExists
                })
            })
            .await
    }

    async fn search_accounts(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        // `instr` / `strpos` rather than LIKE, so `%` and `_` in a query match themselves.
        let sql = format!(
            "SELECT {ACCOUNT_SUMMARY_COLUMNS}
             FROM accounts a LEFT JOIN two_factor t ON t.account_id = a.id
             WHERE ($1::TEXT IS NULL OR strpos(a.email, $1::TEXT) > 0) AND a.email > $2
             ORDER BY a.email LIMIT $3"
        );
        let rows: Vec<AccountSummaryRow> = sqlx::query_as(&sql)
            .bind(query.map(str::to_lowercase))
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(AccountSummary::from).collect())
    }

    async fn set_password(
        &self,
        account: &AccountId,
        password_hash: &str,
        keep: Option<&SessionId>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::SetPassword, async {
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
                    .bind(account.as_str())
                    .bind(password_hash)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "DELETE FROM sessions WHERE account_id = $1 AND id IS DISTINCT FROM $2",
                )
                .bind(account.as_str())
                .bind(keep.map(SessionId::as_str))
                .execute(&mut *tx)
                .await?;
                // Open challenges, and every token the account was sent, end too.
                let void = void_tokens("$1");
                for end in [
                    "DELETE FROM challenges WHERE account_id = $1",
                    void.as_str(),
                ] {
                    sqlx::query(end)
                        .bind(account.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                journal::append_all(&mut tx, journal).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }
}
