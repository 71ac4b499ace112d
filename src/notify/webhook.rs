//! The signed webhook: one JSON POST per delivery, with
//! `Deadbolt-Signature: t=UNIX,v1=HEX` (see [`crate::domain::notification::signature`]).
//! Any 2xx answer counts as delivered.

use std::path::Path;

use crate::domain::notification::{signature, webhook_body, Delivery};
use crate::domain::time::UnixTime;

use super::{SetupError, SEND_TIMEOUT};

/// Posts deliveries to one URL.
pub struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
}

impl Webhook {
    /// A webhook to `url`, signing with the secret kept in `secret_file`.
    pub fn new(url: &str, secret_file: &Path) -> Result<Self, SetupError> {
        let url = reqwest::Url::parse(url).map_err(|error| SetupError {
            key: "notify.webhook_url",
            message: error.to_string(),
        })?;
        let secret = std::fs::read_to_string(secret_file).map_err(|error| SetupError {
            key: "notify.webhook_secret_file",
            message: format!("cannot read {}: {error}", secret_file.display()),
        })?;
        let secret = secret.trim().as_bytes().to_vec();
        if secret.len() < 16 {
            return Err(SetupError {
                key: "notify.webhook_secret_file",
                message: format!(
                    "{} must hold a secret of at least 16 characters, e.g. from `openssl rand -hex 32`",
                    secret_file.display()
                ),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Deadbolt/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| SetupError {
                key: "notify.webhook_url",
                message: error.to_string(),
            })?;
        Ok(Self {
            client,
            url,
            secret,
        })
    }

    /// Posts `delivery`, signed at `now`.
    pub async fn send(&self, delivery: &Delivery, now: UnixTime) -> Result<(), String> {
        let body = webhook_body(delivery).to_string().into_bytes();
        let signed = signature(&self.secret, now, &body);
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Deadbolt-Signature", signed)
            .header("Deadbolt-Delivery", delivery.id.to_string())
            .header("Deadbolt-Event", delivery.event.kind.as_str())
            .body(body)
            .send()
            .await
            // The URL may carry a token of the receiver's; keep it out of errors.
            .map_err(|error| format!("webhook: {}", error.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("webhook: the receiver answered {status}"))
        }
    }
}
