//! The PostgreSQL backend, for many stateless nodes over one database. Every single-use
//! and counted change is one conditional statement, so the guarantees hold across nodes.

mod batch;
mod challenge_read;
mod coherence;
mod completion;
mod journal;
mod outbox;
mod sign_in;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::rows::{
    conflict_as, AccountRow, AccountSummaryRow, ChallengeRow, CounterRow, EventRow, InvitationRow,
    MemberRow, PolicyRow, ResetRequestRow, SealedRow, SessionAccountRow, SessionRow, TwoFactorRow,
    WorkspaceRoleRow, WorkspaceSessionRow,
};
use super::{
    notifies, AccountSummary, Challenge, ChallengeContext, Completion, Constraint, FiledRequest,
    FirstAdmin, Journal, MemberChange, NewAccount, NewSession, PasswordAttempt, PasswordSettlement,
    PoolSettings, ResetEvent, ResetOutcome, ResetRequest, SealedSlot, SessionLookup,
    SignInCompletion, Store, StoreError, WorkspaceSessionLookup, RECOVERY_COUNT_COLUMN,
    SESSION_LOOKUP_COLUMNS,
};
use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::event::{Event, EventFilter, NewEvent};
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::notification::Channels;
use crate::domain::sealed::{KeyId, Sealed};
use crate::domain::throttle::Counter;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::domain::workspace::{InstancePolicy, Invitation, Member, PolicySource, Role, Workspace};

const ACCOUNT_COLUMNS: &str =
    "id, email, name, password_hash, is_admin, created_at, last_sign_in_at";

/// Takes back one provisional failure under the key `$1`.
const REFUND_FAILURE: &str =
    "UPDATE throttle_counters SET failures = failures - 1 WHERE key = $1 AND failures > 0";

/// Inserts a challenge (`$1` token digest, `$2` account, `$3` expiry) with no failures.
const INSERT_CHALLENGE: &str =
    "INSERT INTO challenges (token_hash, account_id, expires_at, failures)
     VALUES ($1, $2, $3, 0)";

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Group commit of code sign-ins (`postgres/batch.rs`).
    batcher: std::sync::Arc<batch::Batcher>,
}

impl PostgresStore {
    /// Connects to the database named by a `postgres://` URL.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A ping before every acquire doubles the round trips of a one-query request;
            // a broken connection fails that one query and is replaced instead.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let batcher =
            std::sync::Arc::new(batch::Batcher::start(&options, settings.acquire_timeout));
        Ok(Self { pool, batcher })
    }

    /// How the node memory stays coherent across nodes (`postgres/coherence.rs`).
    pub(crate) fn coherence(&self) -> std::sync::Arc<dyn crate::store::cache::Coherence> {
        std::sync::Arc::new(coherence::Leases::new(self.pool.clone()))
    }

    /// After a refused membership change: not a member, or the last owner.
    async fn why_unchanged(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        workspace: &str,
        account: &AccountId,
    ) -> Result<MemberChange, StoreError> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE workspace_id = $1 AND account_id = $2",
        )
        .bind(workspace)
        .bind(account.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(match role {
            Some(_) => MemberChange::LastOwner,
            None => MemberChange::NotMember,
        })
    }
}

/// Inserts a session and records the sign-in time on its account, inside the caller's
/// transaction (a password sign-in, or the completion of a challenge).
pub(super) async fn insert_session(
    conn: &mut sqlx::PgConnection,
    new: &NewSession,
) -> Result<(), StoreError> {
    let session = &new.session;
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
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE accounts SET last_sign_in_at = $1 WHERE id = $2")
        .bind(session.created_at.0)
        .bind(session.account_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
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
        let mut tx = self.pool.begin().await?;
        insert_session(&mut tx, new).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.settle_password_now(settle, journal).await
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionLookup>, StoreError> {
        let row: Option<SessionAccountRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_LOOKUP_COLUMNS}, {RECOVERY_COUNT_COLUMN}
             FROM sessions s JOIN accounts a ON a.id = s.account_id
             LEFT JOIN two_factor t ON t.account_id = s.account_id
             WHERE s.token_hash = $1"
        ))
        .bind(&token.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn session_in_workspace(
        &self,
        token: &TokenHash,
        workspace: &str,
    ) -> Result<Option<WorkspaceSessionLookup>, StoreError> {
        let row: Option<WorkspaceSessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_LOOKUP_COLUMNS}, CAST(NULL AS BIGINT) AS t_recovery_codes, w.id AS w_id, w.name AS w_name,
                    w.created_at AS w_created_at, w.enforcement AS w_enforcement,
                    w.grace_period_days AS w_grace_period_days,
                    w.enforced_since AS w_enforced_since, m.role AS m_role
             FROM sessions s JOIN accounts a ON a.id = s.account_id
             LEFT JOIN two_factor t ON t.account_id = s.account_id
             LEFT JOIN memberships m ON m.account_id = s.account_id AND m.workspace_id = $2
             LEFT JOIN workspaces w ON w.id = m.workspace_id
             WHERE s.token_hash = $1"
        ))
        .bind(&token.0)
        .bind(workspace)
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

    async fn password_attempt(
        &self,
        address: &str,
        account_key: &str,
        email: Option<&Email>,
    ) -> Result<PasswordAttempt, StoreError> {
        use sqlx::{FromRow, Row};
        // One statement instead of three: each costs PostgreSQL about as much as the rows
        // it reads, and a password sign-in shares the cores with argon2 (BENCHMARKS.md).
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS},
                    k1.failures AS k1_failures, k1.window_start AS k1_window_start,
                    k1.locked_until AS k1_locked_until,
                    k2.failures AS k2_failures, k2.window_start AS k2_window_start,
                    k2.locked_until AS k2_locked_until
             FROM (SELECT 1) AS one
             LEFT JOIN throttle_counters k1 ON k1.key = $1
             LEFT JOIN throttle_counters k2 ON k2.key = $2
             LEFT JOIN accounts ON email = $3"
        ))
        .bind(address)
        .bind(account_key)
        .bind(email.map(Email::as_str))
        .fetch_one(&self.pool)
        .await?;
        let counter = |prefix: &str| -> Result<Option<Counter>, sqlx::Error> {
            let column = |name: &str| row.try_get(format!("{prefix}_{name}").as_str());
            Ok(CounterRow::joined(
                column("failures")?,
                column("window_start")?,
                column("locked_until")?,
            ))
        };
        let id: Option<String> = row.try_get("id")?;
        Ok(PasswordAttempt {
            address: counter("k1")?,
            account_counter: counter("k2")?,
            account: match id {
                Some(_) => Some(Account::from(AccountRow::from_row(&row)?)),
                None => None,
            },
        })
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
        sqlx::query(REFUND_FAILURE)
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

    async fn two_factor(&self, account: &AccountId) -> Result<TwoFactorRecord, StoreError> {
        let row: Option<TwoFactorRow> = sqlx::query_as(
            "SELECT key_id, secret, enabled_at, last_step, pending_key_id, pending_secret,
                    pending_expires_at
             FROM two_factor WHERE account_id = $1",
        )
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(TwoFactorRecord::from).unwrap_or_default())
    }

    async fn start_enrollment(
        &self,
        account: &AccountId,
        secret: &Sealed,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO two_factor (account_id, pending_key_id, pending_secret, pending_expires_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id) DO UPDATE SET
                 pending_key_id = excluded.pending_key_id,
                 pending_secret = excluded.pending_secret,
                 pending_expires_at = excluded.pending_expires_at",
        )
        .bind(account.as_str())
        .bind(&secret.key_id.0)
        .bind(&secret.blob)
        .bind(expires_at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE two_factor
             SET pending_key_id = NULL, pending_secret = NULL, pending_expires_at = NULL
             WHERE account_id = $1",
        )
        .bind(account.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn confirm_enrollment(
        &self,
        account: &AccountId,
        pending: &Sealed,
        step: i64,
        now: UnixTime,
        recovery_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let swapped = sqlx::query(
            "UPDATE two_factor
             SET key_id = pending_key_id, secret = pending_secret, enabled_at = $3,
                 last_step = $4, pending_key_id = NULL, pending_secret = NULL,
                 pending_expires_at = NULL
             WHERE account_id = $1 AND pending_secret = $2 AND pending_expires_at > $3",
        )
        .bind(account.as_str())
        .bind(&pending.blob)
        .bind(now.0)
        .bind(step)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if swapped != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)")
                .bind(account.as_str())
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        journal::append_all(&mut tx, journal).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn accept_step(&self, account: &AccountId, step: i64) -> Result<bool, StoreError> {
        // Security: one conditional update decides, so two requests (on any nodes) with
        // the same code cannot both be accepted.
        let accepted = sqlx::query(
            "UPDATE two_factor SET last_step = $2
             WHERE account_id = $1 AND secret IS NOT NULL AND last_step < $2",
        )
        .bind(account.as_str())
        .bind(step)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(accepted == 1)
    }

    async fn disable_two_factor(
        &self,
        account: &AccountId,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted =
            sqlx::query("DELETE FROM two_factor WHERE account_id = $1 AND secret IS NOT NULL")
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query("DELETE FROM two_factor WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        if deleted == 1 {
            journal::append_all(&mut tx, journal).await?;
        }
        tx.commit().await?;
        Ok(deleted == 1)
    }

    async fn reset_two_factor(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        self.reset_two_factor_now(account, now, record, channels)
            .await
    }

    async fn recovery_codes_remaining(&self, account: &AccountId) -> Result<u32, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(&self.pool)
                .await?;
        Ok(u32::try_from(count).unwrap_or(0))
    }

    async fn consume_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<bool, StoreError> {
        let deleted =
            sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1 AND code_hash = $2")
                .bind(account.as_str())
                .bind(code_hash)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(deleted == 1)
    }

    async fn replace_recovery_codes(
        &self,
        account: &AccountId,
        code_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        for hash in code_hashes {
            sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)")
                .bind(account.as_str())
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        journal::append_all(&mut tx, journal).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)")
            .bind(account.as_str())
            .bind(code_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(INSERT_CHALLENGE)
            .bind(&token.0)
            .bind(account.as_str())
            .bind(expires_at.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError> {
        let row: Option<ChallengeRow> = sqlx::query_as(
            "SELECT account_id, expires_at, failures FROM challenges WHERE token_hash = $1",
        )
        .bind(&token.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Challenge::from))
    }

    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError> {
        let failures: Option<i64> = sqlx::query_scalar(
            "UPDATE challenges SET failures = failures + 1 WHERE token_hash = $1
             RETURNING failures",
        )
        .bind(&token.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(failures.map_or(0, |f| u32::try_from(f).unwrap_or(u32::MAX)))
    }

    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM challenges WHERE token_hash = $1")
            .bind(&token.0)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    async fn challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        self.read_challenge_context(token, counter_prefix).await
    }

    async fn complete_sign_in(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        self.complete_sign_in_now(completion, journal).await
    }

    async fn record_event(&self, event: &NewEvent, channels: Channels) -> Result<(), StoreError> {
        if !notifies(event, channels) {
            let mut conn = self.pool.acquire().await?;
            return journal::append(&mut conn, event, channels).await;
        }
        // The event and its deliveries commit together: no notification without its
        // event, and no notifiable event without its notifications.
        let mut tx = self.pool.begin().await?;
        journal::append(&mut tx, event, channels).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account_events(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
             FROM security_events WHERE account_id = $1 AND id < $2
             ORDER BY id DESC LIMIT $3",
        )
        .bind(account.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    async fn instance_secret(&self, name: &str) -> Result<Option<Sealed>, StoreError> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT key_id, sealed FROM instance_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(key_id, blob)| Sealed {
            key_id: KeyId(key_id),
            blob,
        }))
    }

    async fn insert_instance_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO instance_secrets (name, key_id, sealed) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&sealed.key_id.0)
        .bind(&sealed.blob)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &AccountId,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO workspaces (id, name, created_at, enforcement, grace_period_days, enforced_since)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&workspace.id)
        .bind(&workspace.name)
        .bind(workspace.created_at.0)
        .bind(workspace.enforcement.as_str())
        .bind(i64::from(workspace.grace_period_days))
        .bind(workspace.enforced_since.map(|t| t.0))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, account_id, role, joined_at)
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(&workspace.id)
        .bind(owner.as_str())
        .bind(workspace.created_at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account_workspaces(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        let rows: Vec<WorkspaceRoleRow> = sqlx::query_as(
            "SELECT w.id, w.name, w.created_at, w.enforcement, w.grace_period_days,
                    w.enforced_since, m.role
             FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
             WHERE m.account_id = $1 ORDER BY w.name, w.id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn membership(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<Option<(Workspace, Role)>, StoreError> {
        let row: Option<WorkspaceRoleRow> = sqlx::query_as(
            "SELECT w.id, w.name, w.created_at, w.enforcement, w.grace_period_days,
                    w.enforced_since, m.role
             FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
             WHERE m.workspace_id = $1 AND m.account_id = $2",
        )
        .bind(workspace)
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError> {
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT m.account_id, a.email, m.role,
                    (t.secret IS NOT NULL) AS has_two_factor
             FROM memberships m
             JOIN accounts a ON a.id = m.account_id
             LEFT JOIN two_factor t ON t.account_id = m.account_id
             WHERE m.workspace_id = $1 ORDER BY a.email",
        )
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Member::from).collect())
    }

    async fn set_enforcement(&self, workspace: &Workspace) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE workspaces SET enforcement = $2, grace_period_days = $3, enforced_since = $4
             WHERE id = $1",
        )
        .bind(&workspace.id)
        .bind(workspace.enforcement.as_str())
        .bind(i64::from(workspace.grace_period_days))
        .bind(workspace.enforced_since.map(|t| t.0))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO invitations
                 (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&invitation.id)
        .bind(&invitation.workspace_id)
        .bind(&invitation.email)
        .bind(invitation.role.as_str())
        .bind(&token.0)
        .bind(invitation.invited_by.as_str())
        .bind(invitation.created_at.0)
        .bind(invitation.expires_at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn invitation(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        let row: Option<InvitationRow> = sqlx::query_as(
            "SELECT id, workspace_id, email, role, invited_by, created_at, expires_at
             FROM invitations WHERE token_hash = $1",
        )
        .bind(&token.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Invitation::from))
    }

    async fn accept_invitation(
        &self,
        token: &TokenHash,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Option<Invitation>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<InvitationRow> = sqlx::query_as(
            "DELETE FROM invitations WHERE token_hash = $1 AND expires_at > $2
             RETURNING id, workspace_id, email, role, invited_by, created_at, expires_at",
        )
        .bind(&token.0)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let invitation = Invitation::from(row);
        sqlx::query(
            "INSERT INTO memberships (workspace_id, account_id, role, joined_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (workspace_id, account_id) DO NOTHING",
        )
        .bind(&invitation.workspace_id)
        .bind(account.as_str())
        .bind(invitation.role.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(invitation))
    }

    async fn change_role(
        &self,
        workspace: &str,
        account: &AccountId,
        role: Role,
    ) -> Result<MemberChange, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Two demotions of different owners must not both see "another owner exists".
        sqlx::query("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
            .bind(workspace)
            .execute(&mut *tx)
            .await?;
        // Demoting the last owner is refused inside the same statement.
        let changed = sqlx::query(
            "UPDATE memberships SET role = $3
             WHERE workspace_id = $1 AND account_id = $2
               AND (role <> 'owner' OR $3 = 'owner'
                    OR (SELECT COUNT(*) FROM memberships
                        WHERE workspace_id = $1 AND role = 'owner') > 1)",
        )
        .bind(workspace)
        .bind(account.as_str())
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let outcome = if changed == 1 {
            MemberChange::Done
        } else {
            self.why_unchanged(&mut tx, workspace, account).await?
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn remove_member(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<MemberChange, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Two demotions of different owners must not both see "another owner exists".
        sqlx::query("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
            .bind(workspace)
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query(
            "DELETE FROM memberships
             WHERE workspace_id = $1 AND account_id = $2
               AND (role <> 'owner'
                    OR (SELECT COUNT(*) FROM memberships
                        WHERE workspace_id = $1 AND role = 'owner') > 1)",
        )
        .bind(workspace)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let outcome = if removed == 1 {
            MemberChange::Done
        } else {
            self.why_unchanged(&mut tx, workspace, account).await?
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
             FROM security_events WHERE workspace_id = $1 AND id < $2
             ORDER BY id DESC LIMIT $3",
        )
        .bind(workspace)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError> {
        let row: Option<PolicyRow> = sqlx::query_as(
            "SELECT require_two_factor, grace_period_days, enforced_since, source
             FROM instance_policy WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(InstancePolicy::from))
    }

    async fn set_instance_policy(&self, policy: &InstancePolicy) -> Result<(), StoreError> {
        let source = match policy.source {
            PolicySource::Config => "config",
            PolicySource::Admin => "admin",
        };
        sqlx::query(
            "INSERT INTO instance_policy
                 (id, require_two_factor, grace_period_days, enforced_since, source)
             VALUES (1, $1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET
                 require_two_factor = excluded.require_two_factor,
                 grace_period_days = excluded.grace_period_days,
                 enforced_since = excluded.enforced_since,
                 source = excluded.source",
        )
        .bind(policy.scope.as_str())
        .bind(i64::from(policy.grace_period_days))
        .bind(policy.enforced_since.map(|t| t.0))
        .bind(source)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_reset_request(
        &self,
        id: &str,
        account: &AccountId,
        message: &str,
        now: UnixTime,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<FiledRequest, StoreError> {
        self.file_reset_request(id, account, message, now, event, channels)
            .await
    }

    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError> {
        let rows: Vec<ResetRequestRow> = sqlx::query_as(
            "SELECT r.id, r.account_id, a.email, r.message, r.created_at
             FROM reset_requests r JOIN accounts a ON a.id = r.account_id
             WHERE r.closed_at IS NULL ORDER BY r.created_at, r.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ResetRequest::from).collect())
    }

    async fn search_accounts(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        // `instr` / `strpos` rather than LIKE, so `%` and `_` in a query match themselves.
        let rows: Vec<AccountSummaryRow> = sqlx::query_as(
            "SELECT a.id, a.email, a.name, a.password_hash, a.is_admin, a.created_at,
                    a.last_sign_in_at, (t.secret IS NOT NULL) AS has_two_factor,
                    t.pending_expires_at AS pending_until
             FROM accounts a LEFT JOIN two_factor t ON t.account_id = a.id
             WHERE ($1::TEXT IS NULL OR strpos(a.email, $1::TEXT) > 0) AND a.email > $2
             ORDER BY a.email LIMIT $3",
        )
        .bind(query.map(str::to_lowercase))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AccountSummary::from).collect())
    }

    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, account_id, actor_id, kind, at, ip, user_agent, details
             FROM security_events
             WHERE id < $1 AND ($2::TEXT IS NULL OR kind = $2::TEXT) AND ($3::TEXT IS NULL OR account_id = $3::TEXT)
               AND at >= $4 AND at < $5
             ORDER BY id DESC LIMIT $6",
        )
        .bind(filter.before.unwrap_or(i64::MAX))
        .bind(&filter.kind)
        .bind(filter.account.as_ref().map(AccountId::as_str))
        .bind(filter.since.map_or(i64::MIN, |t| t.0))
        .bind(filter.until.map_or(i64::MAX, |t| t.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    async fn sealed_secrets(&self) -> Result<Vec<(SealedSlot, Sealed)>, StoreError> {
        let rows: Vec<SealedRow> = sqlx::query_as(
            "SELECT 'totp' AS slot, account_id AS owner, key_id, secret AS blob
             FROM two_factor WHERE secret IS NOT NULL AND key_id IS NOT NULL
             UNION ALL
             SELECT 'pending', account_id, pending_key_id, pending_secret
             FROM two_factor WHERE pending_secret IS NOT NULL AND pending_key_id IS NOT NULL
             UNION ALL
             SELECT 'instance', name, key_id, sealed FROM instance_secrets",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().filter_map(SealedRow::into_pair).collect())
    }

    async fn reseal(
        &self,
        slot: &SealedSlot,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        let (sql, owner) = match slot {
            SealedSlot::TotpSecret(account) => (
                "UPDATE two_factor SET key_id = $3, secret = $4
                 WHERE account_id = $1 AND secret = $2",
                account.as_str(),
            ),
            SealedSlot::PendingSecret(account) => (
                "UPDATE two_factor SET pending_key_id = $3, pending_secret = $4
                 WHERE account_id = $1 AND pending_secret = $2",
                account.as_str(),
            ),
            SealedSlot::Instance(name) => (
                "UPDATE instance_secrets SET key_id = $3, sealed = $4
                 WHERE name = $1 AND sealed = $2",
                name.as_str(),
            ),
        };
        let changed = sqlx::query(sql)
            .bind(owner)
            .bind(&old.blob)
            .bind(&new.key_id.0)
            .bind(&new.blob)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }
}
