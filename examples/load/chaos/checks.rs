//! What a chaos run checks once the faults are over, from the database and the clients'
//! own logs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::Method;

use super::client::{Class, Log, Shared};
use super::webhook::Receiver;
use super::Error;

/// The "twice / lost" counts: every one must be zero.
#[derive(Default, Debug)]
pub struct Counts {
    /// A TOTP step accepted twice for one account: by the clients' logs, and by the
    /// database (more sign-ins by code recorded than distinct steps ever sent).
    pub steps_twice_clients: usize,
    pub steps_twice_database: usize,
    /// Likewise for recovery codes.
    pub codes_twice_clients: usize,
    pub codes_twice_database: usize,
    /// Sessions handed out that no longer work, with no sign-out tried and no recorded
    /// revocation.
    pub sessions_lost: usize,
    /// Successes with a session after its end was acknowledged (during the run, or at the
    /// end).
    pub success_after_revocation: usize,
    /// Webhook deliveries of the outbox never received, and deliveries received more than
    /// once (or received with no outbox row).
    pub notifications_lost: usize,
    pub notifications_twice: usize,
    /// Nodes that exited, did not answer `/readyz` and a sign-in after the faults, or hold
    /// no live lease of the node cache.
    pub nodes_not_back: usize,
}

/// Totals beside the counts.
#[derive(Default, Debug)]
pub struct Totals {
    pub steps_accepted: usize,
    pub codes_accepted: usize,
    pub sessions_given: usize,
    pub sessions_valid: usize,
    pub sessions_ended: usize,
    pub outbox_rows: usize,
    pub outbox_wait: Duration,
    /// Deliveries received again because the transaction that sent them was cut before it
    /// recorded them: its node was SIGKILLed, or PostgreSQL stopped. That is at-least-once
    /// (the README has receivers drop a repeat by its `Deadbolt-Delivery`); counted here when
    /// the first receipt was in the second before that fault, or while it struck.
    pub resent_after_cut: usize,
    /// When each delivery received twice for no such reason was first received.
    pub twice_first_at: Vec<Duration>,
}

/// How long before a fault that cuts its transaction a delivery may have been sent and not
/// yet recorded. The fault itself takes a while to strike (`pg_ctl stop` returns once the
/// server is down): a delivery first received while it was striking may have been cut too.
const UNRECORDED_AT_CUT: Duration = Duration::from_secs(1);

/// Checks `log`, the clients' log taken from `shared` once the workers are done.
pub async fn check(
    shared: &Shared,
    log: &Log,
    pool: &sqlx::PgPool,
    receiver: &Receiver,
    cuts: &[(Duration, Duration)],
) -> Result<(Counts, Totals), Error> {
    let mut counts = Counts::default();
    let mut totals = Totals {
        steps_accepted: log.steps_accepted.len(),
        codes_accepted: log.codes_accepted.len(),
        sessions_given: log.given.len(),
        ..Totals::default()
    };
    counts.steps_twice_clients = repeats(&log.steps_accepted);
    counts.codes_twice_clients = repeats(&log.codes_accepted);
    counts.steps_twice_database = beyond_tried(
        pool,
        "sign_in_succeeded",
        "method",
        "totp",
        &distinct_per_account(&log.steps_tried),
    )
    .await?;
    counts.codes_twice_database = beyond_tried(
        pool,
        "recovery_code_used",
        "purpose",
        "sign_in",
        &distinct_per_account(&log.codes_tried),
    )
    .await?;

    let revoked: HashSet<String> = sqlx::query_scalar::<_, Option<String>>(
        "SELECT details::jsonb->>'session_id' FROM security_events WHERE kind = 'session_revoked'",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .flatten()
    .collect();
    for (n, given) in log.given.iter().enumerate() {
        let reply = shared
            .call(n, Method::GET, "/me", Some(&given.token), None)
            .await;
        let ended = log.ended.get(&given.id);
        match reply.status() {
            Some(200) => {
                totals.sessions_valid += 1;
                if ended.copied().flatten().is_some() {
                    counts.success_after_revocation += 1;
                }
            }
            Some(401) if ended.is_some() || revoked.contains(&given.id) => {
                totals.sessions_ended += 1
            }
            _ => counts.sessions_lost += 1,
        }
    }
    counts.success_after_revocation += log
        .records
        .iter()
        .filter(|record| record.class == Class::Ok)
        .filter(|record| {
            let acknowledged = record.session.as_ref().and_then(|id| log.ended.get(id));
            matches!(acknowledged, Some(Some(at)) if *at < record.started)
        })
        .count();

    // Every node looks for due deliveries each second: wait for the outbox to empty.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notification_outbox
             WHERE channel = 'webhook' AND delivered_at IS NULL AND abandoned_at IS NULL",
        )
        .fetch_one(pool)
        .await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    totals.outbox_wait = started.elapsed();
    let rows: HashSet<i64> =
        sqlx::query_scalar("SELECT id FROM notification_outbox WHERE channel = 'webhook'")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    totals.outbox_rows = rows.len();
    let mut seen: HashMap<i64, (usize, Duration)> = HashMap::new();
    for (id, at) in receiver.seen() {
        let at = at.saturating_duration_since(shared.t0);
        seen.entry(id).or_insert((0, at)).0 += 1;
    }
    counts.notifications_lost = rows.iter().filter(|id| !seen.contains_key(id)).count();
    let sent_before_cut = |first: Duration| {
        cuts.iter()
            .any(|(started, struck)| first <= *struck && first + UNRECORDED_AT_CUT >= *started)
    };
    for (id, (times, first)) in &seen {
        let again = if rows.contains(id) { times - 1 } else { *times };
        if again > 0 && rows.contains(id) && sent_before_cut(*first) {
            totals.resent_after_cut += again;
        } else if again > 0 {
            counts.notifications_twice += again;
            totals.twice_first_at.push(*first);
        }
    }
    Ok((counts, totals))
}

/// How many entries repeat an earlier one.
fn repeats<T: Eq + std::hash::Hash>(entries: &[T]) -> usize {
    entries.len() - entries.iter().collect::<HashSet<_>>().len()
}

fn distinct_per_account<T: Eq + std::hash::Hash>(tried: &[(String, T)]) -> HashMap<&str, usize> {
    let mut sets: HashMap<&str, HashSet<&T>> = HashMap::new();
    for (account, factor) in tried {
        sets.entry(account).or_default().insert(factor);
    }
    sets.into_iter().map(|(a, set)| (a, set.len())).collect()
}

/// Over all accounts, the events of `kind` (with `details.key = value`) beyond the number
/// of distinct factors the clients ever sent for that account: each is a factor accepted
/// twice.
async fn beyond_tried(
    pool: &sqlx::PgPool,
    kind: &str,
    key: &str,
    value: &str,
    tried: &HashMap<&str, usize>,
) -> Result<usize, Error> {
    let recorded: Vec<(String, i64)> = sqlx::query_as(
        "SELECT a.email, count(*) FROM security_events e JOIN accounts a ON a.id = e.account_id
         WHERE e.kind = $1 AND e.details::jsonb->>$2 = $3 GROUP BY a.email",
    )
    .bind(kind)
    .bind(key)
    .bind(value)
    .fetch_all(pool)
    .await?;
    Ok(recorded
        .into_iter()
        .map(|(email, count)| {
            let count = usize::try_from(count).unwrap_or(0);
            count.saturating_sub(tried.get(email.as_str()).copied().unwrap_or(0))
        })
        .sum())
}
