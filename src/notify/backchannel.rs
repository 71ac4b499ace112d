//! The back-channel logout worker: takes due logouts from the queue
//! (`store/oidc_logout.rs`), signs each logout token ([`crate::oidc::Provider::logout_token`])
//! and POSTs it as `logout_token` (form-encoded, OpenID Connect Back-Channel Logout 1.0
//! §2.5) to the client's `backchannel_logout_uri`. A 2xx answer counts as delivered;
//! anything else is retried as notifications are (`domain::notification::next_attempt`).
//! Every node runs one; it polls every [`POLL_INTERVAL`].

use std::sync::Arc;

use async_trait::async_trait;
use tokio::task::JoinHandle;

use super::{POLL_INTERVAL, SEND_TIMEOUT};
use crate::clock::Clock;
use crate::domain::notification::{next_attempt, Attempt};
use crate::oidc::Provider;
use crate::store::{LogoutCourier, LogoutDelivery, Store};

/// Sends logout tokens.
pub struct Backchannel {
    provider: Provider,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

impl Backchannel {
    async fn send(&self, delivery: &LogoutDelivery) -> Result<(), String> {
        let token = self
            .provider
            .logout_token(delivery, self.clock.now())
            .await
            .map_err(|error| format!("cannot sign the logout token: {error}"))?;
        let response = self
            .http
            .post(&delivery.uri)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .form(&[("logout_token", token)])
            .send()
            .await
            .map_err(|error| format!("back-channel logout: {}", error.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("back-channel logout: the client answered {status}"))
        }
    }
}

#[async_trait]
impl LogoutCourier for Backchannel {
    async fn attempt(&self, delivery: &LogoutDelivery) -> Attempt {
        match self.send(delivery).await {
            Ok(()) => Attempt::Delivered,
            Err(error) => {
                let retry_at = next_attempt(delivery.attempts.saturating_add(1), self.clock.now());
                tracing::warn!(
                    delivery = delivery.id,
                    client_id = %delivery.client_id,
                    attempts = delivery.attempts + 1,
                    %error,
                    "back-channel logout attempt failed"
                );
                Attempt::Failed { error, retry_at }
            }
        }
    }
}

/// Starts this node's back-channel logout worker; abort the handle to stop it.
pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>, provider: Provider) -> JoinHandle<()> {
    let http = reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Deadbolt/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default();
    let courier = Backchannel {
        provider,
        clock: Arc::clone(&clock),
        http,
    };
    tokio::spawn(async move {
        loop {
            match store.deliver_next_logout(clock.now(), &courier).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "cannot work the back-channel logouts"),
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
}
