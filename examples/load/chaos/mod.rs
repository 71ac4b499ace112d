//! The chaos run (issue 24): two nodes over a private PostgreSQL under a mixed load
//! ([`workers`]), while the database is restarted (immediate stop, then start), one node is
//! killed with SIGKILL and started again, and one node is frozen with SIGSTOP for longer
//! than its cache lease, then thawed. Afterwards it checks, from the database and the
//! clients' logs ([`checks`]), that nothing was accepted twice and nothing acknowledged was
//! lost, and prints the figures ([`report`]).
//!
//! The load tool runs it (`bash scripts/load chaos [seconds]`) and so does the test suite
//! (tests/api/chaos.rs, a short run), which includes this directory as a module.
//! With `CHAOS_FAILED` set in the environment, the report lists every request that failed.

mod accounts;
mod checks;
mod client;
mod nodes;
mod postgres;
mod report;
mod webhook;
mod workers;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

pub use report::Report;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a frozen node stays frozen: longer than its cache lease (3 s).
const FROZEN: Duration = Duration::from_secs(4);
/// How long PostgreSQL stays down.
const DATABASE_DOWN: Duration = Duration::from_millis(1500);

/// A run of about `seconds` (at least 12: the three faults and a recovery after each) of
/// `binary`'s nodes; `None` when this machine has no PostgreSQL server binaries.
pub async fn run(binary: &Path, seconds: u64) -> Result<Option<Report>, Error> {
    let Some(database) = postgres::Cluster::start().await? else {
        return Ok(None);
    };
    let receiver = webhook::Receiver::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("webhook.key"),
        "whsec_chaos_0123456789abcdef",
    )?;
    std::fs::write(
        dir.path().join("deadbolt.toml"),
        format!(
            "database = \"{}\"\n[recovery]\nrotate_on_use = true\n\
             [notify]\nwebhook_url = \"{}\"\nwebhook_secret_file = \"webhook.key\"\n",
            database.url("postgres"),
            receiver.url
        ),
    )?;
    // The first node creates the master key file; the second starts after it and shares it.
    let mut nodes = vec![nodes::Node::start(binary, dir.path()).await?];
    nodes.push(nodes::Node::start(binary, dir.path()).await?);
    let shared = Arc::new(client::Shared::new(
        nodes.iter().map(|node| node.base.clone()).collect(),
    )?);

    let seconds = seconds.max(12);
    let mut plain = Vec::new();
    for n in 0..4 {
        plain.push(accounts::password_account(&shared, n).await?);
    }
    let mut totp = Vec::new();
    for n in 0..(seconds as usize / 2).clamp(8, 32) {
        let account = accounts::totp_account(&shared, n).await?;
        totp.push((account, accounts::step_now() - 1));
    }
    let plain = Arc::new(plain);
    let mut tasks = Vec::new();
    for n in 0..plain.len() {
        let (shared, plain) = (Arc::clone(&shared), Arc::clone(&plain));
        tasks.push(tokio::spawn(async move {
            workers::password_worker(&shared, &plain[n], n).await
        }));
    }
    let (shared_authz, plain_authz) = (Arc::clone(&shared), Arc::clone(&plain));
    tasks.push(tokio::spawn(async move {
        workers::authz_worker(&shared_authz, &plain_authz).await
    }));
    let per_worker = totp.len().div_ceil(4);
    while !totp.is_empty() {
        let mut mine: Vec<_> = totp.drain(..per_worker.min(totp.len())).collect();
        let shared = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move {
            workers::two_factor_worker(&shared, &mut mine).await
        }));
    }

    let faults = inject(&shared, &database, &mut nodes, seconds).await;
    shared.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await?;
    }
    let ended = shared.now();
    let faults = faults?;

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database.url("postgres"))
        .await?;
    // The workers are done: the log is the checks' alone (no lock is held across an await).
    let log = shared
        .with_log(std::mem::take)
        .ok_or("the log's lock is poisoned")?;
    // The faults that cut a sending transaction before it could record its delivery: the
    // PostgreSQL restart and the SIGKILL (a frozen node keeps its transaction, and the row
    // lock that keeps the other node from sending the same delivery).
    let cuts: Vec<(Duration, Duration)> = faults
        .iter()
        .filter(|f| f.node.is_none() || f.name.starts_with("SIGKILL"))
        .map(|f| (f.started, f.struck))
        .collect();
    let (mut counts, totals) = checks::check(&shared, &log, &pool, &receiver, &cuts).await?;
    for (n, node) in nodes.iter_mut().enumerate() {
        if !node.running() || !came_back(&shared, n, &plain[0].email).await {
            counts.nodes_not_back += 1;
        }
    }
    // And each node's memory came back into the coherence protocol: a live lease each
    // (renewed every second through the node's own listener connection).
    let leases: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM cache_nodes WHERE lease_until > clock_timestamp() AND NOT revoked",
    )
    .fetch_one(&pool)
    .await?;
    let without_lease = nodes
        .len()
        .saturating_sub(usize::try_from(leases).unwrap_or(0));
    counts.nodes_not_back = counts.nodes_not_back.max(without_lease);
    Ok(Some(Report {
        records: log.records,
        faults,
        nodes: nodes.len(),
        ended,
        counts,
        totals,
    }))
}

/// The three faults, at 15 %, 40 % and 65 % of the `seconds` of load that start now, each
/// healed by this function; then the load goes on until `seconds` and at least 2 s after
/// the last fault.
async fn inject(
    shared: &client::Shared,
    database: &postgres::Cluster,
    nodes: &mut [nodes::Node],
    seconds: u64,
) -> Result<Vec<report::Fault>, Error> {
    let (load, total) = (shared.now(), Duration::from_secs(seconds));
    let at = |fraction: f64| load + total.mul_f64(fraction);
    let mut faults = Vec::new();

    tokio::time::sleep(at(0.15).saturating_sub(shared.now())).await;
    let started = shared.now();
    database.stop_immediately()?;
    let struck = shared.now();
    tokio::time::sleep(DATABASE_DOWN).await;
    database.start_server().await?;
    faults.push(fault(
        "PostgreSQL restart",
        None,
        (started, struck),
        shared.now(),
    ));

    tokio::time::sleep(at(0.4).saturating_sub(shared.now())).await;
    let started = shared.now();
    nodes[1].kill()?;
    let struck = shared.now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    nodes[1].restart().await?;
    faults.push(fault(
        "SIGKILL of node 1",
        Some(1),
        (started, struck),
        shared.now(),
    ));

    tokio::time::sleep(at(0.65).saturating_sub(shared.now())).await;
    let started = shared.now();
    nodes[0].signal("STOP")?;
    let struck = shared.now();
    tokio::time::sleep(FROZEN).await;
    nodes[0].signal("CONT")?;
    let healed = shared.now();
    faults.push(fault(
        "SIGSTOP of node 0",
        Some(0),
        (started, struck),
        healed,
    ));

    let end = at(1.0).max(healed + Duration::from_secs(2));
    tokio::time::sleep(end.saturating_sub(shared.now())).await;
    Ok(faults)
}

fn fault(
    name: &'static str,
    node: Option<usize>,
    (started, struck): (Duration, Duration),
    healed: Duration,
) -> report::Fault {
    report::Fault {
        name,
        node,
        started,
        struck,
        healed,
    }
}

/// Whether `node` answers `/readyz` and signs `email` in.
async fn came_back(shared: &client::Shared, node: usize, email: &str) -> bool {
    let ready = shared
        .client
        .get(format!("{}/readyz", shared.nodes[node]))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    let body = json!({"email": email, "password": accounts::PASSWORD});
    let reply = shared
        .call(node, Method::POST, "/sessions", None, Some(body))
        .await;
    ready && reply.status() == Some(201)
}
