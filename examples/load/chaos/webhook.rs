//! The webhook receiver of a chaos run, on loopback: it answers every delivery 204 and
//! keeps the `Deadbolt-Delivery` id of each request it saw, and when, repeats included.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::Error;

/// Each delivery id received, and when.
type Seen = Arc<Mutex<Vec<(i64, Instant)>>>;

pub struct Receiver {
    pub url: String,
    seen: Seen,
}

impl Receiver {
    pub async fn start() -> Result<Receiver, Error> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { url, seen })
    }

    /// Every delivery id received so far, once per request, with when.
    pub fn seen(&self) -> Vec<(i64, Instant)> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

async fn receive(State(seen): State<Seen>, headers: HeaderMap) -> StatusCode {
    let id = headers
        .get("deadbolt-delivery")
        .and_then(|id| id.to_str().ok())
        .and_then(|id| id.parse().ok())
        .unwrap_or(-1);
    if let Ok(mut seen) = seen.lock() {
        seen.push((id, Instant::now()));
    }
    StatusCode::NO_CONTENT
}
