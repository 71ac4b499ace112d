//! Faults under load (issue 24), a short run: two nodes over a private PostgreSQL cluster
//! under a mixed load, while PostgreSQL restarts (immediate stop, then start), one node is
//! killed with SIGKILL and started again, and one is frozen with SIGSTOP for longer than its
//! cache lease. Nothing may be accepted twice, nothing acknowledged lost, and a request may
//! fail during a fault only with 503 `unavailable` or a closed connection.
//!
//! The run is the load tool's own (`bash scripts/load chaos`), included here as a module so
//! that one harness serves both; see examples/load/chaos/mod.rs. It checks correctness, not
//! speed. PostgreSQL only: it needs the server binaries (initdb, pg_ctl) that
//! scripts/test-services installs, and restarts a cluster of its own, not the suite's.

#[path = "../../examples/load/chaos/mod.rs"]
mod engine;

use std::path::Path;

use crate::helpers::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_under_load_accept_nothing_twice_and_lose_nothing() {
    if Backend::postgres().is_none() {
        return;
    }
    let report = engine::run(Path::new(env!("CARGO_BIN_EXE_deadbolt")), 12)
        .await
        .unwrap()
        .expect("PostgreSQL's server binaries (scripts/test-services installs them)");
    report.print();
    let failures = report.failures();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
