//! The load tool (SPEC §9, BENCHMARKS.md). Run it with `bash scripts/load [sqlite|postgres|both]
//! [seconds]`, which builds the release server and this tool and installs `wrk` when absent.
//!
//! Every figure is a ratio against a baseline measured in the same run, because the machines
//! are shared and noisy:
//! 1. password sign-in throughput with 4 × cores clients ÷ (cores × the raw argon2id verify
//!    rate measured here with the server's own parameters);
//! 2. `/healthz` p99 latency while sign-in is saturated;
//! 3. `GET /api/v1/me` and `GET /api/v1/authz` throughput ÷ `/healthz` (wrk, same
//!    connections);
//! 4. TOTP challenge completions per second for many accounts ÷ the database's own rate of
//!    the conditional used-step update, measured on the same database with 16 connections
//!    just before and just after the completions (their mean); on PostgreSQL also over two
//!    nodes, each flow's requests spread round-robin (its password step on one node, its
//!    code on the other);
//! 5. resident memory idle and at the peak of the load;
//! 6. (`--email`) the latency of "send me an e-mail" for addresses that get a message ÷ for
//!    addresses that get none ([`email`]);
//! 7. the OpenID Connect code exchange and userinfo ÷ `/healthz` ([`oidc`]; `--oidc` alone);
//! 8. (`--tokens`) `GET /api/v1/authz` with an API token ÷ `/healthz`, beside a session's
//!    ([`tokens`]).
//!
//! `chaos [seconds]` is another run altogether: faults under load ([`chaos`]); so is
//! `upgrade PREVIOUS`, a rolling upgrade from the `deadbolt` binary `PREVIOUS` ([`upgrade`]).

mod chaos;
mod email;
mod oidc;
mod tokens;
mod upgrade;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadbolt::domain::password::{hash_password, verify_password, Password};
use deadbolt::domain::time::UnixTime;
use deadbolt::domain::totp::{code_at_step, step_at, TotpSecret};
use serde_json::{json, Value};

const PASSWORD: &str = "violet anchor drifts seven lanterns";
/// Accounts that complete a TOTP challenge in figure 4. With 600 the phase lasted half a
/// second and moved ±0.05 between runs; once completions on PostgreSQL passed 3 000/s, 1 500
/// lasted half a second again and moved 0.31–0.52. Each account costs three argon2 hashes to
/// set up, about 30 ms of this machine's two cores.
const TOTP_ACCOUNTS: usize = 3_000;
/// Of those, answered first and not timed.
const TOTP_WARM_UP: usize = 64;
const CONNECTIONS: usize = 16;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Server {
    child: Child,
    base: String,
    database: String,
    /// Shared by the nodes of one database: the master key file is there.
    dir: Arc<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mut server_binary = PathBuf::from("target/release/deadbolt");
    let mut backends = vec![Backend::Sqlite, Backend::Postgres];
    let mut seconds: Option<u64> = None;
    let mut totp_only = false;
    let mut email_only = false;
    let mut oidc_only = false;
    let mut tokens_only = false;
    let mut chaos_run = false;
    let mut upgrade_from = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--server" => server_binary = PathBuf::from(args.next().ok_or("--server PATH")?),
            "sqlite" => backends = vec![Backend::Sqlite],
            "postgres" => backends = vec![Backend::Postgres],
            "both" => backends = vec![Backend::Sqlite, Backend::Postgres],
            // Figure 4 alone, for working on it.
            "--totp-only" => totp_only = true,
            // Figure 6 alone.
            "--email" => email_only = true,
            // Figure 7 alone.
            "--oidc" => oidc_only = true,
            // Figure 8 alone.
            "--tokens" => tokens_only = true,
            // Faults under load, on a private PostgreSQL (default 60 s).
            "chaos" => chaos_run = true,
            // A rolling upgrade from this earlier `deadbolt` binary, on PostgreSQL.
            "upgrade" => upgrade_from = Some(PathBuf::from(args.next().ok_or("upgrade PATH")?)),
            other => {
                seconds = Some(
                    other
                        .parse()
                        .map_err(|_| format!("unknown argument {other}"))?,
                )
            }
        }
    }
    let server_binary = std::fs::canonicalize(&server_binary)
        .map_err(|e| format!("{}: {e}", server_binary.display()))?;
    if chaos_run {
        return run_chaos(&server_binary, seconds.unwrap_or(60)).await;
    }
    if let Some(previous) = upgrade_from {
        let previous =
            std::fs::canonicalize(&previous).map_err(|e| format!("{}: {e}", previous.display()))?;
        return upgrade::run(&server_binary, &previous).await;
    }
    let seconds = seconds.unwrap_or(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "deadbolt load: {cores} cores, {seconds} s per phase, {} UTC",
        UnixTime(unix_now()).to_rfc3339()
    );
    for backend in backends {
        if email_only {
            email::run(backend, &server_binary).await?;
        } else if tokens_only {
            tokens::run(backend, &server_binary, seconds).await?;
        } else if oidc_only {
            oidc::run(backend, &server_binary, seconds).await?;
        } else if totp_only {
            run_totp(backend, &server_binary, seconds).await?;
        } else {
            run(backend, &server_binary, seconds, cores).await?;
        }
    }
    Ok(())
}

async fn run_chaos(binary: &Path, seconds: u64) -> Result<(), Error> {
    println!(
        "deadbolt chaos: {seconds} s, {} UTC",
        UnixTime(unix_now()).to_rfc3339()
    );
    let report = chaos::run(binary, seconds)
        .await?
        .ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
    report.print();
    let failures = report.failures();
    if failures.is_empty() {
        return Ok(());
    }
    Err(failures.join("\n").into())
}

fn unix_now() -> i64 {
    // A tool, not the server: the wall clock is what the spawned server reads too.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

async fn run(backend: Backend, binary: &Path, seconds: u64, cores: usize) -> Result<(), Error> {
    println!("\n== {backend:?}");
    let server = start(backend, binary).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = server.memory_kib("VmRSS:");

    // 1 and 2: password sign-in against the argon2 bound, with /healthz probed meanwhile.
    let verify_rate = argon2_verify_rate(Duration::from_secs(3));
    let bound = verify_rate * cores as f64;
    let parallel: f64 = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cores)
            .map(|_| scope.spawn(|| argon2_verify_rate(Duration::from_secs(3))))
            .collect();
        threads.into_iter().filter_map(|t| t.join().ok()).sum()
    });
    let clients = 4 * cores;
    for n in 0..clients {
        sign_up(&client, &server.base, &format!("signin{n}@example.com")).await?;
    }
    let (sign_ins, probe) =
        sign_in_load(&client, &server.base, clients, seconds, server.child.id()).await?;
    let p99 = percentile(&probe, 0.99);
    let sign_in_peak = server.memory_kib("VmHWM:");

    // 3: authenticated reads against /healthz, with wrk over the same 16 connections.
    let token = sign_in(&client, &server.base, "signin0@example.com").await?;
    let workspace: Value = client
        .post(format!("{}/api/v1/workspaces", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "Load"}))
        .send()
        .await?
        .json()
        .await?;
    let workspace = workspace["id"]
        .as_str()
        .ok_or("no workspace id")?
        .to_owned();
    let healthz = wrk(&format!("{}/healthz", server.base), &token, seconds)?;
    let me = wrk(&format!("{}/api/v1/me", server.base), &token, seconds)?;
    let authz = wrk(
        &format!("{}/api/v1/authz?workspace={workspace}", server.base),
        &token,
        seconds,
    )?;
    let healthz_after = wrk(&format!("{}/healthz", server.base), &token, seconds)?;
    let baseline = (healthz + healthz_after) / 2.0;

    // 4: TOTP completions for many accounts against the raw conditional-update rate.
    let one_node = totp_load(&client, &[&server], backend, seconds).await?;
    let peak = server.memory_kib("VmHWM:");
    let round_robin = round_robin_totp(&client, backend, binary, seconds).await?;

    println!(
        "raw argon2id verify          {verify_rate:8.1} /s per core; bound {bound:.1} /s on {cores} cores"
    );
    println!(
        "   (all {cores} cores verifying at once reach {parallel:.1} /s: {:.2} of the bound)",
        parallel / bound
    );
    println!(
        "1. password sign-in          {sign_ins:8.1} /s with {clients} clients   ratio {:.2} of the argon2 bound (target >= 0.85)",
        sign_ins / bound
    );
    println!(
        "2. /healthz p99 under sign-in {:7.1} ms ({} probes)              (target < 20 ms)",
        p99.as_secs_f64() * 1000.0,
        probe.len()
    );
    println!("   /healthz                  {healthz:8.0} req/s (again after: {healthz_after:.0})");
    println!(
        "3. GET /api/v1/me            {me:8.0} req/s   ratio {:.2} of /healthz (target >= 0.5)",
        me / baseline
    );
    println!(
        "   GET /api/v1/authz         {authz:8.0} req/s   ratio {:.2} of /healthz (target >= 0.5)",
        authz / baseline
    );
    print_figure_4(&one_node, round_robin.as_ref());
    println!(
        "5. RSS idle {:.1} MiB (target < 30); peak {:.1} MiB after sign-in, {:.1} MiB overall (target < 150)",
        idle_rss as f64 / 1024.0,
        sign_in_peak as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    drop(server);
    // 7: the OpenID Connect provider, on a server of its own (its issuer is its own URL).
    oidc::run(backend, binary, seconds).await
}

/// Figure 4 of one phase: its completions per second, and the raw update rate on its
/// database just before and just after them.
struct Figure4 {
    completions: f64,
    raw_before: f64,
    raw_after: f64,
}

impl Figure4 {
    fn ratio(&self) -> f64 {
        self.completions / ((self.raw_before + self.raw_after) / 2.0)
    }

    fn print(&self, what: &str) {
        println!(
            "   raw used-step UPDATE      {:8.0} /s before, {:.0} /s after, with {CONNECTIONS} connections",
            self.raw_before, self.raw_after
        );
        println!(
            "4. {what:<26}{:8.0} /s for {TOTP_ACCOUNTS} accounts   ratio {:.2} of the raw update rate (target >= 0.4)",
            self.completions,
            self.ratio()
        );
    }
}

fn print_figure_4(one_node: &Figure4, round_robin: Option<&Figure4>) {
    one_node.print("TOTP completions");
    if let Some(spread) = round_robin {
        spread.print("round-robin, 2 nodes");
    }
}

/// Figure 4 over two PostgreSQL nodes of a fresh database, each flow's password step on one
/// node and its code on the other.
async fn round_robin_totp(
    client: &reqwest::Client,
    backend: Backend,
    binary: &Path,
    seconds: u64,
) -> Result<Option<Figure4>, Error> {
    if backend != Backend::Postgres {
        return Ok(None);
    }
    let first = start(backend, binary).await?;
    let second = another_node(&first, binary).await?;
    println!("   round-robin over two nodes:");
    Ok(Some(
        totp_load(client, &[&first, &second], backend, seconds).await?,
    ))
}

/// Figure 4 alone.
async fn run_totp(backend: Backend, binary: &Path, seconds: u64) -> Result<(), Error> {
    println!("\n== {backend:?}");
    let server = start(backend, binary).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let one_node = totp_load(&client, &[&server], backend, seconds).await?;
    let round_robin = round_robin_totp(&client, backend, binary, seconds).await?;
    print_figure_4(&one_node, round_robin.as_ref());
    Ok(())
}

async fn start(backend: Backend, binary: &Path) -> Result<Server, Error> {
    let dir = Arc::new(tempfile::tempdir()?);
    let database = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("deadbolt.db").display()),
        Backend::Postgres => fresh_postgres().await?,
    };
    spawn_node(binary, database, dir).await
}

/// Another node over `first`'s database, with its master key.
async fn another_node(first: &Server, binary: &Path) -> Result<Server, Error> {
    spawn_node(binary, first.database.clone(), Arc::clone(&first.dir)).await
}

async fn spawn_node(
    binary: &Path,
    database: String,
    dir: Arc<tempfile::TempDir>,
) -> Result<Server, Error> {
    spawn_node_with(binary, database, dir, None).await
}

/// [`spawn_node`] with `config` (TOML) as its configuration file; `PORT` in it becomes the
/// port the node listens on.
async fn spawn_node_with(
    binary: &Path,
    database: String,
    dir: Arc<tempfile::TempDir>,
    config: Option<&str>,
) -> Result<Server, Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut command = Command::new(binary);
    if let Some(config) = config {
        let path = dir.path().join("deadbolt.toml");
        std::fs::write(&path, config.replace("PORT", &port.to_string()))?;
        command.arg("--config").arg(path);
    }
    let child = command
        .current_dir(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", &database])
        // The e-mail figure's SMTP port refuses every attempt on purpose: not worth a line.
        .env(
            "DEADBOLT_LOG",
            if config.is_some() { "error" } else { "warn" },
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let server = Server {
        child,
        base,
        database,
        dir,
    };
    for _ in 0..200 {
        if reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_ok()
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the server did not start".into())
}

async fn fresh_postgres() -> Result<String, Error> {
    use sqlx::Connection;
    let admin = std::env::var("DEADBOLT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("deadbolt_load_{}", deadbolt::domain::ids::new_id());
    let mut connection = sqlx::PgConnection::connect(&admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await?;
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

fn argon2_verify_rate(duration: Duration) -> f64 {
    let password = Password::new(PASSWORD);
    let Ok(phc) = hash_password(&password) else {
        return f64::NAN;
    };
    let started = Instant::now();
    let mut count = 0u32;
    while started.elapsed() < duration {
        if verify_password(&password, &phc) {
            count += 1;
        }
    }
    f64::from(count) / started.elapsed().as_secs_f64()
}

async fn sign_up(client: &reqwest::Client, base: &str, email: &str) -> Result<(), Error> {
    let response = client
        .post(format!("{base}/api/v1/accounts"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?;
    if response.status() != 201 {
        return Err(format!("sign-up answered {}", response.status()).into());
    }
    Ok(())
}

async fn sign_in(client: &reqwest::Client, base: &str, email: &str) -> Result<String, Error> {
    let body: Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["token"]
        .as_str()
        .or(body["challenge"]["token"].as_str())
        .ok_or_else(|| format!("no token in {body}"))?
        .to_owned())
}

/// Runs `clients` sign-in loops for `seconds`; returns sign-ins per second and the
/// `/healthz` latencies probed meanwhile.
async fn sign_in_load(
    client: &reqwest::Client,
    base: &str,
    clients: usize,
    seconds: u64,
    server_pid: u32,
) -> Result<(f64, Vec<Duration>), Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let probes = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 0..clients {
        let (client, base, stop, done) = (
            client.clone(),
            base.to_owned(),
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        tasks.push(tokio::spawn(async move {
            let email = format!("signin{n}@example.com");
            while !stop.load(Ordering::Relaxed) {
                let response = client
                    .post(format!("{base}/api/v1/sessions"))
                    .json(&json!({"email": email, "password": PASSWORD}))
                    .send()
                    .await;
                if matches!(response, Ok(r) if r.status() == 201) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let probe = {
        let (client, base, stop, probes) = (
            client.clone(),
            base.to_owned(),
            Arc::clone(&stop),
            Arc::clone(&probes),
        );
        tokio::spawn(async move {
            // Let the sign-in queue fill before probing.
            tokio::time::sleep(Duration::from_millis(500)).await;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                if client.get(format!("{base}/healthz")).send().await.is_ok() {
                    if let Ok(mut probes) = probes.lock() {
                        probes.push(started.elapsed());
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let cpu_before = CpuSplit::now(&[server_pid]);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let count = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    CpuSplit::now(&[server_pid]).print_since(&cpu_before, count, "sign-in");
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let _ = probe.await;
    let probes = probes.lock().map(|p| p.clone()).unwrap_or_default();
    Ok((count as f64 / elapsed, probes))
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// Requests per second that `wrk` reaches on `url` with 16 connections and 2 threads.
fn wrk(url: &str, token: &str, seconds: u64) -> Result<f64, Error> {
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s")])
        .args(["-H", &format!("Authorization: Bearer {token}"), url])
        .output()
        .map_err(|e| format!("wrk: {e} (scripts/load installs it)"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("Non-2xx") {
        return Err(format!("wrk saw errors on {url}:\n{text}").into());
    }
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .ok_or_else(|| format!("no rate in wrk's output:\n{text}").into())
}

struct Enrolled {
    email: String,
    secret: TotpSecret,
    /// The step of the code that confirmed the enrolment (spent).
    step: i64,
    recovery_codes: Vec<String>,
}

async fn enroll(client: &reqwest::Client, base: &str, email: &str) -> Result<Enrolled, Error> {
    sign_up(client, base, email).await?;
    let token = sign_in(client, base, email).await?;
    let enrollment: Value = client
        .post(format!("{base}/api/v1/me/two-factor/enrollment"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let secret = enrollment["secret"].as_str().ok_or("no secret")?;
    let bytes = data_encoding::BASE32_NOPAD.decode(secret.as_bytes())?;
    let secret = TotpSecret::from_bytes(&bytes).ok_or("bad secret")?;
    let step = step_at(UnixTime(unix_now()));
    let confirmed = client
        .post(format!("{base}/api/v1/me/two-factor/enrollment/confirm"))
        .bearer_auth(&token)
        .json(&json!({"code": format!("{:06}", code_at_step(&secret, step))}))
        .send()
        .await?;
    if confirmed.status() != 200 {
        return Err(format!("confirm answered {}", confirmed.status()).into());
    }
    let confirmed: Value = confirmed.json().await?;
    let recovery_codes = confirmed["recovery_codes"]
        .as_array()
        .ok_or_else(|| format!("no recovery codes in {confirmed}"))?
        .iter()
        .filter_map(|code| code.as_str().map(str::to_owned))
        .collect();
    Ok(Enrolled {
        email: email.to_owned(),
        secret,
        step,
        recovery_codes,
    })
}

/// Enrols many accounts, opens one challenge each, then answers them all with 16
/// concurrent clients; returns completions per second of the answering phase, with the raw
/// update rate measured for `seconds` on the same database just before and just after it.
/// Over several `nodes`, account `n` enrols and opens its challenge on node `n`, and
/// answers it on the next one (round-robin).
async fn totp_load(
    client: &reqwest::Client,
    nodes: &[&Server],
    backend: Backend,
    seconds: u64,
) -> Result<Figure4, Error> {
    let base = |n: usize| nodes[n % nodes.len()].base.clone();
    let server_pids: Vec<u32> = nodes.iter().map(|node| node.child.id()).collect();
    let mut accounts = Vec::new();
    let mut pending = Vec::new();
    for n in 0..TOTP_ACCOUNTS {
        let (client, base) = (client.clone(), base(n));
        pending.push(tokio::spawn(async move {
            enroll(&client, &base, &format!("totp{n}@example.com")).await
        }));
        if pending.len() == 8 {
            for task in pending.drain(..) {
                accounts.push(task.await??);
            }
        }
    }
    for task in pending {
        accounts.push(task.await??);
    }
    // Challenges are opened 8 at a time (each is a password sign-in, so argon2-bound).
    let mut challenges = Vec::new();
    let mut pending = Vec::new();
    for (n, account) in accounts.iter().enumerate() {
        let (client, base, email) = (client.clone(), base(n), account.email.clone());
        pending.push(tokio::spawn(async move {
            sign_in(&client, &base, &email).await
        }));
        if pending.len() == 8 {
            for task in pending.drain(..) {
                challenges.push(task.await??);
            }
        }
    }
    for task in pending {
        challenges.push(task.await??);
    }
    // A step after the confirming one that is inside the skew window now: enrolling many
    // accounts takes longer than one 30-second step.
    let current = step_at(UnixTime(unix_now()));
    let mut work: Vec<Answer> = accounts
        .iter()
        .zip(challenges)
        .enumerate()
        .map(|(n, (a, challenge))| {
            let step = (a.step + 1).max(current);
            Answer {
                base: base(n + 1),
                challenge,
                code: format!("{:06}", code_at_step(&a.secret, step)),
            }
        })
        .collect();
    // A warm-up, not timed: the first answers open the server's batch connections and
    // prepare its statements, which a node that has served for a while has done long ago.
    let warm_up = work.split_off(work.len() - TOTP_WARM_UP);
    let mut completed = answer_all(client, warm_up).await?;
    let raw_before = raw_update_rate(backend, &nodes[0].database, seconds).await?;
    let wal = match backend {
        Backend::Postgres => Some(WalPosition::open(&nodes[0].database).await?),
        Backend::Sqlite => None,
    };
    let wal_before = match &wal {
        Some(wal) => Some(wal.now().await?),
        None => None,
    };
    let cpu_before = CpuSplit::now(&server_pids);
    phase_hook("start", &nodes[0].database);
    let started = Instant::now();
    let timed = answer_all(client, work).await?;
    let elapsed = started.elapsed().as_secs_f64();
    phase_hook("stop", &nodes[0].database);
    CpuSplit::now(&server_pids).print_since(&cpu_before, timed, "completion");
    if let (Some(wal), Some(before)) = (&wal, wal_before) {
        let after = wal.now().await?;
        let (transactions, bytes) = (after.0 - before.0, after.1 - before.1);
        println!(
            "   PostgreSQL per completion: {:.2} write transactions, {:.0} bytes of WAL",
            transactions as f64 / timed as f64,
            bytes as f64 / timed as f64,
        );
    }
    completed += timed;
    if completed < TOTP_ACCOUNTS as u64 {
        return Err(format!("only {completed} of {TOTP_ACCOUNTS} challenges completed").into());
    }
    Ok(Figure4 {
        completions: timed as f64 / elapsed,
        raw_before,
        raw_after: raw_update_rate(backend, &nodes[0].database, seconds).await?,
    })
}

/// Runs the program that `DEADBOLT_LOAD_HOOK` names, if any, with `start` (just before the
/// clock starts) or `stop` (just after it stops) and the phase's database: a profiler or a
/// `pg_stat_wal` reading around figure 4's timed answers only, never around the enrolment.
/// Whatever it prints and however it ends changes nothing here.
fn phase_hook(when: &str, database: &str) {
    if let Some(hook) = std::env::var_os("DEADBOLT_LOAD_HOOK") {
        let _ = Command::new(hook).args([when, database]).status();
    }
}

/// One challenge to answer: on which node, and with which code.
struct Answer {
    base: String,
    challenge: String,
    code: String,
}

/// Answers every (challenge, code) in `work` with [`CONNECTIONS`] concurrent clients;
/// returns how many signed in.
async fn answer_all(client: &reqwest::Client, work: Vec<Answer>) -> Result<u64, Error> {
    let work = Arc::new(Mutex::new(work));
    let completed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, work, completed) = (client.clone(), Arc::clone(&work), Arc::clone(&completed));
        tasks.push(tokio::spawn(async move {
            loop {
                let next = work.lock().ok().and_then(|mut w| w.pop());
                let Some(Answer {
                    base,
                    challenge,
                    code,
                }) = next
                else {
                    break;
                };
                let response = client
                    .post(format!("{base}/api/v1/sessions/challenge"))
                    .json(&json!({"challenge_token": challenge, "code": code}))
                    .send()
                    .await;
                if matches!(response, Ok(r) if r.status() == 201) {
                    completed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(completed.load(Ordering::Relaxed))
}

/// CPU seconds used so far by the server, by each PostgreSQL process, and by this tool.
struct CpuSplit {
    server: f64,
    postgres: HashMap<u32, f64>,
    tool: f64,
}

impl CpuSplit {
    fn now(server_pids: &[u32]) -> CpuSplit {
        let mut postgres = HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let path = entry.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let pid = entry.file_name().to_str().and_then(|pid| pid.parse().ok());
            if let (Some(pid), "postgres") = (pid, comm.trim()) {
                postgres.insert(pid, cpu_seconds(&path));
            }
        }
        CpuSplit {
            server: server_pids
                .iter()
                .map(|pid| cpu_seconds(Path::new(&format!("/proc/{pid}"))))
                .sum(),
            postgres,
            tool: cpu_seconds(Path::new("/proc/self")),
        }
    }

    /// Prints the CPU used since `before`, per one of `count` things done. A PostgreSQL
    /// process that ended meanwhile is not counted (the raw update's connections, closing
    /// as the phase starts); one that started is counted whole.
    fn print_since(&self, before: &CpuSplit, count: u64, what: &str) {
        let per = |seconds: f64| seconds * 1e6 / count.max(1) as f64;
        let postgres: f64 = self
            .postgres
            .iter()
            .map(|(pid, now)| now - before.postgres.get(pid).unwrap_or(&0.0))
            .sum();
        println!(
            "   CPU per {what}: server {:.0} µs, postgres {:.0} µs, this tool {:.0} µs",
            per(self.server - before.server),
            per(postgres),
            per(self.tool - before.tool),
        );
    }
}

/// Where PostgreSQL's write-ahead log and transaction ids stand: neither waits for the
/// statistics collector, and reading them assigns no transaction id.
struct WalPosition(sqlx::PgPool);

impl WalPosition {
    async fn open(database: &str) -> Result<WalPosition, Error> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(database)
            .await?;
        Ok(WalPosition(pool))
    }

    /// The next transaction id to be assigned, and the WAL insert position in bytes.
    async fn now(&self) -> Result<(i64, i64), Error> {
        Ok(sqlx::query_as(
            "SELECT txid_snapshot_xmax(txid_current_snapshot()),
                    (pg_current_wal_insert_lsn() - '0/0')::int8",
        )
        .fetch_one(&self.0)
        .await?)
    }
}

/// User plus system CPU seconds of the process at `proc` (fields 14 and 15 of `stat`).
fn cpu_seconds(proc: &Path) -> f64 {
    let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
    // The command name may hold spaces; the fields that follow it do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    // The kernel reports in USER_HZ, 100 on every Linux this runs on.
    ticks / 100.0
}

/// The database's own rate of the used-step update (`UPDATE two_factor SET last_step = …
/// WHERE account_id = … AND last_step < …`), with the server's durability settings and
/// 16 connections, on the accounts the TOTP phase enrolled. It may run before the codes are
/// answered, so it moves `last_step` between its value and one below it (`-1 - last_step`,
/// from the step confirmed at enrolment), never forward: a code answered later is still
/// later than the used step. Writing the value back unchanged would not do: SQLite skips a
/// write that changes no byte.
async fn raw_update_rate(backend: Backend, database: &str, seconds: u64) -> Result<f64, Error> {
    let ids: Vec<String>;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    // Closed at the end, so that its connections have gone before what is measured next.
    let mut postgres_pool = None;
    match backend {
        Backend::Sqlite => {
            // The server's durability settings (`store/sqlite/db.rs`), one connection per
            // thread.
            let file = database
                .strip_prefix("sqlite://")
                .ok_or("not a sqlite:// URL")?
                .to_owned();
            let open = move || -> rusqlite::Result<rusqlite::Connection> {
                let conn = rusqlite::Connection::open(&file)?;
                conn.busy_timeout(Duration::from_secs(10))?;
                conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
                conn.execute_batch("PRAGMA synchronous = FULL;")?;
                Ok(conn)
            };
            ids = open()?
                .prepare("SELECT account_id FROM two_factor")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for worker in 0..CONNECTIONS {
                let conn = open()?;
                let (ids, done) = (ids.clone(), Arc::clone(&done));
                tasks.push(tokio::task::spawn_blocking(move || {
                    let mut n = worker;
                    while Instant::now() < deadline {
                        let id = &ids[n % ids.len()];
                        n += CONNECTIONS;
                        let updated = conn
                            .prepare_cached(
                                "UPDATE two_factor SET last_step = -1 - last_step
                                 WHERE account_id = ?1 AND last_step < ?2",
                            )
                            .and_then(|mut update| update.execute((id, i64::MAX)));
                        if matches!(updated, Ok(1)) {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
        }
        Backend::Postgres => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(CONNECTIONS as u32)
                .connect(database)
                .await?;
            ids = sqlx::query_scalar("SELECT account_id FROM two_factor")
                .fetch_all(&pool)
                .await?;
            postgres_pool = Some(pool.clone());
            for worker in 0..CONNECTIONS {
                let (pool, ids, done) = (pool.clone(), ids.clone(), Arc::clone(&done));
                tasks.push(tokio::spawn(async move {
                    let mut n = worker;
                    while Instant::now() < deadline {
                        let id = &ids[n % ids.len()];
                        n += CONNECTIONS;
                        let updated = sqlx::query(
                            "UPDATE two_factor SET last_step = -1 - last_step
                             WHERE account_id = $1 AND last_step < $2",
                        )
                        .bind(id)
                        .bind(i64::MAX)
                        .execute(&pool)
                        .await;
                        if matches!(updated, Ok(r) if r.rows_affected() == 1) {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
        }
    }
    let started = Instant::now();
    for task in tasks {
        task.await?;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    if let Some(pool) = postgres_pool {
        pool.close().await;
    }
    if ids.is_empty() {
        return Err("no enrolled accounts to update".into());
    }
    Ok(rate)
}
