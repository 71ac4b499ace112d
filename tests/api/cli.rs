//! The `deadbolt` binary itself: configuration errors, first start in an empty folder,
//! the one-time setup link, `user create`/`user list`, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::PASSWORD;

pub(crate) fn deadbolt(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deadbolt"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("DEADBOLT_") {
            command.env_remove(name);
        }
    }
    command
}

/// A port free on 127.0.0.1 now, for a process started later (a node, a proxy, Apache).
///
/// Chosen at random below Linux's ephemeral range (32768 and up), never by binding port 0:
/// a port the kernel hands out can be handed out again, to another test's listener or
/// outgoing connection, before the process meant to listen there has bound it (a proxy
/// test once found its port taken that way, and its browser was refused).
pub(crate) fn free_port() -> u16 {
    use rand_core::RngCore;
    loop {
        let port = 20_000 + (rand_core::OsRng.next_u32() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[test]
fn a_bad_config_file_exits_2_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[two_factor]\nskew_steps = \"one\"\n",
    )
    .unwrap();
    let output = deadbolt(dir.path())
        .args(["migrate", "--config", "bad.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("two_factor.skew_steps"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");

    std::fs::write(dir.path().join("typo.toml"), "lisen = \"127.0.0.1:1\"\n").unwrap();
    let output = deadbolt(dir.path())
        .args(["--config", "typo.toml", "serve"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr).unwrap().contains("lisen"));

    let output = deadbolt(dir.path())
        .args(["migrate"])
        .env("DEADBOLT_SIGNUP", "sometimes")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("DEADBOLT_SIGNUP"));

    let output = deadbolt(dir.path())
        .args(["migrate", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn config_is_accepted_after_the_subcommand_and_env_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("deadbolt.toml"),
        "database = \"sqlite://from-file.db\"\n",
    )
    .unwrap();
    let output = deadbolt(dir.path())
        .args(["migrate", "--config", "deadbolt.toml"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("from-file.db").exists());

    let output = deadbolt(dir.path())
        .args(["migrate", "--config", "deadbolt.toml"])
        .env("DEADBOLT_DATABASE", "sqlite://from-env.db")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("from-env.db").exists());

    let output = deadbolt(dir.path())
        .args([
            "migrate",
            "--config",
            "deadbolt.toml",
            "--database",
            "sqlite://from-flag.db",
        ])
        .env("DEADBOLT_DATABASE", "sqlite://from-env.db")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("from-flag.db").exists());
}

#[test]
fn user_create_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = deadbolt(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "Root@Example.com",
            "--admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("administrator root@example.com"),
        "{stdout}"
    );
    assert!(!stdout.contains(PASSWORD));

    // Without --password-stdin a strong password is generated and shown once.
    let output = deadbolt(dir.path())
        .args(["user", "create", "--email", "ada@example.com"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .contains("Password (shown once): "));

    let output = deadbolt(dir.path())
        .args(["user", "create", "--email", "ADA@example.com"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("already exists"));

    let output = deadbolt(dir.path())
        .args(["user", "list"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let ada = stdout
        .lines()
        .find(|l| l.starts_with("ada@example.com"))
        .unwrap();
    assert!(ada.contains(" no "), "{stdout}");
    assert!(ada.contains("not_configured"), "{stdout}");
    let root = stdout
        .lines()
        .find(|l| l.starts_with("root@example.com"))
        .unwrap();
    assert!(root.contains(" yes "), "{stdout}");
    assert!(stdout.contains("2 account(s)"), "{stdout}");
}

pub(crate) struct Server {
    pub(crate) child: Child,
    stdout_lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    pub(crate) fn start(dir: &Path, port: u16) -> Server {
        Self::start_with(dir, port, &[])
    }

    /// Starts `deadbolt serve` with `extra` arguments (e.g. `--config FILE`).
    pub(crate) fn start_with(dir: &Path, port: u16, extra: &[&str]) -> Server {
        let mut command = deadbolt(dir);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra);
        Self::spawn(command)
    }

    /// Starts `command`, a `deadbolt … serve`, reading what it prints.
    pub(crate) fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, stdout_lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            stdout_lines,
        }
    }

    /// Lines printed up to and including the "listening" line.
    pub(crate) fn wait_until_listening(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(line) = self.stdout_lines.recv_timeout(Duration::from_millis(200)) {
                let done = line.contains("listening on");
                lines.push(line);
                if done {
                    return lines;
                }
            }
        }
        panic!("server did not start: {lines:?}");
    }

    pub(crate) fn terminate(mut self) -> (Option<i32>, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut stderr)
                    .unwrap();
                return (status.code(), stderr);
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_in_an_empty_folder_prints_a_one_time_setup_link() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start(dir.path(), port);
    let lines = server.wait_until_listening();
    let link = lines
        .iter()
        .find_map(|line| {
            line.trim()
                .strip_prefix(&format!("http://127.0.0.1:{port}/setup/"))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no setup link in {lines:?}"));
    let setup_token = link;

    // The embedded defaults: deadbolt.db and a 0600 deadbolt.key in the working folder.
    assert!(dir.path().join("deadbolt.db").exists());
    let key = dir.path().join("deadbolt.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{base}/setup/{setup_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("name=\"email\"") && html.contains("name=\"password\""),
        "{html}"
    );

    // A weak password is refused on the page, and the link survives.
    let weak = client
        .post(format!("{base}/setup/{setup_token}"))
        .form(&[("email", "root@example.com"), ("password", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 422);
    let created = client
        .post(format!("{base}/setup/{setup_token}"))
        .form(&[
            ("email", "Root@Example.com"),
            ("name", "Root"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(created.text().await.unwrap().contains("root@example.com"));

    // The link is dead now.
    let again = client
        .get(format!("{base}/setup/{setup_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let reuse = client
        .post(format!("{base}/setup/{setup_token}"))
        .form(&[("email", "eve@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), 404);

    // The admin signs in.
    let signed_in: serde_json::Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"email": "root@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_in["token"].as_str().unwrap().to_owned();
    let me: serde_json::Value = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_admin"], true);

    // Two-factor through the real binary (wall clock: codes come from the system time).
    let enrollment: serde_json::Value = client
        .post(format!("{base}/api/v1/me/two-factor/enrollment"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrollment["secret"].as_str().unwrap().to_owned();
    let code = crate::helpers::totp_code(&secret, wall_clock());
    let confirmed: serde_json::Value = client
        .post(format!("{base}/api/v1/me/two-factor/enrollment/confirm"))
        .bearer_auth(&token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recovery_codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery_codes.len(), 8, "{confirmed}");
    let recovery_sign_in = sign_in_with_recovery_code(&client, &base, &recovery_codes[0]).await;
    assert_eq!(
        recovery_sign_in["status"], "authenticated",
        "{recovery_sign_in}"
    );

    let (code_status, stderr) = server.terminate();
    assert_eq!(code_status, Some(0), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
    // Logs are structured and hold no secret: no password, token, TOTP secret or code,
    // recovery code or setup token.
    assert!(stderr.contains("route=/api/v1/sessions"), "{stderr}");
    let mut secrets = vec![
        PASSWORD.to_owned(),
        token.clone(),
        setup_token.clone(),
        secret,
        code,
    ];
    secrets.extend(recovery_codes.iter().cloned());
    for secret in &secrets {
        assert!(
            !stderr.contains(secret.as_str()),
            "a secret reached the log: {stderr}"
        );
    }

    // `deadbolt keys rotate` re-seals everything under a new key.
    let key_before = std::fs::read_to_string(&key).unwrap();
    let output = deadbolt(dir.path())
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("2 secret(s) re-sealed"), "{stdout}");
    let key_after = std::fs::read_to_string(&key).unwrap();
    assert_ne!(key_before, key_after);
    assert_eq!(key_after.lines().count(), 1);
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A second start on the same database prints no setup link, and after the rotation the
    // recovery codes still sign in.
    let server = Server::start(dir.path(), port);
    let lines = server.wait_until_listening();
    assert!(!lines.iter().any(|l| l.contains("/setup/")), "{lines:?}");
    let after_rotation = sign_in_with_recovery_code(&client, &base, &recovery_codes[1]).await;
    assert_eq!(
        after_rotation["status"], "authenticated",
        "{after_rotation}"
    );
    let (code_status, _) = server.terminate();
    assert_eq!(code_status, Some(0));
}

fn wall_clock() -> deadbolt::domain::time::UnixTime {
    use deadbolt::clock::Clock;
    deadbolt::clock::SystemClock.now()
}

async fn sign_in_with_recovery_code(
    client: &reqwest::Client,
    base: &str,
    recovery_code: &str,
) -> serde_json::Value {
    let challenge: serde_json::Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"email": "root@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let challenge_token = challenge["challenge"]["token"].as_str().unwrap();
    client
        .post(format!("{base}/api/v1/sessions/challenge"))
        .json(&json!({"challenge_token": challenge_token, "recovery_code": recovery_code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
