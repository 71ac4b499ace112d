//! Answering a sign-in challenge on SQLite: one read for everything the answer needs, and
//! one transaction (one commit, so one fsync) for everything a right answer changes, both
//! on the directly driven connections (see `direct.rs`).

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{direct, SqliteStore, INSERT_SESSION, RECORD_SIGN_IN};
use crate::domain::ids::TokenHash;
use crate::domain::throttle::Counter;
use crate::store::{
    AfterPassword, ChallengeContext, Completion, CounterClaim, Journal, NewSession,
    PasswordSettlement, RecoveryFollowUp, SignInCompletion, SpentFactor, StoreError,
};

/// [`SpentFactor`], owned for the writer thread.
enum Spend {
    Step(i64, Vec<u8>),
    RecoveryCode(Vec<u8>),
}

/// [`RecoveryFollowUp`], owned for the writer thread.
enum FollowUp {
    Nothing,
    DisableTwoFactor,
    AddCode(Vec<u8>),
}

/// Inserts the session and records the sign-in time on its account, inside `tx`.
fn start_session(tx: &rusqlite::Transaction<'_>, new: &NewSession) -> rusqlite::Result<()> {
    let session = &new.session;
    let account = session.account_id.as_str();
    tx.prepare_cached(INSERT_SESSION)?
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
    tx.prepare_cached(RECORD_SIGN_IN)?
        .execute(rusqlite::params![session.created_at.0, account])?;
    Ok(())
}

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
            direct::optional(conn, sql, params, direct::challenge_context_row)
        })?;
        Ok(row.map(ChallengeContext::from))
    }

    /// One transaction on the direct writer: spend the factor, consume the challenge, apply
    /// the recovery follow-up, clear the counter, start the session, append the journal.
    pub(super) async fn complete_sign_in_now(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        // Owned copies for the writer thread.
        let challenge = completion.challenge.0.clone();
        let spent = match completion.factor {
            SpentFactor::Step { step, secret } => Spend::Step(step, secret.to_vec()),
            SpentFactor::RecoveryCode(hash) => Spend::RecoveryCode(hash.to_vec()),
        };
        let follow_up = match completion.follow_up {
            RecoveryFollowUp::Nothing => FollowUp::Nothing,
            RecoveryFollowUp::DisableTwoFactor => FollowUp::DisableTwoFactor,
            RecoveryFollowUp::AddCode(hash) => FollowUp::AddCode(hash.to_vec()),
        };
        let throttle_key = completion.throttle_key.to_owned();
        let expected_counter: Option<Option<Counter>> = match completion.counter {
            CounterClaim::Counted => None,
            CounterClaim::Unchanged(counter) => Some(counter.copied()),
        };
        let new = completion.session.clone();
        let now = completion.now.0;
        let (events, channels) = (journal.events.to_vec(), journal.channels);
        self.direct
            .write(move |conn| {
                let session = &new.session;
                let account = session.account_id.as_str();
                // IMMEDIATE: the write lock is taken at once, never upgraded from a read.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // Checked first: an answer whose counter moved, or whose challenge is gone,
                // ends the same way whatever its factor (as on PostgreSQL).
                if let Some(expected) = expected_counter {
                    // The writer holds the database's write lock: what it reads here is what
                    // every other attempt will find until this commits.
                    let current = tx
                        .prepare_cached(
                            "SELECT failures, window_start, locked_until
                             FROM throttle_counters WHERE key = ?1",
                        )?
                        .query_row([&throttle_key], direct::counter_row)
                        .optional()?
                        .map(Counter::from);
                    let unchanged = match (expected, current) {
                        // "No failures": no counter, or one that counts none.
                        (None, current) => current.is_none_or(|c| c.failures == 0),
                        (Some(expected), current) => current == Some(expected),
                    };
                    if !unchanged {
                        return Ok(Completion::CounterMoved);
                    }
                }
                let open = tx
                    .prepare_cached(
                        "SELECT 1 FROM challenges
                         WHERE token_hash = ?1 AND account_id = ?2 AND expires_at > ?3",
                    )?
                    .exists(rusqlite::params![challenge, account, now])?;
                if !open {
                    return Ok(Completion::ChallengeGone);
                }
                // Security: one conditional statement decides, so of two requests (on any
                // process) with the same code or recovery code only one is accepted.
                let spent = match &spent {
                    Spend::Step(step, secret) => tx
                        .prepare_cached(
                            "UPDATE two_factor SET last_step = ?2
                             WHERE account_id = ?1 AND secret = ?3 AND last_step < ?2",
                        )?
                        .execute(rusqlite::params![account, step, secret])?,
                    Spend::RecoveryCode(hash) => tx
                        .prepare_cached(
                            "DELETE FROM recovery_codes WHERE account_id = ?1 AND code_hash = ?2",
                        )?
                        .execute(rusqlite::params![account, hash])?,
                };
                if spent != 1 {
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
                match &follow_up {
                    FollowUp::Nothing => {}
                    FollowUp::DisableTwoFactor => {
                        tx.prepare_cached("DELETE FROM two_factor WHERE account_id = ?1")?
                            .execute([account])?;
                        tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                            .execute([account])?;
                    }
                    FollowUp::AddCode(hash) => {
                        tx.prepare_cached(
                            "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)",
                        )?
                        .execute(rusqlite::params![account, hash])?;
                    }
                }
                tx.prepare_cached("DELETE FROM throttle_counters WHERE key = ?1")?
                    .execute([&throttle_key])?;
                start_session(&tx, &new)?;
                for event in &events {
                    direct::append(&tx, event, channels)?;
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

    /// A right password: one transaction on the direct writer.
    pub(super) async fn settle_password_now(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        enum Then {
            Session(NewSession),
            Challenge(Vec<u8>, String, i64),
        }
        let (clear, refund) = (settle.clear.to_owned(), settle.refund.to_owned());
        let then = match settle.then {
            AfterPassword::Session(new) => Then::Session(new.clone()),
            AfterPassword::Challenge {
                token,
                account,
                expires_at,
            } => Then::Challenge(token.0.clone(), account.as_str().to_owned(), expires_at.0),
        };
        let (events, channels) = (journal.events.to_vec(), journal.channels);
        self.direct
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached("DELETE FROM throttle_counters WHERE key = ?1")?
                    .execute([&clear])?;
                tx.prepare_cached(
                    "UPDATE throttle_counters SET failures = failures - 1
                     WHERE key = ?1 AND failures > 0",
                )?
                .execute([&refund])?;
                match &then {
                    Then::Session(new) => start_session(&tx, new)?,
                    Then::Challenge(token, account, expires_at) => {
                        tx.prepare_cached(
                            "INSERT INTO challenges (token_hash, account_id, expires_at, failures)
                             VALUES (?1, ?2, ?3, 0)",
                        )?
                        .execute(rusqlite::params![token, account, expires_at])?;
                    }
                }
                for event in &events {
                    direct::append(&tx, event, channels)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }
}
