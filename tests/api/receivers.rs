//! Real receivers on loopback for notification tests: a minimal SMTP server and a webhook
//! endpoint, each able to fail its first attempts or to hang.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Waits (real time, for background work) until `ready` holds, or panics after 60 s (a loaded CI machine is slow; a passing run never waits that long).
pub async fn eventually<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    for _ in 0..1200 {
        if let Some(value) = ready() {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// One request the webhook receiver saw.
#[derive(Debug, Clone)]
pub struct Posted {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub answered: StatusCode,
}

impl Posted {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }
}

#[derive(Default)]
struct WebhookState {
    posted: Mutex<Vec<Posted>>,
    fail_first: AtomicUsize,
    always_fail: std::sync::atomic::AtomicBool,
}

/// An HTTP receiver that answers 500 to its first `fail_first` requests, then 204.
pub struct WebhookReceiver {
    pub url: String,
    state: Arc<WebhookState>,
}

impl WebhookReceiver {
    pub async fn start(fail_first: usize) -> WebhookReceiver {
        let state = Arc::new(WebhookState {
            fail_first: AtomicUsize::new(fail_first),
            ..WebhookState::default()
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { url, state }
    }

    /// A receiver that never accepts a delivery.
    pub async fn failing() -> WebhookReceiver {
        let receiver = Self::start(0).await;
        receiver.state.always_fail.store(true, Ordering::SeqCst);
        receiver
    }

    /// Every request so far.
    pub fn posted(&self) -> Vec<Posted> {
        self.state.posted.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived, and returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Posted> {
        eventually(&format!("{count} webhook requests"), || {
            let posted = self.posted();
            (posted.len() >= count).then_some(posted)
        })
        .await
    }
}

async fn receive(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let failing = state.always_fail.load(Ordering::SeqCst)
        || state
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let answered = if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    state.posted.lock().unwrap().push(Posted {
        headers,
        body: body.to_vec(),
        answered,
    });
    answered
}

/// One e-mail the SMTP receiver accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Default)]
struct SmtpState {
    mails: Mutex<Vec<Mail>>,
    fail_first: AtomicUsize,
    connections: AtomicUsize,
    open: AtomicUsize,
    hang: std::sync::atomic::AtomicBool,
}

/// A minimal SMTP server (RFC 5321: EHLO, MAIL, RCPT, DATA, QUIT) on loopback. The
/// first `fail_first` transactions get a transient `451` to MAIL FROM; a hanging server
/// accepts connections and never says a word.
pub struct SmtpReceiver {
    pub url: String,
    state: Arc<SmtpState>,
}

impl SmtpReceiver {
    pub async fn start(fail_first: usize) -> SmtpReceiver {
        let state = Arc::new(SmtpState {
            fail_first: AtomicUsize::new(fail_first),
            ..SmtpState::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    state.connections.fetch_add(1, Ordering::SeqCst);
                    state.open.fetch_add(1, Ordering::SeqCst);
                    let _ = converse(stream, &state).await;
                    state.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        SmtpReceiver { url, state }
    }

    /// A server that accepts connections and never answers.
    pub async fn hanging() -> SmtpReceiver {
        let receiver = Self::start(0).await;
        receiver.state.hang.store(true, Ordering::SeqCst);
        receiver
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.state.mails.lock().unwrap().clone()
    }

    /// The next `count` transactions get a transient `451`.
    pub fn fail_next(&self, count: usize) {
        self.state.fail_first.store(count, Ordering::SeqCst);
    }

    /// Connections accepted so far, and those still open.
    pub fn connections(&self) -> (usize, usize) {
        (
            self.state.connections.load(Ordering::SeqCst),
            self.state.open.load(Ordering::SeqCst),
        )
    }

    /// Waits until at least `count` e-mails arrived, and returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        eventually(&format!("{count} e-mails"), || {
            let mails = self.mails();
            (mails.len() >= count).then_some(mails)
        })
        .await
    }
}

async fn converse(stream: tokio::net::TcpStream, state: &SmtpState) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    if state.hang.load(Ordering::SeqCst) {
        // Read until the client gives up, never answering.
        while lines.next_line().await?.is_some() {}
        return Ok(());
    }
    write.write_all(b"220 receiver.test ESMTP\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write
                .write_all(b"250-receiver.test\r\n250 8BITMIME\r\n")
                .await?;
        } else if upper.starts_with("MAIL FROM:") {
            let failing = state
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                write.write_all(b"451 4.3.0 try again later\r\n").await?;
            } else {
                from = line[10..].trim().to_owned();
                write.write_all(b"250 OK\r\n").await?;
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                data.push_str(&line);
                data.push('\n');
            }
            state.mails.lock().unwrap().push(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 command not implemented\r\n").await?;
        }
    }
    Ok(())
}
