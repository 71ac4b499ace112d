//! Figure 6: "send me an e-mail" answers alike whether or not the address has an account
//! (SPEC §11). `POST /api/v1/sessions/email` and `POST /api/v1/password/forgot`, one request
//! at a time, interleaved over addresses that get a message (an account without a password;
//! an account, for a reset) and addresses that get none (an account with a password; no
//! account); and a wrong code typed at `POST /api/v1/sessions/email/verify` for an account
//! with a message waiting and for no account. Each group's median latency is divided by the
//! median of "no account" measured in the same rounds.
//!
//! The server sends to an SMTP port where nobody listens: a request never talks to SMTP (the
//! message waits in the outbox), and the worker's failed attempt retries after 30 s. Each
//! request comes from its own client address (`X-Forwarded-For` from a trusted proxy), so
//! the per-client throttle (50 e-mails in 15 minutes) never answers. Every address is asked
//! once before the timed rounds (as sign-up did for the accounts), so each group's send
//! counters exist when timed; an address is asked at most 5 times, its limit an hour.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{fresh_postgres, percentile, spawn_node_with, Backend, Error, PASSWORD};

/// A well-formed code that no message carries (one in 31^8 that one does).
const WRONG_CODE: &str = "2222-2222";

/// Rounds over every address; each address is asked once per round.
const ROUNDS: usize = 3;
/// Addresses per group.
const ADDRESSES: usize = 40;

/// The pause before each request, for the previous one's outbox attempt to end (one
/// refused connection on loopback takes about a millisecond).
const SETTLE: Duration = Duration::from_millis(20);

/// One measured group.
struct Group {
    what: &'static str,
    path: &'static str,
    /// The code field, for a wrong code typed at `/sessions/email/verify`.
    code: Option<&'static str>,
    samples: Vec<Duration>,
}

pub async fn run(backend: Backend, binary: &std::path::Path) -> Result<(), Error> {
    let dir = Arc::new(tempfile::tempdir()?);
    let database = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("deadbolt.db").display()),
        Backend::Postgres => fresh_postgres().await?,
    };
    let config = "trusted_proxies = [\"127.0.0.1\"]\n\
                  [notify]\n\
                  smtp_url = \"smtp://127.0.0.1:9\"\n\
                  from = \"Deadbolt <security@load.test>\"\n";
    let server = spawn_node_with(binary, database, dir, Some(config)).await?;
    let client = reqwest::Client::new();
    let base = &server.base;
    let mut ip = 0u32;
    let mut post = |path: &'static str, body: Value| {
        ip += 1;
        let forwarded = format!("10.{}.{}.{}", (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
        client
            .post(format!("{base}/api/v1{path}"))
            .header("x-forwarded-for", forwarded)
            .json(&body)
    };
    for i in 0..ADDRESSES {
        let accounts = [
            json!({"email": format!("nopass-{i}@load.test")}),
            json!({"email": format!("haspass-{i}@load.test"), "password": PASSWORD}),
            json!({"email": format!("forgets-{i}@load.test"), "password": PASSWORD}),
        ];
        for account in accounts {
            let created = post("/accounts", account).send().await?;
            if created.status() != 201 {
                return Err(format!("sign-up answered {}", created.status()).into());
            }
        }
    }
    let mut groups = [
        Group {
            what: "e-mail sign-in, account without a password (sent)",
            path: "/sessions/email",
            code: None,
            samples: Vec::new(),
        },
        Group {
            what: "e-mail sign-in, account with a password (none sent)",
            path: "/sessions/email",
            code: None,
            samples: Vec::new(),
        },
        Group {
            what: "e-mail sign-in, no account (none sent)",
            path: "/sessions/email",
            code: None,
            samples: Vec::new(),
        },
        Group {
            what: "forgotten password, account (sent)",
            path: "/password/forgot",
            code: None,
            samples: Vec::new(),
        },
        Group {
            what: "forgotten password, no account (none sent)",
            path: "/password/forgot",
            code: None,
            samples: Vec::new(),
        },
        Group {
            what: "wrong e-mail code, account with a message waiting",
            path: "/sessions/email/verify",
            code: Some(WRONG_CODE),
            samples: Vec::new(),
        },
        Group {
            what: "wrong e-mail code, no account",
            path: "/sessions/email/verify",
            code: Some(WRONG_CODE),
            samples: Vec::new(),
        },
    ];
    // A round not timed, then the timed ones.
    for round in 0..=ROUNDS {
        for i in 0..ADDRESSES {
            let addresses = [
                format!("nopass-{i}@load.test"),
                format!("haspass-{i}@load.test"),
                format!("nobody-{i}@load.test"),
                format!("forgets-{i}@load.test"),
                format!("nobody-else-{i}@load.test"),
                format!("nopass-{i}@load.test"),
                format!("nobody-{i}@load.test"),
            ];
            // Each group in turn comes first, and each request waits for the last one's
            // background work: a message sent wakes the outbox worker, whose attempt would
            // otherwise slow whichever request comes next.
            let turn = (round * ADDRESSES + i) % groups.len();
            let mut order: Vec<(usize, String)> = addresses.into_iter().enumerate().collect();
            order.rotate_left(turn);
            for (index, email) in order {
                tokio::time::sleep(SETTLE).await;
                let group = &mut groups[index];
                let body = match group.code {
                    Some(code) => json!({"email": email, "code": code}),
                    None => json!({"email": email}),
                };
                let expected = match group.code {
                    Some(_) => (401, r#""code":"invalid_code""#),
                    None => (202, r#"{"status":"email_sent"}"#),
                };
                let request = post(group.path, body);
                let started = Instant::now();
                let answer = request.send().await?;
                let (status, body) = (answer.status(), answer.text().await?);
                if round > 0 {
                    group.samples.push(started.elapsed());
                }
                if status != expected.0 || !body.contains(expected.1) {
                    return Err(format!("{}: {status} {body}", group.what).into());
                }
            }
        }
    }
    let median = |group: &Group| percentile(&group.samples, 0.5);
    println!(
        "\nfigure 6 ({backend:?}): \"send me an e-mail\", {} requests per group, one at a time",
        ROUNDS * ADDRESSES
    );
    for (group, baseline) in [(0, 2), (1, 2), (2, 2), (3, 4), (4, 4), (5, 6), (6, 6)] {
        let (this, base) = (median(&groups[group]), median(&groups[baseline]));
        println!(
            "  {:<55} median {:>7.2} ms  p90 {:>7.2} ms  ratio to no account {:.2}",
            groups[group].what,
            this.as_secs_f64() * 1e3,
            percentile(&groups[group].samples, 0.9).as_secs_f64() * 1e3,
            this.as_secs_f64() / base.as_secs_f64()
        );
    }
    Ok(())
}
