//! Several `deadbolt serve` processes over one PostgreSQL database, sharing one master key
//! file (SPEC §9): what one node acknowledges, every node honours, at once; single-use
//! state and throttling hold across nodes; a node killed with SIGKILL loses nothing.
//! These run the real binary on the real clock; TOTP codes are computed for explicit steps
//! inside the accepted window, so a step boundary during a test changes nothing.

use std::collections::HashSet;
use std::io::Write;
use std::process::Stdio;

use deadbolt::domain::time::UnixTime;
use deadbolt::domain::totp::{code_at_step, step_at, TotpSecret};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::cli::{deadbolt, free_port, Server};
use crate::helpers::{fresh_postgres_database, Backend, PASSWORD};
use crate::receivers::WebhookReceiver;

const SECRET: &str = "whsec_multinode_0123456789abcdef";

struct Node {
    server: Option<Server>,
    base: String,
}

/// Nodes over one fresh PostgreSQL database, an instance admin `root@example.com`
/// created by the CLI, and an HTTP client.
pub(crate) struct Cluster {
    nodes: Vec<Node>,
    pub(crate) client: reqwest::Client,
    dir: TempDir,
}

impl Cluster {
    /// `None` (with a printed notice) when no PostgreSQL is configured for tests.
    pub(crate) async fn start(count: usize, webhook: Option<&WebhookReceiver>) -> Option<Cluster> {
        Backend::postgres()?;
        let dir = tempfile::tempdir().unwrap();
        let database = fresh_postgres_database().await;
        let mut config = format!("database = \"{database}\"\n");
        if let Some(hook) = webhook {
            std::fs::write(dir.path().join("webhook.key"), SECRET).unwrap();
            config.push_str(&format!(
                "[notify]\nwebhook_url = \"{}\"\nwebhook_secret_file = \"webhook.key\"\n",
                hook.url
            ));
        }
        std::fs::write(dir.path().join("deadbolt.toml"), config).unwrap();
        let mut create = deadbolt(dir.path())
            .args(["--config", "deadbolt.toml", "user", "create"])
            .args(["--email", "root@example.com", "--admin", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        create
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .unwrap();
        assert!(create.wait().unwrap().success());
        let mut nodes = Vec::new();
        // The first node creates the key file; the others start after it and share it.
        for _ in 0..count {
            let port = free_port();
            let server = Server::start_with(dir.path(), port, &["--config", "deadbolt.toml"]);
            server.wait_until_listening();
            nodes.push(Node {
                server: Some(server),
                base: format!("http://127.0.0.1:{port}"),
            });
        }
        Some(Cluster {
            nodes,
            client: reqwest::Client::new(),
            dir,
        })
    }

    /// `path` on `node`.
    pub(crate) fn url(&self, node: usize, path: &str) -> String {
        format!("{}{path}", self.nodes[node % self.nodes.len()].base)
    }

    pub(crate) async fn call(
        &self,
        node: usize,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(node, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub(crate) async fn post(
        &self,
        node: usize,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        self.call(node, reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub(crate) async fn get(&self, node: usize, path: &str, token: &str) -> (u16, Value) {
        self.call(node, reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub(crate) async fn sign_in(&self, node: usize, email: &str, password: &str) -> (u16, Value) {
        self.post(
            node,
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs up on `node` and returns a session token from it.
    pub(crate) async fn signed_up(&self, node: usize, email: &str) -> String {
        let (status, body) = self
            .post(
                node,
                "/api/v1/accounts",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self.sign_in(node, email, PASSWORD).await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    fn kill(&mut self, node: usize) {
        let mut server = self.nodes[node].server.take().unwrap();
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut server) = node.server.take() {
                let _ = server.child.kill();
                let _ = server.child.wait();
            }
        }
    }
}

pub(crate) fn code(secret: &str, step: i64) -> String {
    let bytes = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let secret = TotpSecret::from_bytes(&bytes).unwrap();
    format!("{:06}", code_at_step(&secret, step))
}

pub(crate) fn current_step() -> i64 {
    use deadbolt::clock::Clock;
    let now: UnixTime = deadbolt::clock::SystemClock.now();
    step_at(now)
}

/// Opens `count` challenges for `email`, spread over the nodes.
async fn challenges(cluster: &Cluster, email: &str, count: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for n in 0..count {
        let (status, body) = cluster.sign_in(n, email, PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body["challenge"]["token"].as_str().unwrap().to_owned());
    }
    tokens
}

/// Answers every challenge at once, each through another node; returns the statuses and
/// the session token of the one that won, if any.
async fn race(cluster: &Cluster, tokens: &[String], answer: Value) -> (Vec<u16>, Option<String>) {
    let answers = tokens.iter().enumerate().map(|(n, token)| {
        let mut body = answer.clone();
        body["challenge_token"] = json!(token);
        cluster.post(n, "/api/v1/sessions/challenge", None, body)
    });
    let replies = futures::future::join_all(answers).await;
    let winner = replies
        .iter()
        .find(|(status, _)| *status == 201)
        .and_then(|(_, body)| body["token"].as_str().map(str::to_owned));
    (
        replies.into_iter().map(|(status, _)| status).collect(),
        winner,
    )
}

/// Signs up through node A, enrols through A and confirms through B; returns the secret,
/// the step the confirmation used and the recovery codes.
async fn enrolled(cluster: &Cluster, email: &str) -> (String, i64, Vec<String>) {
    let token = cluster.signed_up(0, email).await;
    let (status, enrollment) = cluster
        .post(
            0,
            "/api/v1/me/two-factor/enrollment",
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{enrollment}");
    let secret = enrollment["secret"].as_str().unwrap().to_owned();
    let step = current_step();
    let (status, confirmed) = cluster
        .post(
            1,
            "/api/v1/me/two-factor/enrollment/confirm",
            Some(&token),
            json!({"code": code(&secret, step)}),
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    let recovery = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, step, recovery)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_are_accepted_once_across_nodes() {
    let Some(cluster) = Cluster::start(3, None).await else {
        return;
    };
    // One code (the next step's, inside the skew window) raced by 16 clients over 3 nodes.
    let (secret, step, _) = enrolled(&cluster, "ada@example.com").await;
    let tokens = challenges(&cluster, "ada@example.com", 16).await;
    let (statuses, _) = race(&cluster, &tokens, json!({"code": code(&secret, step + 1)})).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [201, 401, 429].contains(s)),
        "{statuses:?}"
    );

    // One recovery code likewise (another account: Ada's second factor is now locked for
    // a minute by the fifteen refused answers, which the nodes counted together).
    let (_, _, recovery) = enrolled(&cluster, "bob@example.com").await;
    let tokens = challenges(&cluster, "bob@example.com", 16).await;
    let (statuses, session) = race(&cluster, &tokens, json!({"recovery_code": recovery[0]})).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );

    // The winner's session, created on one node, works on every node.
    let session = session.unwrap();
    for node in 0..3 {
        let (status, me) = cluster.get(node, "/api/v1/me", &session).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["two_factor"]["recovery_codes_remaining"], 7, "{me}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_counts_add_up_across_nodes() {
    let Some(cluster) = Cluster::start(3, None).await else {
        return;
    };
    cluster.signed_up(0, "ada@example.com").await;
    // Ten wrong passwords, spread over three nodes, lock the address on all of them.
    for n in 0..10 {
        let (status, body) = cluster
            .sign_in(n, "ada@example.com", "wrong password, surely")
            .await;
        assert_eq!(status, 401, "attempt {n}: {body}");
    }
    for node in 0..3 {
        let (status, body) = cluster.sign_in(node, "ada@example.com", PASSWORD).await;
        assert_eq!(status, 429, "node {node}: {body}");
        assert_eq!(body["error"]["code"], "too_many_attempts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_revoked_on_one_node_dies_on_every_node_at_once() {
    let Some(cluster) = Cluster::start(3, None).await else {
        return;
    };
    let token = cluster.signed_up(0, "ada@example.com").await;
    for node in 0..3 {
        assert_eq!(cluster.get(node, "/api/v1/me", &token).await.0, 200);
    }
    let (status, _) = cluster
        .call(
            1,
            reqwest::Method::DELETE,
            "/api/v1/sessions/current",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    for node in [0, 2, 1] {
        let (status, body) = cluster.get(node, "/api/v1/me", &token).await;
        assert_eq!(status, 401, "node {node}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cli_reset_ends_sessions_every_node_remembers_before_it_returns() {
    let Some(cluster) = Cluster::start(2, None).await else {
        return;
    };
    let (secret, step, _) = enrolled(&cluster, "ada@example.com").await;
    let (status, body) = cluster.sign_in(1, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cluster
        .post(
            1,
            "/api/v1/sessions/challenge",
            None,
            json!({"challenge_token": body["challenge"]["token"], "code": code(&secret, step + 1)}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let ada = body["token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        for node in 0..2 {
            assert_eq!(cluster.get(node, "/api/v1/me", &ada).await.0, 200);
        }
    }
    let reset = deadbolt(cluster.dir.path())
        .args(["--config", "deadbolt.toml", "user", "reset-two-factor"])
        .args(["ada@example.com", "--reason", "lost phone"])
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    for node in [1, 0] {
        let (status, body) = cluster.get(node, "/api/v1/me", &ada).await;
        assert_eq!(status, 401, "node {node}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_node_never_answers_from_memory_after_a_revocation() {
    let Some(cluster) = Cluster::start(2, None).await else {
        return;
    };
    let token = cluster.signed_up(0, "ada@example.com").await;
    for _ in 0..3 {
        for node in 0..2 {
            assert_eq!(cluster.get(node, "/api/v1/me", &token).await.0, 200);
        }
    }
    // Node 0 stops (as under a long pause or a network partition) holding its lease and
    // remembering the session; node 1 revokes it. The revocation cannot wait for node 0's
    // acknowledgement, so it revokes node 0's lease and waits for it to run out.
    let frozen = cluster.nodes[0].server.as_ref().unwrap().child.id();
    signal(frozen, "-STOP");
    let (status, _) = cluster
        .call(
            1,
            reqwest::Method::DELETE,
            "/api/v1/sessions/current",
            Some(&token),
            None,
        )
        .await;
    signal(frozen, "-CONT");
    assert_eq!(status, 204);
    for node in [0, 1] {
        let (status, body) = cluster.get(node, "/api/v1/me", &token).await;
        assert_eq!(status, 401, "node {node}: {body}");
    }
    // And node 0 comes back into the protocol: a later revocation is seen at once too.
    let token = cluster.signed_up(1, "bob@example.com").await;
    for _ in 0..3 {
        for node in 0..2 {
            assert_eq!(cluster.get(node, "/api/v1/me", &token).await.0, 200);
        }
    }
    let (status, _) = cluster
        .call(
            1,
            reqwest::Method::DELETE,
            "/api/v1/sessions/current",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(cluster.get(0, "/api/v1/me", &token).await.0, 401);
}

fn signal(pid: u32, which: &str) {
    let sent = std::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_with_sigkill_loses_nothing_it_acknowledged() {
    let Some(mut cluster) = Cluster::start(2, None).await else {
        return;
    };
    let mut sessions = Vec::new();
    for n in 0..5 {
        sessions.push(cluster.signed_up(0, &format!("user{n}@example.com")).await);
    }
    let token = sessions[0].clone();
    let (status, enrollment) = cluster
        .post(
            0,
            "/api/v1/me/two-factor/enrollment",
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let secret = enrollment["secret"].as_str().unwrap();
    let (status, _) = cluster
        .post(
            0,
            "/api/v1/me/two-factor/enrollment/confirm",
            Some(&token),
            json!({"code": code(secret, current_step())}),
        )
        .await;
    assert_eq!(status, 200);
    cluster.kill(0);

    // Node B serves everything A acknowledged.
    for (n, session) in sessions.iter().enumerate() {
        let (status, me) = cluster.get(1, "/api/v1/me", session).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["email"], format!("user{n}@example.com"));
    }
    let (status, me) = cluster.get(1, "/api/v1/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(me["two_factor"]["state"], "enabled", "{me}");
    let (status, body) = cluster.sign_in(1, "user3@example.com", PASSWORD).await;
    assert_eq!(status, 201, "{body}");
    cluster.signed_up(1, "after@example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outbox_is_delivered_exactly_once_by_several_nodes() {
    let hook = WebhookReceiver::start(0).await;
    let Some(cluster) = Cluster::start(3, Some(&hook)).await else {
        return;
    };
    let (status, admin) = cluster.sign_in(0, "root@example.com", PASSWORD).await;
    assert_eq!(status, 201, "{admin}");
    let admin = admin["token"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for n in 0..12 {
        let token = cluster.signed_up(n, &format!("user{n}@example.com")).await;
        ids.push(
            cluster.get(n, "/api/v1/me", &token).await.1["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for (n, id) in ids.iter().enumerate() {
        let (status, body) = cluster
            .post(
                n,
                &format!("/api/v1/admin/accounts/{id}/two-factor/reset"),
                Some(&admin),
                json!({"reason": "lost phone"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    hook.wait_for(12).await;
    let mut delivered = 0;
    for _ in 0..400 {
        let (_, page) = cluster.get(0, "/api/v1/admin/notifications", &admin).await;
        delivered = page["counts"]["delivered"].as_u64().unwrap();
        if delivered == 12 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 12);
    let posted = hook.posted();
    let distinct: HashSet<&str> = posted
        .iter()
        .map(|p| p.header("deadbolt-delivery"))
        .collect();
    assert_eq!(posted.len(), 12, "no delivery was sent twice");
    assert_eq!(distinct.len(), 12);
}
