//! Accounts on SQLite: creating and finding them, the admin area's account search, and the
//! first-start setup link that creates the first administrator (one at most, however many
//! links are redeemed at once).

use async_trait::async_trait;

use rusqlite::OptionalExtension;

use super::decode::{all, optional};
use super::{journal, SqliteStore};
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
impl Accounts for SqliteStore {
    async fn create_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateAccount, async {
                let account = account.clone();
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                    "INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute((
                    account.id.as_str(),
                    account.email.as_str(),
                    &account.name,
                    account.password_hash.as_deref().unwrap_or(""),
                    account.is_admin,
                    account.created_at.0,
                ))
                .map_err(|e| conflict_as(e, Constraint::AccountEmail))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn account_by_id(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ?1");
        let row: Option<AccountRow> = self.db.read(|conn| optional(conn, &sql, [id.as_str()]))?;
        Ok(row.map(Account::from))
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = ?1");
        let row: Option<AccountRow> = self
            .db
            .read(|conn| optional(conn, &sql, [email.as_str()]))?;
        Ok(row.map(Account::from))
    }

    async fn count_accounts(&self) -> Result<u64, StoreError> {
        let count: i64 = self.db.read(|conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM accounts")?
                .query_row([], |row| row.get(0))
        })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.email");
        let rows: Vec<AccountRow> = self.db.read(|conn| all(conn, &sql, []))?;
        Ok(rows.into_iter().map(Account::from).collect())
    }

    async fn create_setup_token(
        &self,
        token: &TokenHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateSetupToken, async {
                let params = (token.0.clone(), expires_at.0);
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?1, ?2)",
                        )?
                        .execute(params)?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn setup_token_is_live(
        &self,
        token: &TokenHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let live: Option<i64> = self.db.read(|conn| {
            conn.prepare_cached(
                "SELECT 1 FROM setup_tokens WHERE token_hash = ?1 AND expires_at > ?2",
            )?
            .query_row((&token.0, now.0), |row| row.get(0))
            .optional()
        })?;
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
                let (token, account) = (token.0.clone(), account.clone());
                // The writer holds SQLite's write lock from its first statement, so two redemptions
                // are serialized.
                self.db
                    .write(move |tx| {
                        let consumed = tx
                    .prepare_cached(
                        "DELETE FROM setup_tokens WHERE token_hash = ?1 AND expires_at > ?2",
                    )?
                    .execute((&token, now.0))?;
                        if consumed != 1 {
                            return Ok(FirstAdmin::InvalidToken);
                        }
                        let inserted = tx
                    .prepare_cached(
                        "INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at)
                         SELECT ?1, ?2, ?3, ?4, 1, ?5
                         WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE is_admin = 1)",
                    )?
                    .execute((
                        account.id.as_str(),
                        account.email.as_str(),
                        &account.name,
                        account.password_hash.as_deref().unwrap_or(""),
                        account.created_at.0,
                    ))
                    .map_err(|e| conflict_as(e, Constraint::AccountEmail))?;
                        tx.prepare_cached("DELETE FROM setup_tokens")?.execute([])?;
                        Ok(if inserted == 1 {
                            FirstAdmin::Created
                        } else {
                            FirstAdmin::AdminExists
                        })
                    })
                    .await
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
             WHERE (?1 IS NULL OR instr(a.email, ?1) > 0) AND a.email > ?2
             ORDER BY a.email LIMIT ?3"
        );
        let rows: Vec<AccountSummaryRow> = self.db.read(|conn| {
            all(
                conn,
                &sql,
                (
                    query.map(str::to_lowercase),
                    after.unwrap_or(""),
                    i64::from(limit),
                ),
            )
        })?;
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
                let (account, hash) = (account.as_str().to_owned(), password_hash.to_owned());
                let keep = keep.map(|id| id.as_str().to_owned());
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        tx.prepare_cached("UPDATE accounts SET password_hash = ?2 WHERE id = ?1")?
                            .execute((&account, &hash))?;
                        tx.prepare_cached(
                            "DELETE FROM sessions WHERE account_id = ?1 AND id IS NOT ?2",
                        )?
                        .execute((&account, &keep))?;
                        // Open challenges, and every token the account was sent, end too.
                        tx.prepare_cached("DELETE FROM challenges WHERE account_id = ?1")?
                            .execute([&account])?;
                        tx.prepare_cached(&void_tokens("?1"))?.execute([&account])?;
                        journal::append_all(tx, Journal::new(&events, channels))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }
}
