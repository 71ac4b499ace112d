//! The statements of a sign-in on SQLite: settling a right password, and answering a
//! challenge: one read for everything the answer needs, and one write on the writer
//! ([`complete`], sharing its commit with the writes queued beside it) for everything a
//! right answer changes.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};

use super::decode::optional;
use super::{insert_session, journal, SqliteStore, INSERT_CHALLENGE, REFUND_FAILURE};
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::TokenHash;
use crate::domain::notification::Channels;
use crate::domain::throttle::Counter;
use crate::store::cache::Write;
use crate::store::rows::{ChallengeContextRow, CounterRow};
use crate::store::{
    account_columns, AfterPassword, ChallengeContext, Completion, CounterClaim, Journal,
    NewSession, PasswordSettlement, RecoveryFollowUp, SignInCompletion, SignIns, SpentFactor,
    StoreError,
};

/// [`SpentFactor`], owned for the writer thread.
enum Spend {
    Step(i64, Vec<u8>),
    RecoveryCode(Vec<u8>),
    WebAuthn {
        credential: String,
        counter: u32,
        ceremony: Option<Vec<u8>>,
    },
}

/// [`RecoveryFollowUp`], owned for the writer thread.
enum FollowUp {
    Nothing,
    DisableTwoFactor,
    AddCode(Vec<u8>),
}

#[async_trait]
impl SignIns for SqliteStore {
    async fn challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        let row: Option<ChallengeContextRow> = self.db.read(|conn| {
            let sql = concat!(
                "SELECT c.account_id, c.expires_at, c.failures, ",
                account_columns!(),
                ",
                              t.key_id, t.secret, t.enabled_at,
                                  COALESCE(t.last_step, -1) AS last_step,
                              t.pending_key_id, t.pending_secret, t.pending_expires_at,
                              k.failures AS k_failures, k.window_start AS k_window_start,
                              k.locked_until AS k_locked_until,
                              (SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = c.account_id)
                                  AS recovery_codes_remaining,
                              (SELECT COUNT(*) FROM webauthn_credentials w
                               WHERE w.account_id = c.account_id) AS webauthn_keys
                       FROM challenges c JOIN accounts a ON a.id = c.account_id
                       LEFT JOIN two_factor t ON t.account_id = c.account_id
                       LEFT JOIN throttle_counters k ON k.key = ?2 || c.account_id
                       WHERE c.token_hash = ?1"
            );
            optional(conn, sql, (&token.0, counter_prefix))
        })?;
        Ok(row.map(ChallengeContext::from))
    }

    /// One write on the writer ([`complete`]).
    async fn complete_sign_in(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        // A TOTP sign-in only adds a session; a recovery code changes the count (and
        // its follow-up may turn two-factor off).
        let spent_code = matches!(completion.factor, SpentFactor::RecoveryCode(_));
        self.cache
            .write_if(
                Write::CompleteSignIn,
                async {
                    let owned = Owned {
                        challenge: completion.challenge.0.clone(),
                        spent: match completion.factor {
                            SpentFactor::Step { step, secret } => {
                                Spend::Step(step, secret.to_vec())
                            }
                            SpentFactor::RecoveryCode(hash) => Spend::RecoveryCode(hash.to_vec()),
                            SpentFactor::WebAuthn {
                                credential,
                                counter,
                                ceremony,
                            } => Spend::WebAuthn {
                                credential: credential.to_owned(),
                                counter,
                                ceremony: ceremony.map(|key| key.0.clone()),
                            },
                        },
                        follow_up: match completion.follow_up {
                            RecoveryFollowUp::Nothing => FollowUp::Nothing,
                            RecoveryFollowUp::DisableTwoFactor => FollowUp::DisableTwoFactor,
                            RecoveryFollowUp::AddCode(hash) => FollowUp::AddCode(hash.to_vec()),
                        },
                        throttle_key: completion.throttle_key.to_owned(),
                        expected_counter: match completion.counter {
                            CounterClaim::Counted => None,
                            CounterClaim::Unchanged(counter) => Some(counter.copied()),
                        },
                        new: completion.session.clone(),
                        now: completion.now.0,
                        events: journal.events.to_vec(),
                        channels: journal.channels,
                    };
                    self.db.write(move |tx| complete(tx, &owned)).await
                },
                move |done| spent_code && matches!(done, Completion::SignedIn { .. }),
            )
            .await
    }

    /// A right password: one transaction on the writer.
    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::SettlePassword, async {
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
                    } => {
                        Then::Challenge(token.0.clone(), account.as_str().to_owned(), expires_at.0)
                    }
                };
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        tx.prepare_cached("DELETE FROM throttle_counters WHERE key = ?1")?
                            .execute([&clear])?;
                        tx.prepare_cached(REFUND_FAILURE)?.execute([&refund])?;
                        match &then {
                            Then::Session(new) => insert_session(tx, new)?,
                            Then::Challenge(token, account, expires_at) => {
                                tx.prepare_cached(INSERT_CHALLENGE)?
                                    .execute((token, account, expires_at))?;
                            }
                        }
                        journal::append_all(tx, Journal::new(&events, channels))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }
}

/// A completion's input, owned for the writer thread.
struct Owned {
    challenge: Vec<u8>,
    spent: Spend,
    follow_up: FollowUp,
    throttle_key: String,
    /// `None` when the attempt was counted; else the counter it was judged against.
    expected_counter: Option<Option<Counter>>,
    new: NewSession,
    now: i64,
    events: Vec<NewEvent>,
    channels: Channels,
}

/// On the writer, inside its savepoint: spend the factor, consume the challenge, apply the
/// recovery follow-up, clear the counter, start the session, append the journal.
fn complete(tx: &Connection, owned: &Owned) -> Result<Completion, StoreError> {
    let Owned {
        challenge,
        spent,
        follow_up,
        throttle_key,
        expected_counter,
        new,
        now,
        events,
        channels,
    } = owned;
    let (expected_counter, now, channels) = (*expected_counter, *now, *channels);
    let session = &new.session;
    let account = session.account_id.as_str();
    // Checked first: an answer whose counter moved, or whose challenge is gone, ends the same
    // way whatever its factor (as on PostgreSQL).
    if let Some(expected) = expected_counter {
        // The writer holds the database's write lock: what it reads here is what every other
        // attempt will find until this commits.
        let current: Option<CounterRow> = optional(
            tx,
            "SELECT failures, window_start, locked_until
             FROM throttle_counters WHERE key = ?1",
            [throttle_key],
        )?;
        let current = current.map(Counter::from);
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
        .exists((challenge, account, now))?;
    if !open {
        return Ok(Completion::ChallengeGone);
    }
    // Security: one conditional statement decides, so of two requests (on any process) with
    // the same code or recovery code only one is accepted.
    let spent = match spent {
        Spend::Step(step, secret) => tx
            .prepare_cached(
                "UPDATE two_factor SET last_step = ?2
                 WHERE account_id = ?1 AND secret = ?3 AND last_step < ?2",
            )?
            .execute((account, step, secret))?,
        Spend::RecoveryCode(hash) => tx
            .prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1 AND code_hash = ?2")?
            .execute((account, hash))?,
        Spend::WebAuthn {
            credential,
            counter,
            ceremony,
        } => {
            // Its ceremony (read when it was judged) is spent here, with the rest.
            let taken = tx
                .prepare_cached(
                    "DELETE FROM webauthn_ceremonies
                     WHERE id_hash = ?1 AND purpose = 'second_factor' AND account_id = ?2
                       AND expires_at > ?3",
                )?
                .execute((ceremony, account, now))?;
            if taken != 1 {
                return Ok(Completion::FactorRefused);
            }
            tx.prepare_cached(
                "UPDATE webauthn_credentials SET counter = ?3, last_used_at = ?4
                 WHERE id = ?2 AND account_id = ?1
                   AND (counter < ?3 OR (counter = 0 AND ?3 = 0))",
            )?
            .execute((account, credential, i64::from(*counter), now))?
        }
    };
    if spent != 1 {
        return Ok(Completion::FactorRefused);
    }
    let first_factor: Option<String> = tx
        .prepare_cached(
            "DELETE FROM challenges
             WHERE token_hash = ?1 AND account_id = ?2 AND expires_at > ?3
             RETURNING first_factor",
        )?
        .query_row((challenge, account, now), |row| row.get(0))
        .optional()?;
    let Some(first_factor) = first_factor else {
        // Found open above, under the write lock this transaction holds: it cannot be gone.
        // Were it, the error rolls the spent factor back.
        return Err(StoreError::Task(
            "a challenge found open vanished under the write lock".to_owned(),
        ));
    };
    match follow_up {
        FollowUp::Nothing => {}
        FollowUp::DisableTwoFactor => {
            tx.prepare_cached("DELETE FROM two_factor WHERE account_id = ?1")?
                .execute([account])?;
            tx.prepare_cached("DELETE FROM webauthn_credentials WHERE account_id = ?1")?
                .execute([account])?;
            tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                .execute([account])?;
            // SPEC §14: two-factor turned off revokes the API tokens.
            if let Some(cause) = events
                .iter()
                .find(|e| e.kind == EventKind::TwoFactorDisabled)
            {
                super::api_tokens::revoke_all(tx, account, cause)?;
            }
        }
        FollowUp::AddCode(hash) => {
            tx.prepare_cached(
                "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)",
            )?
            .execute((account, hash))?;
        }
    }
    tx.prepare_cached("DELETE FROM throttle_counters WHERE key = ?1")?
        .execute([throttle_key])?;
    // The session records both factors: the challenge's first, then the second.
    let new = NewSession {
        amr: format!("{first_factor} {}", new.amr),
        ..new.clone()
    };
    insert_session(tx, &new)?;
    journal::append_all(tx, Journal::new(events, channels))?;
    let remaining: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?1")?
        .query_row([account], |row| row.get(0))?;
    Ok(Completion::SignedIn {
        recovery_codes_remaining: u32::try_from(remaining).unwrap_or(0),
    })
}
