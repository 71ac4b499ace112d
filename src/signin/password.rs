//! The first factor: an e-mail address and a password.
//!
//! Security: an unknown e-mail and a wrong password give the same answer at the same cost
//! (the password is verified against a dummy hash), and are throttled under the same key
//! (the typed address), so throttling reveals nothing either. Both counters (per typed
//! address and per client address) are counted before argon2 runs.

use serde_json::json;

use super::attempts::{begin_attempt_from, Rule};
use super::ticket::Ticket;
use super::{Challenge, Denial, Error, SignIn, Step};
use crate::domain::account::Account;
use crate::domain::email::Email;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::{AccountId, Token, TokenHash};
use crate::domain::password::Password;
use crate::domain::sign_in::{
    after_first_factor, FirstFactor, Method, Next, CHALLENGE_TTL_SECONDS,
};
use crate::domain::throttle::{ADDRESS_WINDOW, PASSWORD_BACKOFF};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::store::{AfterPassword, PasswordSettlement};

/// Throttling key for password guesses against one typed address.
fn account_key(email: &str) -> String {
    format!("password:{}", email.trim().to_lowercase())
}

/// Throttling key for password failures from one client address.
fn address_key(client: &ClientInfo) -> String {
    format!("password-ip:{}", client.ip.as_deref().unwrap_or("unknown"))
}

/// A right password whose failure counters are not settled yet: they are settled with the
/// store change the password leads to, in one transaction.
#[derive(Debug)]
pub struct PasswordChecked {
    /// The account.
    pub account: Account,
    clear: String,
    refund: String,
}

impl PasswordChecked {
    fn settle<'a>(&'a self, then: AfterPassword<'a>) -> PasswordSettlement<'a> {
        PasswordSettlement {
            clear: &self.clear,
            refund: &self.refund,
            then,
        }
    }
}

impl SignIn {
    /// The first step: an e-mail address and a password. Answers a session, or the
    /// challenge when a second factor is due.
    pub async fn with_password(
        &self,
        email: &str,
        password: Password,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Step, Error> {
        let checked = match self.verify_password(email, password, client, now).await {
            Ok(checked) => checked,
            Err(Error::Denied(denial)) => {
                self.record_failed_sign_in(email, denial, client, now);
                return Err(denial.into());
            }
            Err(other) => return Err(other),
        };
        let account = &checked.account;
        if account.is_suspended() {
            // Security: only after the password was found right (a wrong one answers
            // `InvalidCredentials` as for any account). A right password is no guess, so its
            // provisional failures are settled as for a success; no session, no challenge.
            self.store().clear_failures(&checked.clear).await?;
            self.store().refund_failure(&checked.refund).await?;
            self.record_failed_sign_in(email, Denial::AccountSuspended, client, now);
            return Err(Denial::AccountSuspended.into());
        }
        let record = self.store().two_factor(&account.id).await?;
        match after_first_factor(&record) {
            Next::SecondFactor(methods) => {
                let (challenge, token_hash) =
                    self.new_challenge(&account.id, &record, methods, now);
                let then = AfterPassword::Challenge {
                    token: &token_hash,
                    account: &account.id,
                    expires_at: challenge.expires_at,
                };
                let journal = self.notifier.journal(&[]);
                self.store()
                    .settle_password(&checked.settle(then), journal)
                    .await?;
                Ok(Step::Continue(challenge))
            }
            Next::SignIn => {
                // The session and its event commit with the settled counters.
                let start = self.new_session(&account.id, FirstFactor::Password.amr(), client, now);
                let details = json!({"method": "password"});
                let kind = EventKind::SignInSucceeded;
                let events = [NewEvent::by_owner(&account.id, kind, client, now, details)];
                let settle = checked.settle(AfterPassword::Session(&start.new));
                self.store()
                    .settle_password(&settle, self.notifier.journal(&events))
                    .await?;
                self.notifier.wake_for(&events);
                Ok(Step::Success(start.signed_in()))
            }
        }
    }

    /// A challenge for `account` after its first factor, not stored yet, and the digest to
    /// store it under. Its token carries the authenticator, so that any node can judge a
    /// code without reading the challenge first (`ticket.rs`).
    pub(super) fn new_challenge(
        &self,
        account: &AccountId,
        record: &TwoFactorRecord,
        methods: Vec<Method>,
        now: UnixTime,
    ) -> (Challenge, TokenHash) {
        let expires_at = now.plus_seconds(CHALLENGE_TTL_SECONDS);
        let token = match &record.secret {
            Some(secret) => Ticket {
                account: account.clone(),
                expires_at,
                secret: secret.clone(),
                last_step: record.last_step,
            }
            .issue(&self.keys),
            None => Token::generate(),
        };
        let token_hash = token.hash();
        let challenge = Challenge {
            token,
            expires_at,
            methods,
        };
        (challenge, token_hash)
    }

    /// Checks an e-mail and password under the throttling rules, settling the failure
    /// counters at once: for a proof, where a right password leads to no store change.
    pub async fn check_password(
        &self,
        email: &str,
        password: Password,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Account, Error> {
        let checked = self.verify_password(email, password, client, now).await?;
        self.store().clear_failures(&checked.clear).await?;
        self.store().refund_failure(&checked.refund).await?;
        Ok(checked.account)
    }

    /// Counts the attempt against the typed address and the client address, then verifies
    /// the password (against a dummy hash for an unknown address).
    async fn verify_password(
        &self,
        email: &str,
        password: Password,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<PasswordChecked, Error> {
        let store = self.store();
        let by_address = address_key(client);
        let by_account = account_key(email);
        // Both counters and the account in one read; then each counter is swapped from what
        // was read.
        let parsed = Email::parse(email).ok();
        let read = store
            .password_attempt(&by_address, &by_account, parsed.as_ref())
            .await?;
        let address_rule = Rule::Window(ADDRESS_WINDOW);
        begin_attempt_from(store, &by_address, address_rule, now, read.address).await?;
        let account_rule = Rule::Backoff(PASSWORD_BACKOFF);
        let counted =
            begin_attempt_from(store, &by_account, account_rule, now, read.account_counter);
        let counter = match counted.await {
            Ok(counter) => counter,
            Err(error) => {
                store.refund_failure(&by_address).await?;
                return Err(error);
            }
        };
        let account = read.account;
        let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
        if !self.passwords.verify(password, stored_hash).await {
            if let (Some(account), true) = (&account, PASSWORD_BACKOFF.locks(&counter)) {
                let details = json!({
                    "factor": "password",
                    "failures": counter.failures,
                    "until": counter.locked_until.to_rfc3339(),
                });
                let kind = EventKind::LockedOut;
                let event = NewEvent::by_owner(&account.id, kind, client, now, details);
                self.record_later(event, "a password lock-out");
            }
            return Err(Denial::InvalidCredentials.into());
        }
        Ok(PasswordChecked {
            account: account.ok_or(Denial::InvalidCredentials)?,
            clear: by_account,
            refund: by_address,
        })
    }

    /// A refused first factor goes to the account's log when the address is an account's.
    /// Security: off the request path, so a wrong password for a real account costs the
    /// same time as an unknown address.
    fn record_failed_sign_in(
        &self,
        email: &str,
        denial: Denial,
        client: &ClientInfo,
        now: UnixTime,
    ) {
        let reason = match denial {
            Denial::TooManyAttempts { .. } => "throttled",
            Denial::AccountSuspended => "account_suspended",
            _ => "invalid_credentials",
        };
        let Ok(email) = Email::parse(email) else {
            return;
        };
        let (flow, client) = (self.clone(), client.clone());
        tokio::spawn(async move {
            let recorded = async {
                let Some(account) = flow.store().account_by_email(&email).await? else {
                    return Ok(());
                };
                let details = json!({"reason": reason});
                flow.record(&account.id, EventKind::SignInFailed, &client, now, details)
                    .await
            };
            if let Err(error) = recorded.await {
                tracing::warn!(?error, "could not record a failed sign-in");
            }
        });
    }
}
