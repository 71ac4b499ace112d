//! Answering a sign-in challenge on SQLite: one read for everything the answer needs, and
//! one transaction (one commit, so one fsync) for everything a right answer changes; both
//! on the directly driven connections for a code (see `direct.rs`).

use rusqlite::TransactionBehavior;

use super::{journal, SqliteStore};
use crate::domain::ids::AccountId;
use crate::domain::ids::TokenHash;
use crate::store::{
    notifies, ChallengeContext, Completion, Journal, RecoveryFollowUp, SignInCompletion,
    SpentFactor, StoreError,
};

impl SqliteStore {
    pub(super) async fn read_challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        let row = self.direct.read(|conn| {
            let sql = "SELECT c.account_id, c.expires_at, c.failures,
                    a.id, a.email, a.name, a.password_hash, a.is_admin, a.created_at,
                    a.last_sign_in_at,
                    t.key_id, t.secret, t.enabled_at, COALESCE(t.last_step, -1) AS last_step,
                    t.pending_key_id, t.pending_secret, t.pending_expires_at,
                    k.failures AS k_failures, k.window_start AS k_window_start,
                    k.locked_until AS k_locked_until,
                    (SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = c.account_id)
                        AS recovery_codes_remaining
             FROM challenges c JOIN accounts a ON a.id = c.account_id
             LEFT JOIN two_factor t ON t.account_id = c.account_id
             LEFT JOIN throttle_counters k ON k.key = ?2 || c.account_id
             WHERE c.token_hash = ?1";
            let params = rusqlite::params![token.0, counter_prefix];
            super::direct::optional(conn, sql, params, super::direct::challenge_context_row)
        })?;
        Ok(row.map(ChallengeContext::from))
    }

    /// The hot path, a code with nothing to notify: one transaction on the direct writer.
    async fn complete_with_step(
        &self,
        completion: &SignInCompletion<'_>,
        step: i64,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        let challenge = completion.challenge.0.clone();
        let throttle_key = completion.throttle_key.to_owned();
        let new = completion.session.clone();
        let now = completion.now.0;
        let events = journal.events.to_vec();
        self.direct
            .write(move |conn| {
                let session = &new.session;
                let account = session.account_id.as_str();
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // Security: the conditional update decides, so of two requests (on any
                // process) with the same code only one is accepted.
                let stepped = tx
                    .prepare_cached(
                        "UPDATE two_factor SET last_step = ?2
                         WHERE account_id = ?1 AND secret IS NOT NULL AND last_step < ?2",
                    )?
                    .execute(rusqlite::params![account, step])?;
                if stepped != 1 {
                    return Ok(Completion::FactorRefused);
                }
                let consumed = tx
                    .prepare_cached(
                        "DELETE FROM challenges
                         WHERE token_hash = ?1 AND account_id = ?2 AND expires_at > ?3",
                    )?
                    .execute(rusqlite::params![challenge, account, now])?;
                if consumed != 1 {
                    return Ok(Completion::ChallengeGone);
                }
                tx.prepare_cached("DELETE FROM throttle_counters WHERE key = ?1")?
                    .execute([&throttle_key])?;
                tx.prepare_cached(
                    "INSERT INTO sessions (id, account_id, token_hash, created_at, last_seen_at,
                                           expires_at, ip, user_agent)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(rusqlite::params![
                    session.id.as_str(),
                    account,
                    new.token_hash.0,
                    session.created_at.0,
                    session.last_seen_at.0,
                    session.expires_at.0,
                    session.ip,
                    session.user_agent
                ])?;
                tx.prepare_cached("UPDATE accounts SET last_sign_in_at = ?1 WHERE id = ?2")?
                    .execute(rusqlite::params![session.created_at.0, account])?;
                for event in &events {
                    tx.prepare_cached(
                        "INSERT INTO security_events
                             (account_id, actor_id, kind, at, ip, user_agent, details,
                              workspace_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )?
                    .execute(rusqlite::params![
                        event.account_id.as_ref().map(AccountId::as_str),
                        event.actor_id.as_ref().map(AccountId::as_str),
                        event.kind.as_str(),
                        event.at.0,
                        event.ip,
                        event.user_agent,
                        event.details.to_string(),
                        event.workspace_id
                    ])?;
                }
                let remaining: i64 = tx
                    .prepare_cached("SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?1")?
                    .query_row([account], |row| row.get(0))?;
                tx.commit()?;
                Ok(Completion::SignedIn {
                    recovery_codes_remaining: u32::try_from(remaining).unwrap_or(0),
                })
            })
            .await
    }

    pub(super) async fn complete_sign_in_now(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        if let (SpentFactor::Step(step), RecoveryFollowUp::Nothing) =
            (completion.factor, completion.follow_up)
        {
            let quiet = !journal.events.iter().any(|e| notifies(e, journal.channels));
            if quiet {
                return self.complete_with_step(completion, step, journal).await;
            }
        }
        let new = completion.session;
        let session = &new.session;
        let account = session.account_id.as_str();
        let now = completion.now.0;
        // The first statement writes, so the transaction takes the write lock at once
        // (a deferred read would have to upgrade, and could fail with a busy snapshot).
        let mut tx = self.pool.begin().await?;
        let spent = match completion.factor {
            // Security: the conditional update decides, so of two requests (on any nodes)
            // with the same code only one is accepted.
            SpentFactor::Step(step) => sqlx::query(
                "UPDATE two_factor SET last_step = ?2
                 WHERE account_id = ?1 AND secret IS NOT NULL AND last_step < ?2",
            )
            .bind(account)
            .bind(step),
            SpentFactor::RecoveryCode(hash) => {
                sqlx::query("DELETE FROM recovery_codes WHERE account_id = ?1 AND code_hash = ?2")
                    .bind(account)
                    .bind(hash)
            }
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            return Ok(Completion::FactorRefused);
        }
        let consumed = sqlx::query(
            "DELETE FROM challenges WHERE token_hash = ?1 AND account_id = ?2 AND expires_at > ?3",
        )
        .bind(&completion.challenge.0)
        .bind(account)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if consumed != 1 {
            return Ok(Completion::ChallengeGone);
        }
        match completion.follow_up {
            RecoveryFollowUp::Nothing => {}
            RecoveryFollowUp::DisableTwoFactor => {
                sqlx::query("DELETE FROM two_factor WHERE account_id = ?1")
                    .bind(account)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM recovery_codes WHERE account_id = ?1")
                    .bind(account)
                    .execute(&mut *tx)
                    .await?;
            }
            RecoveryFollowUp::AddCode(hash) => {
                sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)")
                    .bind(account)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("DELETE FROM throttle_counters WHERE key = ?1")
            .bind(completion.throttle_key)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions
                 (id, account_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(session.id.as_str())
        .bind(account)
        .bind(&new.token_hash.0)
        .bind(session.created_at.0)
        .bind(session.last_seen_at.0)
        .bind(session.expires_at.0)
        .bind(&session.ip)
        .bind(&session.user_agent)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE accounts SET last_sign_in_at = ?1 WHERE id = ?2")
            .bind(session.created_at.0)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        let remaining: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?1")
                .bind(account)
                .fetch_one(&mut *tx)
                .await?;
        let remaining = u32::try_from(remaining).unwrap_or(0);
        journal::append_all(&mut tx, journal).await?;
        tx.commit().await?;
        Ok(Completion::SignedIn {
            recovery_codes_remaining: remaining,
        })
    }
}
