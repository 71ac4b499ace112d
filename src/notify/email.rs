//! E-mail over SMTP (lettre): `smtp://host:port` (plain, or STARTTLS with
//! `?tls=required`) and `smtps://host:port` (TLS), optionally with `user:password@`.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{SetupError, SEND_TIMEOUT};
use crate::domain::notification::{Delivery, Message};

/// Sends notification e-mails.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `url`, sending as `from`.
    pub fn new(url: &str, from: &str) -> Result<Self, SetupError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| SetupError {
                key: "notify.smtp_url",
                message: error.to_string(),
            })?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from = from.parse().map_err(|_| SetupError {
            key: "notify.from",
            message: "expected an address, e.g. \"Deadbolt <security@example.com>\"".to_owned(),
        })?;
        Ok(Self { transport, from })
    }

    /// Sends `text` as the e-mail of `delivery`.
    pub async fn send(&self, delivery: &Delivery, text: Message) -> Result<(), String> {
        let to: Mailbox = delivery
            .recipient_email
            .as_deref()
            .ok_or("the recipient has no address")?
            .parse()
            .map_err(|_| "the recipient's address is not valid".to_owned())?;
        let domain = self.from.email.domain().to_owned();
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(text.subject)
            // One id per delivery, so a retried e-mail is recognisably the same message.
            .message_id(Some(format!("<deadbolt.{}@{domain}>", delivery.id)))
            .header(ContentType::TEXT_PLAIN)
            .body(text.body)
            .map_err(|error| format!("cannot build the message: {error}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|error| format!("SMTP: {error}"))
    }
}
