//! `upgrade PREVIOUS`: a rolling upgrade on PostgreSQL (README, "Upgrading"). A node of the
//! previous release (`PREVIOUS`, a `deadbolt` binary) starts on a fresh database and enrols
//! an account; a node of this release (`--server`) then starts on the same database and
//! migrates it. Both must go on serving one another's sign-ins, sessions and sign-outs, a
//! code spent on one must be refused on the other, and the previous release must refuse to
//! start on a database migrated past it rather than run on it. Not a figure: it prints each
//! check and fails if any does.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deadbolt::domain::time::UnixTime;
use deadbolt::domain::totp::{code_at_step, step_at};
use serde_json::{json, Value};

use super::{another_node, enroll, fresh_postgres, spawn_node, unix_now, Error, PASSWORD};

const EMAIL: &str = "upgrade@example.com";

pub(super) async fn run(binary: &Path, previous: &Path) -> Result<(), Error> {
    println!("\n== rolling upgrade on PostgreSQL: {previous:?} beside {binary:?}");
    let database = fresh_postgres().await?;
    let dir = Arc::new(tempfile::tempdir()?);
    let old = spawn_node(previous, database.clone(), dir).await?;
    let before = schema_version(&database).await?;
    let client = reqwest::Client::new();
    let enrolled = enroll(&client, &old.base, EMAIL).await?;
    let (secret, recovery) = (enrolled.secret, enrolled.recovery_codes);
    let new = another_node(&old, binary).await?;
    let after = schema_version(&database).await?;
    println!("   schema version {before} (previous release) → {after} (this one)");
    let (old, new) = (old.base.as_str(), new.base.as_str());
    let mut checks = Checks::default();

    // A fresh step, so that the previous release spends a code after the migration.
    while step_at(UnixTime(unix_now())) == enrolled.step {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let code = json!({"code": format!("{:06}", code_at_step(&secret, enrolled.step + 1))});
    let (status, on_old) = sign_in(&client, old, old, &code).await?;
    checks.expect("a code, on the previous release", status, 201);
    let (status, _) = sign_in(&client, new, old, &json!({"recovery_code": recovery[0]})).await?;
    checks.expect(
        "password on this release, recovery code on the previous",
        status,
        201,
    );
    let (status, on_new) =
        sign_in(&client, old, new, &json!({"recovery_code": recovery[1]})).await?;
    checks.expect(
        "password on the previous, recovery code on this release",
        status,
        201,
    );
    let (status, _) = sign_in(&client, old, new, &code).await?;
    checks.expect(
        "the previous release's code again, on this release",
        status,
        401,
    );
    let (status, _) = sign_in(&client, new, old, &json!({"recovery_code": recovery[1]})).await?;
    checks.expect(
        "this release's recovery code again, on the previous",
        status,
        401,
    );

    let (on_old, on_new) = (on_old.unwrap_or_default(), on_new.unwrap_or_default());
    checks.expect(
        "the previous release's session, on this release",
        me(&client, new, &on_old).await?,
        200,
    );
    checks.expect(
        "this release's session, on the previous",
        me(&client, old, &on_new).await?,
        200,
    );
    // Both nodes remember both sessions now; each sign-out must reach the other node.
    me(&client, old, &on_old).await?;
    me(&client, new, &on_new).await?;
    checks.expect(
        "sign-out on the previous release",
        sign_out(&client, old, &on_old).await?,
        204,
    );
    checks.expect(
        "…then its session, on this release",
        me(&client, new, &on_old).await?,
        401,
    );
    checks.expect(
        "sign-out on this release",
        sign_out(&client, new, &on_new).await?,
        204,
    );
    checks.expect(
        "…then its session, on the previous",
        me(&client, old, &on_new).await?,
        401,
    );

    let restarted = std::process::Command::new(previous)
        .args(["migrate", "--database", &database])
        .current_dir(std::env::temp_dir())
        .output()?;
    let said = String::from_utf8_lossy(&restarted.stderr).trim().to_owned();
    if after > before {
        // sqlx names the first migration it does not know.
        checks.check(
            "the previous release refuses the migrated database",
            !restarted.status.success() && said.contains("previously applied but is missing"),
            &said,
        );
    } else {
        checks.check(
            "no migration: the previous release starts on the database",
            restarted.status.success(),
            &said,
        );
    }
    checks.finish()
}

/// The newest migration applied to `database`.
async fn schema_version(database: &str) -> Result<i64, Error> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(database).await?;
    Ok(
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(&mut connection)
            .await?,
    )
}

async fn password_step(client: &reqwest::Client, base: &str) -> Result<Value, Error> {
    Ok(client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?)
}

/// The password on `first`, then `proof` (a code or a recovery code) on `second`: the
/// answer's status, and its session token when it signed in.
async fn sign_in(
    client: &reqwest::Client,
    first: &str,
    second: &str,
    proof: &Value,
) -> Result<(u16, Option<String>), Error> {
    let challenge = password_step(client, first).await?;
    let mut body = proof.clone();
    body["challenge_token"] = challenge["challenge"]["token"].clone();
    let answer = client
        .post(format!("{second}/api/v1/sessions/challenge"))
        .json(&body)
        .send()
        .await?;
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap_or_default();
    Ok((status, body["token"].as_str().map(str::to_owned)))
}

async fn me(client: &reqwest::Client, base: &str, token: &str) -> Result<u16, Error> {
    let answer = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await?;
    Ok(answer.status().as_u16())
}

async fn sign_out(client: &reqwest::Client, base: &str, token: &str) -> Result<u16, Error> {
    let answer = client
        .delete(format!("{base}/api/v1/sessions/current"))
        .bearer_auth(token)
        .send()
        .await?;
    Ok(answer.status().as_u16())
}

/// The checks made, printed as they are.
#[derive(Default)]
struct Checks {
    failed: Vec<String>,
}

impl Checks {
    fn expect(&mut self, what: &str, status: u16, wanted: u16) {
        self.check(
            what,
            status == wanted,
            &format!("{status}, wanted {wanted}"),
        );
    }

    fn check(&mut self, what: &str, ok: bool, detail: &str) {
        println!("   {:6} {what}: {detail}", if ok { "ok" } else { "FAILED" });
        if !ok {
            self.failed.push(what.to_owned());
        }
    }

    fn finish(self) -> Result<(), Error> {
        if self.failed.is_empty() {
            return Ok(());
        }
        Err(format!("rolling upgrade: failed: {}", self.failed.join("; ")).into())
    }
}
