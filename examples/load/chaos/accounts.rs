//! The accounts of a chaos run, made before any fault: password accounts, each with a
//! workspace and a session that stays, and accounts with two-factor and recovery codes.

use reqwest::Method;
use serde_json::json;

use deadbolt::domain::time::UnixTime;
use deadbolt::domain::totp::{code_at_step, step_at, TotpSecret};

use super::client::Shared;
use super::Error;

pub const PASSWORD: &str = "violet anchor drifts seven lanterns";

pub struct PasswordAccount {
    pub email: String,
    pub workspace: String,
    /// A session that is never ended: it revokes the others and asks `/authz`.
    pub keeper: String,
}

pub struct TotpAccount {
    pub email: String,
    pub secret: TotpSecret,
    pub recovery: Vec<String>,
}

/// The TOTP step now (the tool reads the wall clock, as the nodes do).
pub fn step_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    step_at(UnixTime(now))
}

pub fn code(secret: &TotpSecret, step: i64) -> String {
    format!("{:06}", code_at_step(secret, step))
}

async fn signed_up(shared: &Shared, node: usize, email: &str) -> Result<String, Error> {
    let body = json!({"email": email, "password": PASSWORD});
    let reply = shared
        .call(node, Method::POST, "/accounts", None, Some(body.clone()))
        .await;
    if reply.status() != Some(201) {
        return Err(format!("sign-up of {email}: {:?} {}", reply.status(), reply.body()).into());
    }
    let reply = shared
        .call(node, Method::POST, "/sessions", None, Some(body))
        .await;
    reply
        .str("/token")
        .ok_or_else(|| format!("sign-in of {email}: {}", reply.body()).into())
}

pub async fn password_account(shared: &Shared, n: usize) -> Result<PasswordAccount, Error> {
    let email = format!("plain{n}@example.com");
    let keeper = signed_up(shared, n, &email).await?;
    let body = json!({"name": format!("Chaos {n}")});
    let reply = shared
        .call(
            n + 1,
            Method::POST,
            "/workspaces",
            Some(&keeper),
            Some(body),
        )
        .await;
    let workspace = reply
        .str("/id")
        .ok_or_else(|| format!("workspace: {}", reply.body()))?;
    Ok(PasswordAccount {
        email,
        workspace,
        keeper,
    })
}

/// An account with two-factor, confirmed with the previous step's code, so that the
/// current step and the next one are still free to sign in with.
pub async fn totp_account(shared: &Shared, n: usize) -> Result<TotpAccount, Error> {
    let email = format!("totp{n}@example.com");
    let token = signed_up(shared, n, &email).await?;
    let reply = shared
        .call(
            n + 1,
            Method::POST,
            "/me/two-factor/enrollment",
            Some(&token),
            Some(json!({})),
        )
        .await;
    let secret = reply
        .str("/secret")
        .ok_or_else(|| format!("enrolment: {}", reply.body()))?;
    let bytes = data_encoding::BASE32_NOPAD.decode(secret.as_bytes())?;
    let secret = TotpSecret::from_bytes(&bytes).ok_or("bad secret")?;
    let reply = shared
        .call(
            n,
            Method::POST,
            "/me/two-factor/enrollment/confirm",
            Some(&token),
            Some(json!({"code": code(&secret, step_now() - 1)})),
        )
        .await;
    let recovery = reply
        .body()
        .get("recovery_codes")
        .and_then(|codes| codes.as_array())
        .ok_or_else(|| format!("confirmation: {}", reply.body()))?
        .iter()
        .filter_map(|code| code.as_str().map(str::to_owned))
        .collect();
    Ok(TotpAccount {
        email,
        secret,
        recovery,
    })
}
