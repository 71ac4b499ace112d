//! The real binary killed with SIGKILL in the middle of a notification: nothing it
//! acknowledged is lost. A delivery queued by the CLI while the worker hangs on a dead
//! receiver is sent, exactly once, by the next process.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::cli::{deadbolt, free_port, Server};
use crate::helpers::{fresh_database, Backend, PASSWORD};
use crate::receivers::{eventually, WebhookReceiver};

backend_tests!(a_kill_9_in_the_middle_of_a_delivery_loses_nothing);

const SECRET: &str = "whsec_crash_test_0123456789abcdef";

/// A TCP server that takes connections, reads, and never answers; counts connections.
async fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
            });
        }
    });
    (url, accepted)
}

fn write_config(dir: &Path, database: &str, webhook_url: &str) {
    std::fs::write(dir.join("webhook.key"), SECRET).unwrap();
    std::fs::write(
        dir.join("deadbolt.toml"),
        format!(
            "database = \"{database}\"\n[notify]\nwebhook_url = \"{webhook_url}\"\nwebhook_secret_file = \"webhook.key\"\n"
        ),
    )
    .unwrap();
}

fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = deadbolt(dir)
        .args(["--config", "deadbolt.toml"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

async fn a_kill_9_in_the_middle_of_a_delivery_loses_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(backend, &dir).await;
    let (dead_url, accepted) = black_hole().await;
    write_config(dir.path(), &database, &dead_url);
    run(
        dir.path(),
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );

    let port = free_port();
    let mut server = Server::start_with(dir.path(), port, &["--config", "deadbolt.toml"]);
    server.wait_until_listening();
    // Another process (the CLI) records the reset; the server's worker picks the delivery
    // up and hangs on the receiver that never answers.
    run(
        dir.path(),
        &[
            "user",
            "reset-two-factor",
            "ada@example.com",
            "--reason",
            "lost phone",
        ],
        None,
    );
    eventually("the worker to reach the receiver", || {
        (accepted.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();

    // The next process, pointed at a receiver that answers, sends it exactly once.
    let hook = WebhookReceiver::start(0).await;
    write_config(dir.path(), &database, &hook.url);
    let server = Server::start_with(dir.path(), port, &["--config", "deadbolt.toml"]);
    server.wait_until_listening();
    let posted = hook.wait_for(1).await;
    let body = posted[0].json();
    assert_eq!(body["event"]["kind"], "two_factor_reset");
    assert_eq!(body["event"]["account"]["email"], "ada@example.com");
    assert_eq!(body["event"]["details"]["reason"], "lost phone");
    assert!(posted[0].header("deadbolt-signature").starts_with("t="));
    let (code, _) = server.terminate();
    assert_eq!(code, Some(0));
    assert_eq!(hook.posted().len(), 1, "delivered once");
}
