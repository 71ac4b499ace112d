//! The chaos run's HTTP client and its log: every request with its node, its kind, when it
//! started and ended, and how it ended; every session handed out, every sign-out and
//! revocation, every TOTP step and recovery code tried and accepted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Password,
    Totp,
    Recovery,
    Authz,
    Me,
    SignOut,
    Revoke,
}

impl Kind {
    /// Whether the request needs the database (no node answers it from memory alone).
    pub fn writes(self) -> bool {
        !matches!(self, Kind::Authz | Kind::Me)
    }
}

/// How a request ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Class {
    /// The answer the request deserved when all is well.
    Ok,
    /// A refusal that is right: the loser of a deliberate replay, a revoked session.
    Refused,
    /// `503 unavailable`.
    Unavailable,
    /// No answer: the connection closed or the request timed out.
    Closed,
    /// A wrong-credential answer to a right credential.
    Wrong,
    /// Anything else: a 500, a 503 without the `unavailable` shape, an unexpected status.
    Unexpected,
}

pub const CLASSES: [Class; 6] = [
    Class::Ok,
    Class::Refused,
    Class::Unavailable,
    Class::Closed,
    Class::Wrong,
    Class::Unexpected,
];

pub struct Record {
    pub node: usize,
    pub kind: Kind,
    pub started: Duration,
    pub ended: Duration,
    pub class: Class,
    /// The session the request carried, when it succeeded with one.
    pub session: Option<String>,
    pub detail: String,
}

/// A session the clients were given.
pub struct Given {
    pub id: String,
    pub token: String,
}

#[derive(Default)]
pub struct Log {
    pub records: Vec<Record>,
    pub given: Vec<Given>,
    /// Session id → when its sign-out or revocation was acknowledged (`None`: tried, no
    /// acknowledgement).
    pub ended: HashMap<String, Option<Duration>>,
    /// (account, TOTP step) of every answer sent, and of every one accepted.
    pub steps_tried: Vec<(String, i64)>,
    pub steps_accepted: Vec<(String, i64)>,
    /// (account, recovery code) likewise.
    pub codes_tried: Vec<(String, String)>,
    pub codes_accepted: Vec<(String, String)>,
}

/// An answer: status and body, or none.
pub enum Reply {
    Answer(u16, Value),
    Closed,
}

impl Reply {
    pub fn status(&self) -> Option<u16> {
        match self {
            Reply::Answer(status, _) => Some(*status),
            Reply::Closed => None,
        }
    }

    pub fn body(&self) -> &Value {
        match self {
            Reply::Answer(_, body) => body,
            Reply::Closed => &Value::Null,
        }
    }

    pub fn error_code(&self) -> &str {
        self.body()["error"]["code"].as_str().unwrap_or("")
    }

    pub fn str(&self, pointer: &str) -> Option<String> {
        self.body().pointer(pointer)?.as_str().map(str::to_owned)
    }

    /// The class of an answer that is not the expected success: 503 `unavailable` and a
    /// closed connection are the failures allowed during a fault.
    pub fn failure_class(&self) -> Class {
        match self {
            Reply::Closed => Class::Closed,
            Reply::Answer(503, _) if self.error_code() == "unavailable" => Class::Unavailable,
            Reply::Answer(401, _)
                if matches!(
                    self.error_code(),
                    "invalid_credentials"
                        | "invalid_code"
                        | "code_reused"
                        | "invalid_recovery_code"
                        | "invalid_challenge"
                        | "unauthenticated"
                ) =>
            {
                Class::Wrong
            }
            Reply::Answer(..) => Class::Unexpected,
        }
    }
}

pub struct Shared {
    pub nodes: Vec<String>,
    pub client: reqwest::Client,
    pub log: Mutex<Log>,
    pub stop: AtomicBool,
    pub t0: Instant,
}

impl Shared {
    pub fn new(nodes: Vec<String>) -> Result<Shared, super::Error> {
        Ok(Shared {
            nodes,
            // Longer than a frozen node's pause and a writer's wait for its lease.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()?,
            log: Mutex::new(Log::default()),
            stop: AtomicBool::new(false),
            t0: Instant::now(),
        })
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// `method path` on `node` (modulo the node count), with a bearer token and a JSON body.
    pub async fn call(
        &self,
        node: usize,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let base = &self.nodes[node % self.nodes.len()];
        let mut request = self.client.request(method, format!("{base}/api/v1{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(bytes) => Reply::Answer(
                        status,
                        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    ),
                    Err(_) => Reply::Closed,
                }
            }
            Err(_) => Reply::Closed,
        }
    }

    /// Logs a request that lasted `(started, ended)`.
    pub fn record(
        &self,
        node: usize,
        kind: Kind,
        (started, ended): (Duration, Duration),
        class: Class,
        session: Option<&str>,
        reply: &Reply,
    ) {
        let detail = match reply {
            Reply::Answer(status, body) => format!("{status} {body}"),
            Reply::Closed => "closed".to_owned(),
        };
        let session = (class == Class::Ok)
            .then(|| session.map(str::to_owned))
            .flatten();
        self.with_log(|log| {
            log.records.push(Record {
                node: node % self.nodes.len(),
                kind,
                started,
                ended,
                class,
                session,
                detail,
            })
        });
    }

    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> T) -> Option<T> {
        self.log.lock().ok().map(|mut log| f(&mut log))
    }
}
