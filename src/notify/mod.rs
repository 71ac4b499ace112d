//! Sending notifications: the background workers that drain the outbox (see
//! [`crate::store::outbox`]) over SMTP and a signed webhook.
//!
//! Requests never send anything themselves: they record an event, which queues its
//! deliveries in the same transaction, and wake this node's workers. So a slow or dead
//! receiver never delays a request, and a crash loses nothing that was acknowledged.
//! Every node runs one worker per configured channel; the store makes sure a delivery is
//! attempted by one worker at a time.

pub mod backchannel;
mod email;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::NotifyConfig;
use crate::domain::email_token::{MessageSecrets, Purpose};
use crate::domain::event::NewEvent;
use crate::domain::notification::{email_message, Attempt, Channel, Channels, Delivery, Message};
use crate::http::metrics::{Metrics, NotificationOutcome};
use crate::keyring::Keyring;
use crate::store::outbox::Courier;
use crate::store::{notifies, Journal, Store, StoreError};

pub use email::Mailer;
pub use webhook::Webhook;

/// How long one attempt may take before it counts as failed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How often idle workers look for deliveries queued by other nodes or due for a retry.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A notification channel could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SetupError {
    /// The configuration key at fault.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

/// What handlers need: which channels exist, and how to wake this node's workers.
#[derive(Clone, Default)]
pub struct Notifier {
    channels: Channels,
    wakes: Arc<Vec<(Channel, Notify)>>,
}

impl Notifier {
    /// The configured channels, to pass to [`Store::record_event`].
    pub fn channels(&self) -> Channels {
        self.channels
    }

    /// Tells the workers that deliveries may be due.
    pub fn wake(&self) {
        for (_, wake) in self.wakes.iter() {
            wake.notify_one();
        }
    }

    /// `events` as a journal on these channels, for a store change that appends them in
    /// its own transaction.
    pub fn journal<'a>(&self, events: &'a [NewEvent]) -> Journal<'a> {
        Journal::new(events, self.channels)
    }

    /// Wakes the workers when any of `events` (now committed) queued a delivery.
    pub fn wake_for(&self, events: &[NewEvent]) {
        if events.iter().any(|event| notifies(event, self.channels)) {
            self.wake();
        }
    }

    /// Records a security event with the deliveries it calls for, and wakes the workers
    /// when there are any.
    pub async fn record(&self, store: &dyn Store, event: &NewEvent) -> Result<(), StoreError> {
        store.record_event(event, self.channels).await?;
        self.wake_for(std::slice::from_ref(event));
        Ok(())
    }
}

/// The running workers; dropping this stops them.
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops `handle` too when these stop (the back-channel logout worker, which needs the
    /// application's OpenID Connect provider: [`backchannel::start`]).
    pub fn also(&mut self, handle: JoinHandle<()>) {
        self.handles.push(handle);
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// Sends deliveries over whichever channels are configured.
pub struct Dispatch {
    mailer: Option<Mailer>,
    webhook: Option<Webhook>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    public_url: String,
    keys: Arc<Keyring>,
}

impl Dispatch {
    /// Sets up the configured channels: parses the SMTP URL and sender, and reads the
    /// webhook secret.
    pub fn new(
        config: &NotifyConfig,
        public_url: &str,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        keys: Arc<Keyring>,
    ) -> Result<Self, SetupError> {
        let mailer = match &config.smtp_url {
            Some(url) => Some(Mailer::new(url, &config.from)?),
            None => None,
        };
        let webhook = match (&config.webhook_url, &config.webhook_secret_file) {
            (Some(url), Some(secret_file)) => Some(Webhook::new(url, secret_file)?),
            _ => None,
        };
        Ok(Self {
            mailer,
            webhook,
            clock,
            metrics,
            public_url: public_url.to_owned(),
            keys,
        })
    }

    /// What the e-mail of `delivery` says: a notification of its event, or, for a one-time
    /// token's message, its link and code, opened here from their sealed form.
    fn email_text(&self, delivery: &Delivery) -> Result<Message, String> {
        let event = &delivery.event;
        let purpose = event.details.get("purpose").and_then(|p| p.as_str());
        let (Some(sealed), Some(purpose)) = (&delivery.message, purpose.and_then(Purpose::parse))
        else {
            return Ok(email_message(delivery, &self.public_url));
        };
        let to = delivery.recipient_email.as_deref().unwrap_or("");
        let opened = self
            .keys
            .open(sealed, &MessageSecrets::sealing_owner(purpose, to))
            .map_err(|error| format!("cannot open the message: {error}"))?;
        let secrets: MessageSecrets =
            serde_json::from_slice(&opened).map_err(|_| "cannot read the message".to_owned())?;
        let (subject, body) =
            secrets.message(purpose, &self.public_url, event.at, event.ip.as_deref());
        Ok(Message { subject, body })
    }

    /// The channels this dispatch can send on.
    pub fn channels(&self) -> Channels {
        Channels {
            email: self.mailer.is_some(),
            webhook: self.webhook.is_some(),
        }
    }
}

#[async_trait]
impl Courier for Dispatch {
    async fn attempt(&self, delivery: &Delivery) -> Attempt {
        let sent = match delivery.channel {
            Channel::Email => match (&self.mailer, self.email_text(delivery)) {
                (Some(mailer), Ok(text)) => mailer.send(delivery, text).await,
                (None, _) => Err("e-mail is not configured on this node".to_owned()),
                (_, Err(error)) => Err(error),
            },
            Channel::Webhook => match &self.webhook {
                Some(webhook) => webhook.send(delivery, self.clock.now()).await,
                None => Err("the webhook is not configured on this node".to_owned()),
            },
        };
        let attempt = match sent {
            Ok(()) => Attempt::Delivered,
            Err(error) => Attempt::failed(delivery, error, self.clock.now()),
        };
        let outcome = match &attempt {
            Attempt::Delivered => NotificationOutcome::delivered,
            Attempt::Failed {
                retry_at: Some(_), ..
            } => NotificationOutcome::failed,
            Attempt::Failed { retry_at: None, .. } => NotificationOutcome::abandoned,
        };
        self.metrics
            .notification_attempt(delivery.channel.as_str(), outcome);
        if let Attempt::Failed { error, retry_at } = &attempt {
            tracing::warn!(
                delivery = delivery.id,
                channel = delivery.channel.as_str(),
                attempts = delivery.attempts + 1,
                retry_at = retry_at.map(|at| at.to_rfc3339()),
                %error,
                "notification attempt failed"
            );
        }
        attempt
    }
}

/// Starts one worker per configured channel. The returned [`Notifier`] goes into the
/// application state; the [`Workers`] must live as long as the server.
pub fn start(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    dispatch: Dispatch,
) -> (Notifier, Workers) {
    let channels = dispatch.channels();
    let notifier = Notifier {
        channels,
        wakes: Arc::new(
            channels
                .enabled()
                .map(|channel| (channel, Notify::new()))
                .collect(),
        ),
    };
    let dispatch = Arc::new(dispatch);
    let handles = (0..notifier.wakes.len())
        .map(|index| {
            tokio::spawn(work(
                index,
                notifier.clone(),
                Arc::clone(&store),
                Arc::clone(&clock),
                Arc::clone(&dispatch),
            ))
        })
        .collect();
    (notifier, Workers { handles })
}

async fn work(
    index: usize,
    notifier: Notifier,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    dispatch: Arc<Dispatch>,
) {
    let (channel, wake) = &notifier.wakes[index];
    loop {
        match store
            .deliver_next(*channel, clock.now(), dispatch.as_ref())
            .await
        {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, channel = channel.as_str(), "cannot work the outbox");
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}
