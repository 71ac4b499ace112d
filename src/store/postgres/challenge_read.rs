//! Reading a challenge with everything its answer needs on PostgreSQL (the account, the
//! authenticator, the failure counter, the recovery codes left), shared by the challenges
//! answered on this node at about the same time (the read queue of `batch.rs`).

use super::batch::{fail_all, Lane, Lease, Queued};
use crate::store::rows::ChallengeContextRow;
use crate::store::{account_columns, ChallengeContext, StoreError};

/// Challenge reads: any number in a batch.
pub(super) struct Reads;

impl Lane for Reads {
    type Job = Read;
    type Outcome = Result<Option<ChallengeContext>, StoreError>;
    fn key(_: &Read) -> Option<&str> {
        None
    }
    async fn run(mut lease: Lease, batch: Vec<Queued<Read, Self::Outcome>>) -> Lease {
        read_all(&mut lease, batch).await;
        lease
    }
}

/// One challenge to read: its token digest, and the prefix of its failure counter's key.
pub(super) struct Read {
    pub(super) token: Vec<u8>,
    pub(super) counter_prefix: String,
}

/// The challenge read, for many challenges at once: each row also names its challenge. The
/// account, authenticator and counter are each looked up by key for each challenge
/// (`LATERAL … OFFSET 0` keeps PostgreSQL from turning them into hash joins, which in the
/// generic plan would scan those whole tables for a handful of rows).
const READ_ALL: &str = concat!(
    "
SELECT c.token_hash, c.account_id, c.expires_at, c.failures, ",
    account_columns!(),
    ",
       t.key_id, t.secret, t.enabled_at, COALESCE(t.last_step, -1) AS last_step,
       t.pending_key_id, t.pending_secret, t.pending_expires_at,
       k.failures AS k_failures, k.window_start AS k_window_start,
       k.locked_until AS k_locked_until,
       (SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = c.account_id)
           AS recovery_codes_remaining,
       (SELECT COUNT(*) FROM webauthn_credentials w WHERE w.account_id = c.account_id)
           AS webauthn_keys
FROM challenges c
CROSS JOIN LATERAL (SELECT * FROM accounts a WHERE a.id = c.account_id OFFSET 0) a
LEFT JOIN LATERAL (SELECT * FROM two_factor t WHERE t.account_id = c.account_id OFFSET 0) t
    ON TRUE
LEFT JOIN LATERAL (
    SELECT * FROM throttle_counters k WHERE k.key = $2 || c.account_id OFFSET 0) k ON TRUE
WHERE c.token_hash = ANY($1)"
);

/// Reads a batch of challenges (one statement per counter prefix; there is one in practice)
/// and answers each read.
async fn read_all(lease: &mut Lease, batch: Vec<Queued<Read, <Reads as Lane>::Outcome>>) {
    use sqlx::{FromRow, Row};
    let mut by_prefix: std::collections::HashMap<String, Vec<Queued<Read, _>>> =
        std::collections::HashMap::new();
    for queued in batch {
        by_prefix
            .entry(queued.job.counter_prefix.clone())
            .or_default()
            .push(queued);
    }
    for (prefix, batch) in by_prefix {
        let tokens: Vec<Vec<u8>> = batch.iter().map(|q| q.job.token.clone()).collect();
        let read = async {
            let connection = lease.connection().await?;
            let query = sqlx::query(READ_ALL).bind(&tokens).bind(&prefix);
            Ok::<_, StoreError>(query.fetch_all(connection).await?)
        };
        let rows = match read.await {
            Ok(rows) => rows,
            Err(error) => {
                lease.release();
                fail_all(batch, "read", error);
                continue;
            }
        };
        let found: Result<std::collections::HashMap<Vec<u8>, ChallengeContext>, sqlx::Error> = rows
            .iter()
            .map(|row| {
                let token: Vec<u8> = row.try_get("token_hash")?;
                Ok((token, ChallengeContextRow::from_row(row)?.into()))
            })
            .collect();
        match found {
            Ok(found) => {
                for queued in batch {
                    let _ = queued.reply.send(Ok(found.get(&queued.job.token).cloned()));
                }
            }
            Err(error) => fail_all(batch, "read", StoreError::Backend(error)),
        }
    }
}
