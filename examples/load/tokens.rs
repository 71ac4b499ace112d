//! Figure 8: forward-auth with an API token. `GET /api/v1/authz` with a session and with an
//! API token of the same member, with wrk over the same 16 connections as figure 3, each ÷
//! `/healthz` measured on the same server just before and after (target ≥ 0.5, as for a
//! session). The token's lookup is an HMAC, then the node's memory, like a session's.

use std::path::Path;

use serde_json::{json, Value};

use super::{start, wrk, Backend, Error, PASSWORD};

pub async fn run(backend: Backend, binary: &Path, seconds: u64) -> Result<(), Error> {
    println!("\n== {backend:?}: API tokens");
    let server = start(backend, binary).await?;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    super::sign_up(&client, &base, "tokens@example.com").await?;
    let session = super::sign_in(&client, &base, "tokens@example.com").await?;
    let workspace: Value = client
        .post(format!("{base}/api/v1/workspaces"))
        .bearer_auth(&session)
        .json(&json!({"name": "Load"}))
        .send()
        .await?
        .json()
        .await?;
    let workspace = workspace["id"]
        .as_str()
        .ok_or("no workspace id")?
        .to_owned();
    let created: Value = client
        .post(format!("{base}/api/v1/me/tokens"))
        .bearer_auth(&session)
        .json(&json!({"name": "load", "expires_in_days": 1, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = created["token"]
        .as_str()
        .ok_or_else(|| format!("no token in {created}"))?
        .to_owned();
    let authz = format!("{base}/api/v1/authz?workspace={workspace}");
    let healthz = wrk(&format!("{base}/healthz"), &session, seconds)?;
    let by_session = wrk(&authz, &session, seconds)?;
    let by_token = wrk(&authz, &token, seconds)?;
    let healthz_after = wrk(&format!("{base}/healthz"), &session, seconds)?;
    let baseline = (healthz + healthz_after) / 2.0;
    println!("   /healthz                  {healthz:8.0} req/s (again after: {healthz_after:.0})");
    println!(
        "8. GET /api/v1/authz session {by_session:8.0} req/s   ratio {:.2} of /healthz (target >= 0.5)",
        by_session / baseline
    );
    println!(
        "   GET /api/v1/authz token   {by_token:8.0} req/s   ratio {:.2} of /healthz (target >= 0.5)",
        by_token / baseline
    );
    Ok(())
}
