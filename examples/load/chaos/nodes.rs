//! The `deadbolt serve` processes of a chaos run: each keeps its port across a restart, so
//! the clients' URLs stay valid, and can be killed, frozen and thawed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Error;

pub struct Node {
    pub base: String,
    port: u16,
    binary: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Starts a node in `dir` (its configuration `deadbolt.toml` and the shared master key
    /// are there) and waits until it answers.
    pub async fn start(binary: &Path, dir: &Path) -> Result<Node, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut node = Node {
            base: format!("http://127.0.0.1:{port}"),
            port,
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            child: None,
        };
        node.restart().await?;
        Ok(node)
    }

    /// Starts the process again on the same port (after [`Node::kill`]).
    pub async fn restart(&mut self) -> Result<(), Error> {
        let mut command = Command::new(&self.binary);
        // The caller's own settings (a test's DEADBOLT_TEST_PG_URL, say) are not the node's.
        for (name, _) in std::env::vars() {
            if name.starts_with("DEADBOLT_") {
                command.env_remove(name);
            }
        }
        let child = command
            .current_dir(&self.dir)
            .args(["--config", "deadbolt.toml", "serve"])
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            // Outages are expected here; what they do is counted, not logged.
            .env("DEADBOLT_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..600 {
            let answer = client.get(format!("{}/healthz", self.base)).send().await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("the node on port {} did not start", self.port).into())
    }

    /// SIGKILL, and waits for the process to end.
    pub fn kill(&mut self) -> Result<(), Error> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) -> Result<(), Error> {
        let pid = self.child.as_ref().ok_or("the node is not running")?.id();
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()?;
        if !sent.success() {
            return Err(format!("kill -{signal} {pid} failed").into());
        }
        Ok(())
    }

    /// Whether the process is still the one started last (it did not exit by itself).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // A frozen process dies of SIGKILL too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
