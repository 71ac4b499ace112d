//! The mixed load of a chaos run. Every worker goes on through the faults and logs how
//! each request ended ([`Class`]); none retries a request that failed.
//! - password workers sign in, ask `/authz` on both nodes, then end the session (a sign-out
//!   on one round, a revocation by the account's other session on the next) and ask with it
//!   again on both nodes;
//! - two-factor workers answer the same TOTP code (or recovery code) on both nodes at once,
//!   each on a challenge of its own: exactly one of the two may sign in;
//! - an `/authz` worker asks with the sessions that stay, round-robin.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::accounts::{code, step_now, PasswordAccount, TotpAccount, PASSWORD};
use super::client::{Class, Given, Kind, Reply, Shared};

/// Password sign-in; the session's (id, token) on success.
async fn sign_in(shared: &Shared, node: usize, email: &str) -> Option<(String, String)> {
    let started = shared.now();
    let body = json!({"email": email, "password": PASSWORD});
    let reply = shared
        .call(node, Method::POST, "/sessions", None, Some(body))
        .await;
    let session = reply.str("/session/id").zip(reply.str("/token"));
    let class = match reply.status() {
        Some(201) if session.is_some() => Class::Ok,
        _ => reply.failure_class(),
    };
    shared.record(
        node,
        Kind::Password,
        (started, shared.now()),
        class,
        None,
        &reply,
    );
    let (id, token) = session?;
    given(shared, &id, &token);
    Some((id, token))
}

fn given(shared: &Shared, id: &str, token: &str) {
    shared.with_log(|log| {
        log.given.push(Given {
            id: id.to_owned(),
            token: token.to_owned(),
        })
    });
}

/// A request with a session `(id, token)`: `alive` says whether it must still work
/// (`None`: its end was asked for and not acknowledged, so either answer is right).
async fn use_session(
    shared: &Shared,
    node: usize,
    kind: Kind,
    path: &str,
    (id, token): (&str, &str),
    alive: Option<bool>,
) {
    let started = shared.now();
    let reply = shared
        .call(node, Method::GET, path, Some(token), None)
        .await;
    let class = match (reply.status(), alive) {
        (Some(200), _) => Class::Ok,
        (Some(401), Some(false) | None) => Class::Refused,
        _ => reply.failure_class(),
    };
    shared.record(node, kind, (started, shared.now()), class, Some(id), &reply);
}

/// Ends session `id` on `node`: a sign-out with its own token, or a revocation by `by`.
async fn end(shared: &Shared, node: usize, (id, token): (&str, &str), by: Option<&str>) {
    shared.with_log(|log| {
        log.ended.entry(id.to_owned()).or_insert(None);
    });
    let started = shared.now();
    let (kind, reply) = match by {
        None => (
            Kind::SignOut,
            shared
                .call(node, Method::DELETE, "/sessions/current", Some(token), None)
                .await,
        ),
        Some(keeper) => (
            Kind::Revoke,
            shared
                .call(
                    node,
                    Method::DELETE,
                    &format!("/sessions/{id}"),
                    Some(keeper),
                    None,
                )
                .await,
        ),
    };
    let class = match reply.status() {
        Some(204) => {
            let acknowledged = shared.now();
            shared.with_log(|log| log.ended.insert(id.to_owned(), Some(acknowledged)));
            Class::Ok
        }
        _ => reply.failure_class(),
    };
    shared.record(node, kind, (started, shared.now()), class, None, &reply);
}

pub async fn password_worker(shared: &Shared, account: &PasswordAccount, n: usize) {
    let authz = format!("/authz?workspace={}", account.workspace);
    let mut round = n;
    while !shared.stopped() {
        round += 1;
        let Some((id, token)) = sign_in(shared, round, &account.email).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let session = (id.as_str(), token.as_str());
        for node in [round, round + 1] {
            use_session(shared, node, Kind::Authz, &authz, session, Some(true)).await;
        }
        let by = (round % 2 == 0).then_some(account.keeper.as_str());
        end(shared, round + 1, session, by).await;
        let acknowledged = shared.with_log(|log| log.ended.get(&id).copied().flatten().is_some());
        // Revoked for sure, or perhaps (the end failed, perhaps after it committed).
        let alive = (acknowledged == Some(true)).then_some(false);
        for node in [round, round + 1] {
            let kind = if node % 2 == 0 { Kind::Me } else { Kind::Authz };
            let path = if kind == Kind::Me { "/me" } else { &authz };
            use_session(shared, node, kind, path, session, alive).await;
        }
    }
}

pub async fn authz_worker(shared: &Shared, accounts: &[PasswordAccount]) {
    let mut n = 0;
    while !shared.stopped() {
        n += 1;
        let account = &accounts[n % accounts.len()];
        let path = format!("/authz?workspace={}", account.workspace);
        let session = ("keeper", account.keeper.as_str());
        use_session(shared, n, Kind::Authz, &path, session, Some(true)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One of the account's next answers: a TOTP step no answer has tried yet, while the clock
/// allows one, else one of its recovery codes.
enum Factor {
    Step(i64),
    Recovery(String),
}

pub async fn two_factor_worker(shared: &Shared, accounts: &mut [(TotpAccount, i64)]) {
    let mut round = 0usize;
    while !shared.stopped() {
        round += 1;
        let mut worked = false;
        for (account, last_tried) in accounts.iter_mut() {
            if shared.stopped() {
                return;
            }
            let next = (*last_tried + 1).max(step_now());
            let factor = if next <= step_now() + 1 {
                *last_tried = next;
                Factor::Step(next)
            } else if let Some(code) = account.recovery.pop() {
                Factor::Recovery(code)
            } else {
                continue;
            };
            worked = true;
            race(shared, account, factor, round).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !worked {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Opens a challenge on each node, answers both at once with `factor`, then uses and
/// (every other time) signs out of the session that won.
async fn race(shared: &Shared, account: &mut TotpAccount, factor: Factor, round: usize) {
    let mut challenges = Vec::new();
    for node in [0, 1] {
        let started = shared.now();
        let body = json!({"email": account.email, "password": PASSWORD});
        let reply = shared
            .call(node, Method::POST, "/sessions", None, Some(body))
            .await;
        let challenge = reply.str("/challenge/token");
        let class = match reply.status() {
            Some(200) if challenge.is_some() => Class::Ok,
            _ => reply.failure_class(),
        };
        shared.record(
            node,
            Kind::Password,
            (started, shared.now()),
            class,
            None,
            &reply,
        );
        challenges.extend(challenge.map(|c| (node, c)));
    }
    let (kind, answer, tried) = match &factor {
        Factor::Step(step) => (
            Kind::Totp,
            json!({"code": code(&account.secret, *step)}),
            *step,
        ),
        Factor::Recovery(code) => (Kind::Recovery, json!({"recovery_code": code}), 0),
    };
    shared.with_log(|log| match &factor {
        Factor::Step(step) => log.steps_tried.push((account.email.clone(), *step)),
        Factor::Recovery(code) => log.codes_tried.push((account.email.clone(), code.clone())),
    });
    let answers = challenges.iter().map(|(node, challenge)| {
        let mut body = answer.clone();
        body["challenge_token"] = json!(challenge);
        let started = shared.now();
        async move {
            let reply = shared
                .call(*node, Method::POST, "/sessions/challenge", None, Some(body))
                .await;
            (*node, (started, shared.now()), reply)
        }
    });
    let replies = futures::future::join_all(answers).await;
    let losers = replies
        .iter()
        .filter(|(_, _, reply)| is_loser(reply, kind))
        .count();
    // Every answer refused as spent: a right, unspent credential was refused (the factor
    // was never tried before). Beside a winner, or an answer that failed (and may have
    // committed first), a loser is the replay's, which is right.
    let all_lost = losers == replies.len();
    for (n, (node, span, reply)) in replies.iter().enumerate() {
        let class = match reply.status() {
            Some(201) => Class::Ok,
            _ if is_loser(reply, kind) && !(all_lost && n == 0) => Class::Refused,
            _ => reply.failure_class(),
        };
        shared.record(*node, kind, *span, class, None, reply);
        if class == Class::Ok {
            accepted(shared, account, &factor, tried, reply, round, *node).await;
        }
    }
}

fn is_loser(reply: &Reply, kind: Kind) -> bool {
    let spent = if kind == Kind::Totp {
        "code_reused"
    } else {
        "invalid_recovery_code"
    };
    reply.status() == Some(401) && reply.error_code() == spent
}

async fn accepted(
    shared: &Shared,
    account: &mut TotpAccount,
    factor: &Factor,
    step: i64,
    reply: &Reply,
    round: usize,
    node: usize,
) {
    shared.with_log(|log| match factor {
        Factor::Step(_) => log.steps_accepted.push((account.email.clone(), step)),
        Factor::Recovery(code) => log
            .codes_accepted
            .push((account.email.clone(), code.clone())),
    });
    // `recovery.rotate_on_use`: the spent code's replacement.
    if let Some(new) = reply
        .body()
        .get("new_recovery_code")
        .and_then(Value::as_str)
    {
        account.recovery.insert(0, new.to_owned());
    }
    let (Some(id), Some(token)) = (reply.str("/session/id"), reply.str("/token")) else {
        return;
    };
    given(shared, &id, &token);
    let session = (id.as_str(), token.as_str());
    use_session(shared, node + 1, Kind::Me, "/me", session, Some(true)).await;
    if round % 2 == 0 {
        end(shared, node, session, None).await;
    }
}
