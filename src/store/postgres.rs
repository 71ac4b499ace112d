//! The PostgreSQL backend, for many stateless nodes over one database. Every single-use
//! and counted change is one conditional statement, so the guarantees hold across nodes.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::rows::{conflict_as, AccountRow, CounterRow, SessionAccountRow, SessionRow};
use super::{Constraint, FirstAdmin, NewAccount, NewSession, PoolSettings, Store, StoreError};
use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::throttle::Counter;
use crate::domain::time::UnixTime;

const ACCOUNT_COLUMNS: &str =
    "id, email, name, password_hash, is_admin, created_at, last_sign_in_at";

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database named by a `postgres://` URL.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(account.id.as_str())
        .bind(account.email.as_str())
        .bind(&account.name)
        .bind(&account.password_hash)
        .bind(account.is_admin)
        .bind(account.created_at.0)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_as(e, Constraint::AccountEmail))?;
        Ok(())
    }

    async fn account_by_id(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Account::from))
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = $1"
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
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY email"
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
        sqlx::query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, $2)")
            .bind(&token.0)
            .bind(expires_at.0)
            .execute(&self.pool)
            .await?;
        Ok(())
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
        let mut tx = self.pool.begin().await?;
        // Two different links redeemed at once must not make two admins: serialize.
        sqlx::query("LOCK TABLE setup_tokens IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let consumed =
            sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2")
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
        .bind(&account.password_hash)
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
    }

    async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        let session = &new.session;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions
                 (id, account_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(session.id.as_str())
        .bind(session.account_id.as_str())
        .bind(&new.token_hash.0)
        .bind(session.created_at.0)
        .bind(session.last_seen_at.0)
        .bind(session.expires_at.0)
        .bind(&session.ip)
        .bind(&session.user_agent)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE accounts SET last_sign_in_at = $1 WHERE id = $2")
            .bind(session.created_at.0)
            .bind(session.account_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<(Session, Account)>, StoreError> {
        let row: Option<SessionAccountRow> = sqlx::query_as(
            "SELECT s.id, s.account_id, s.created_at, s.last_seen_at, s.expires_at, s.ip,
                    s.user_agent, a.email AS a_email, a.name AS a_name,
                    a.password_hash AS a_password_hash, a.is_admin AS a_is_admin,
                    a.created_at AS a_created_at, a.last_sign_in_at AS a_last_sign_in_at
             FROM sessions s JOIN accounts a ON a.id = s.account_id
             WHERE s.token_hash = $1",
        )
        .bind(&token.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
            .bind(now.0)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_sessions(&self, account: &AccountId) -> Result<Vec<Session>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(
            "SELECT id, account_id, created_at, last_seen_at, expires_at, ip, user_agent
             FROM sessions WHERE account_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn delete_session(
        &self,
        account: &AccountId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM sessions WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.0)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted)
    }

    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let row: Option<CounterRow> = sqlx::query_as(
            "SELECT failures, window_start, locked_until FROM throttle_counters WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Counter::from))
    }

    async fn swap_counter(
        &self,
        key: &str,
        expected: Option<&Counter>,
        new: &Counter,
    ) -> Result<bool, StoreError> {
        let changed = match expected {
            None => sqlx::query(
                "INSERT INTO throttle_counters (key, failures, window_start, locked_until)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(i64::from(new.failures))
            .bind(new.window_start.0)
            .bind(new.locked_until.0)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            Some(old) => sqlx::query(
                "UPDATE throttle_counters
                 SET failures = $2, window_start = $3, locked_until = $4
                 WHERE key = $1 AND failures = $5 AND window_start = $6
                   AND locked_until = $7",
            )
            .bind(key)
            .bind(i64::from(new.failures))
            .bind(new.window_start.0)
            .bind(new.locked_until.0)
            .bind(i64::from(old.failures))
            .bind(old.window_start.0)
            .bind(old.locked_until.0)
            .execute(&self.pool)
            .await?
            .rows_affected(),
        };
        Ok(changed == 1)
    }

    async fn refund_failure(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE throttle_counters SET failures = failures - 1
             WHERE key = $1 AND failures > 0",
        )
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttle_counters WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
