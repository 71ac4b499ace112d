//! Admin resets on SQLite: resetting an account's two-factor (with its recovery codes,
//! sessions and open reset requests, in one transaction), and the reset requests that ask
//! an administrator for one (at most one open per account, however many are filed at once).

use async_trait::async_trait;

use rusqlite::{Connection, OptionalExtension};

use super::decode::all;
use super::journal::append;
use super::SqliteStore;
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::rows::{with_vouches, ResetRequestRow, VouchRow};
use crate::store::{
    FiledRequest, NewVouch, ResetEvent, ResetOutcome, ResetRequest, Resets, StoreError,
    VouchOutcome,
};

/// How often a reset reads again an outcome that moved before it could apply.
const RESET_TRIES: usize = 5;

#[async_trait]
impl Resets for SqliteStore {
    async fn reset_two_factor(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        self.cache
            .write(Write::ResetTwoFactor, async {
                // `record` borrows from the caller and cannot go to the writer's thread: the event
                // is made here from the outcome read first, and the reset applies only while the
                // outcome under the write lock is still that one (else it is read again, a few
                // times at most: only other writes to this very account move it).
                for _ in 0..RESET_TRIES {
                    let id = account.as_str().to_owned();
                    let expected = self.db.read(|conn| reset_outcome(conn, &id))?;
                    let event = record(&expected);
                    let done = self
                        .db
                        .write(move |tx| {
                            if reset_outcome(tx, &id)? != expected {
                                return Ok(false);
                            }
                            tx.prepare_cached("DELETE FROM two_factor WHERE account_id = ?1")?
                                .execute([&id])?;
                            tx.prepare_cached(
                                "DELETE FROM webauthn_credentials WHERE account_id = ?1",
                            )?
                            .execute([&id])?;
                            tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                                .execute([&id])?;
                            tx.prepare_cached("DELETE FROM sessions WHERE account_id = ?1")?
                                .execute([&id])?;
                            tx.prepare_cached(
                                "UPDATE reset_requests SET closed_at = ?2
                                 WHERE account_id = ?1 AND closed_at IS NULL",
                            )?
                            .execute((&id, now.0))?;
                            // A confirmation link left over can confirm no later request.
                            tx.prepare_cached(&close_confirmations())?.execute([&id])?;
                            super::api_tokens::revoke_all(tx, &id, &event)?;
                            append(tx, &event, channels)?;
                            Ok(true)
                        })
                        .await?;
                    if done {
                        return Ok(expected);
                    }
                }
                Err(StoreError::Task(
                    "the account kept changing during its reset".into(),
                ))
            })
            .await
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
        self.cache
            .write(Write::CreateResetRequest, async {
                let (id, account) = (id.to_owned(), account.as_str().to_owned());
                let (message, event) = (message.to_owned(), event.clone());
                self.db
                    .write(move |tx| {
                        // The partial unique index `reset_requests_one_open` decides between racing
                        // filings.
                        let inserted = tx
                            .prepare_cached(
                                "INSERT INTO reset_requests (id, account_id, message, created_at)
                                 VALUES (?1, ?2, ?3, ?4)
                                 ON CONFLICT (account_id) WHERE closed_at IS NULL DO NOTHING",
                            )?
                            .execute((&id, &account, &message, now.0))?;
                        if inserted == 1 {
                            append(tx, &event, channels)?;
                            return Ok(FiledRequest { id, created: true });
                        }
                        let open: String = tx
                    .prepare_cached(
                        "SELECT id FROM reset_requests WHERE account_id = ?1 AND closed_at IS NULL",
                    )?
                    .query_row([&account], |row| row.get(0))?;
                        Ok(FiledRequest {
                            id: open,
                            created: false,
                        })
                    })
                    .await
            })
            .await
    }

    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError> {
        self.requests_where("?1 = ''", String::new())
    }

    async fn open_reset_request(
        &self,
        account: &AccountId,
    ) -> Result<Option<ResetRequest>, StoreError> {
        let requests = self.requests_where("r.account_id = ?1", account.as_str().to_owned())?;
        Ok(requests.into_iter().next())
    }

    async fn member_reset_requests(
        &self,
        workspace: &str,
    ) -> Result<Vec<ResetRequest>, StoreError> {
        let members =
            "r.account_id IN (SELECT account_id FROM memberships WHERE workspace_id = ?1)";
        self.requests_where(members, workspace.to_owned())
    }

    async fn vouch_reset_request(
        &self,
        vouch: &NewVouch<'_>,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<VouchOutcome, StoreError> {
        self.cache
            .write(Write::VouchResetRequest, async {
                let request = vouch.request_id.to_owned();
                let workspace = vouch.workspace_id.to_owned();
                let owner = vouch.owner.as_str().to_owned();
                let (at, event) = (vouch.at.0, event.clone());
                self.db
                    .write(move |tx| {
                        // The primary key (request_id, owner_id) decides between racing vouches.
                        let inserted = tx
                            .prepare_cached(
                                "INSERT INTO reset_vouches (request_id, owner_id, workspace_id, at)
                                 SELECT r.id, o.account_id, o.workspace_id, ?4
                                 FROM reset_requests r
                                 JOIN memberships m ON m.account_id = r.account_id
                                     AND m.workspace_id = ?2
                                 JOIN memberships o ON o.workspace_id = ?2
                                     AND o.account_id = ?3 AND o.role = 'owner'
                                 WHERE r.id = ?1 AND r.closed_at IS NULL AND r.account_id <> ?3
                                 ON CONFLICT (request_id, owner_id) DO NOTHING",
                            )?
                            .execute((&request, &workspace, &owner, at))?;
                        if inserted == 1 {
                            append(tx, &event, channels)?;
                            return Ok(VouchOutcome::Vouched);
                        }
                        let earlier: Option<i64> = tx
                            .prepare_cached(
                                "SELECT at FROM reset_vouches
                                 WHERE request_id = ?1 AND owner_id = ?2",
                            )?
                            .query_row((&request, &owner), |row| row.get(0))
                            .optional()?;
                        Ok(earlier.map_or(VouchOutcome::Refused, |at| {
                            VouchOutcome::Already(UnixTime(at))
                        }))
                    })
                    .await
            })
            .await
    }
}

impl SqliteStore {
    /// The open requests matching `filter` (over `r`, the request, with `?1` bound to
    /// `value`), each with its vouches.
    fn requests_where(&self, filter: &str, value: String) -> Result<Vec<ResetRequest>, StoreError> {
        let requests = format!(
            "SELECT r.id, r.account_id, a.email, r.message, r.created_at, r.email_confirmed_at
             FROM reset_requests r JOIN accounts a ON a.id = r.account_id
             WHERE r.closed_at IS NULL AND {filter} ORDER BY r.created_at, r.id"
        );
        let vouches = format!(
            "SELECT v.request_id, v.owner_id AS account_id, a.email, v.workspace_id, v.at
             FROM reset_vouches v JOIN reset_requests r ON r.id = v.request_id
             JOIN accounts a ON a.id = v.owner_id
             WHERE r.closed_at IS NULL AND {filter} ORDER BY v.at, v.owner_id"
        );
        // A vouch of a request closed between the two reads is left out with its request.
        let (rows, vouches): (Vec<ResetRequestRow>, Vec<VouchRow>) = self.db.read(|conn| {
            Ok((
                all(conn, &requests, [&value])?,
                all(conn, &vouches, [&value])?,
            ))
        })?;
        Ok(with_vouches(rows, vouches))
    }
}

/// Deletes the account's (`?1`) live links and codes but a plain verification link
/// (`void_tokens`): the reset closes the request a confirmation link was for, and whatever
/// else was sent before (an address change asked by a thief, say) ends with the sessions.
fn close_confirmations() -> String {
    crate::store::email_tokens::void_tokens("?1")
}

/// What a reset of `account` does when it runs now: read before the reset (the event is made
/// from it) and again under the write lock, where it is what the reset then does.
fn reset_outcome(conn: &Connection, account: &str) -> rusqlite::Result<ResetOutcome> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM two_factor WHERE account_id = ?1 AND secret IS NOT NULL)
                OR EXISTS (SELECT 1 FROM webauthn_credentials WHERE account_id = ?1),
                (SELECT COUNT(*) FROM sessions WHERE account_id = ?1),
                (SELECT COUNT(*) FROM reset_requests
                 WHERE account_id = ?1 AND closed_at IS NULL)",
    )?
    .query_row([account], |row| {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(ResetOutcome {
            was_enabled: row.get(0)?,
            sessions_revoked: count(row.get(1)?),
            requests_closed: count(row.get(2)?),
        })
    })
}
