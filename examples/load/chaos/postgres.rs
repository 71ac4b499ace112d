//! A private PostgreSQL cluster for the chaos run: its own data directory and port, so that
//! restarting it (`pg_ctl -m immediate stop`, then start) disturbs nobody else's tests.
//! PostgreSQL refuses to run as root: as root, every `initdb`/`pg_ctl` runs as the
//! `postgres` OS user (`runuser`), in a directory that user owns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Error;

pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    /// Removed with the cluster (after it has stopped).
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Creates and starts a trust-auth cluster on a free loopback port; `None` when this
    /// machine has no PostgreSQL server binaries.
    pub async fn start() -> Result<Option<Cluster>, Error> {
        let Some(bin) = bin_dir() else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("deadbolt-chaos-pg")
            .tempdir()?;
        if as_root() {
            run(Command::new("chown").arg("postgres:").arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        let mut initdb = postgres_command(&bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["--auth=trust", "-U", "postgres", "-E", "UTF8"]);
        run(&mut initdb)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let cluster = Cluster {
            bin,
            data,
            port,
            _dir: dir,
        };
        cluster.start_server().await?;
        Ok(Some(cluster))
    }

    /// The superuser's URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server at once, as a crash would (no checkpoint, every connection cut).
    pub fn stop_immediately(&self) -> Result<(), Error> {
        let mut stop = postgres_command(&self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        run(&mut stop)
    }

    /// Starts the server (after [`Cluster::stop_immediately`]: with crash recovery) and
    /// waits until it accepts connections.
    pub async fn start_server(&self) -> Result<(), Error> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} \
             -c max_connections=200 -c fsync=off",
            self.port,
            self.data.display()
        );
        let mut start = postgres_command(&self.bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.data.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run(&mut start)?;
        for _ in 0..200 {
            if sqlx_connects(&self.url("postgres")).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the private PostgreSQL did not accept connections".into())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = postgres_command(&self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"]);
        let _ = run(&mut stop);
    }
}

async fn sqlx_connects(url: &str) -> bool {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.is_ok()
}

/// The newest PostgreSQL server bin directory with `initdb` and `pg_ctl`.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// `program`, run as the postgres OS user when this process is root.
fn postgres_command(program: &Path) -> Command {
    let mut command = if as_root() {
        let mut runuser = Command::new("runuser");
        runuser.args(["-u", "postgres", "--"]).arg(program);
        runuser
    } else {
        Command::new(program)
    };
    command.current_dir("/");
    command
}

fn run(command: &mut Command) -> Result<(), Error> {
    let output = command.stdin(Stdio::null()).output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
    .into())
}
