//! E-mail as a first factor and as a proof (SPEC §11): sending a one-time token, and
//! spending one by its link or its code. Never a second factor: an account with two-factor
//! that signs in by e-mail still meets its challenge.
//!
//! Security:
//! - A token is 256 bits from the OS CSPRNG (a code, 8 symbols, is bound to its address),
//!   kept only as keyed hashes; its message waits in the outbox with the link and code
//!   sealed under the master key, erased once delivered (`store/email_tokens.rs`).
//! - A request that names an address (an e-mail sign-in, a forgotten password) does the same
//!   work whether or not the address has an account: both throttle counters are counted by
//!   the typed address, the token is made and sealed, and one transaction looks the account
//!   up and issues it ([`TokenOwner::ByAddress`]), writing nothing when there is none.
//! - A link or code is spent once, on any node, by one conditional delete; five wrong codes
//!   void the token.

use serde_json::json;

use super::attempts::{begin_attempt, Rule};
use super::{Denial, Error, SignIn, Step};
use crate::domain::account::Account;
use crate::domain::email::Email;
use crate::domain::email_token::{EmailCode, LinkToken, MessageSecrets, Purpose};
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::sign_in::{after_first_factor, FirstFactor, Next};
use crate::domain::throttle::{
    EMAIL_ADDRESS_WINDOW, EMAIL_CLIENT_WINDOW, EMAIL_CODE_CLIENT_WINDOW, EMAIL_CODE_WINDOW,
};
use crate::domain::time::UnixTime;
use crate::store::{LinkEffect, NewEmailToken, SpentEmailToken, TokenOwner};

impl SignIn {
    /// Whether this instance sends e-mail (`[notify] smtp_url`); without it every flow that
    /// sends one answers [`Error::EmailUnavailable`].
    pub fn sends_email(&self) -> bool {
        self.notifier.channels().email
    }

    /// Sends a one-time token of `purpose` to `to`, for `owner`: counted against `to` and
    /// the client address first, then issued and queued in one transaction. Whose it became
    /// (`None` when nobody's); callers answering a request that names an address must answer
    /// alike either way.
    pub async fn send_email_token(
        &self,
        owner: TokenOwner,
        purpose: Purpose,
        to: &Email,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Option<AccountId>, Error> {
        if !self.sends_email() {
            return Err(Error::EmailUnavailable);
        }
        let store = self.store();
        let by_client = format!("email-ip:{}", client.ip.as_deref().unwrap_or("unknown"));
        // Per purpose; a signed-in account's own messages count against the account, so that
        // nobody can use up its allowance by naming its address.
        let by_address = match &owner {
            TokenOwner::ByAddress => format!("email:{}:{}", purpose.as_str(), to.as_str()),
            TokenOwner::Account(account) => {
                format!("email:{}:account:{}", purpose.as_str(), account.as_str())
            }
        };
        for (key, window) in [
            (by_client, EMAIL_CLIENT_WINDOW),
            (by_address, EMAIL_ADDRESS_WINDOW),
        ] {
            begin_attempt(store, &key, Rule::Window(window), now).await?;
        }
        let link = LinkToken::generate();
        let code = purpose.has_code().then(EmailCode::generate);
        let secrets = MessageSecrets {
            link: link.as_str().to_owned(),
            code: code.as_ref().map(EmailCode::display),
        };
        let clear = serde_json::to_vec(&secrets)
            .map_err(|_| Error::Invariant("a message's secrets serialize"))?;
        let message = self
            .keys
            .seal(&clear, &MessageSecrets::sealing_owner(purpose, to.as_str()));
        let key = self.recovery_key.as_ref();
        let token = NewEmailToken {
            owner,
            purpose,
            email: to.clone(),
            link_hash: link.hash(key, purpose),
            code_hash: code.map(|code| code.hash(key, purpose, to)),
            created_at: now,
            expires_at: purpose.expires_at(now),
            message,
            client: client.clone(),
        };
        let issued = store.issue_email_token(&token).await?;
        if issued.is_some() {
            self.notifier.wake();
        }
        Ok(issued)
    }

    /// Spends the link token `presented` of `purpose` and does `effect` with it, in one
    /// transaction: whose it was, or `None` when it is not a live token of that purpose.
    pub async fn spend_email_link(
        &self,
        purpose: Purpose,
        presented: &str,
        effect: &LinkEffect,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, Error> {
        let Some(hash) = self.link_hash(purpose, presented) else {
            return Ok(None);
        };
        let channels = self.notifier.channels();
        let spent = self
            .store()
            .spend_email_link(purpose, &hash, effect, client, channels, now)
            .await?;
        if spent.is_some() {
            self.notifier.wake();
        }
        Ok(spent)
    }

    /// The account a live link token of `purpose` was sent to, without spending it (what a
    /// link's page shows, and what a new password is judged against).
    pub async fn email_link_holder(
        &self,
        purpose: Purpose,
        presented: &str,
        now: UnixTime,
    ) -> Result<Option<Account>, Error> {
        let Some(holder) = self.email_link_found(purpose, presented, now).await? else {
            return Ok(None);
        };
        let account = self.store().account_by_id(&holder.account).await?;
        Ok(account.filter(|account| account.email == holder.email))
    }

    /// The address a live link token of `purpose` was sent to, without spending it.
    pub async fn email_link_address(
        &self,
        purpose: Purpose,
        presented: &str,
        now: UnixTime,
    ) -> Result<Option<Email>, Error> {
        let found = self.email_link_found(purpose, presented, now).await?;
        Ok(found.map(|holder| holder.email))
    }

    /// Whose the live link token `presented` of `purpose` is, and where it was sent.
    async fn email_link_found(
        &self,
        purpose: Purpose,
        presented: &str,
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, Error> {
        let Some(hash) = self.link_hash(purpose, presented) else {
            return Ok(None);
        };
        Ok(self.store().email_link_holder(purpose, &hash, now).await?)
    }

    /// The keyed hash of a presented link token of `purpose`; `None` unless it has a
    /// token's shape.
    fn link_hash(&self, purpose: Purpose, presented: &str) -> Option<Vec<u8>> {
        LinkToken::parse(presented).map(|link| link.hash(&self.recovery_key, purpose))
    }

    /// Spends the live token of `purpose` sent to `to` by its typed code: whose it was.
    /// Every code typed first counts against the client address (50 in 15 minutes, then
    /// `429`), and against the address and purpose, whether or not the address has an
    /// account or a message: after five wrong ones nothing is judged until a new message
    /// (the message's code is void). So a wrong code costs the same for any address.
    pub async fn spend_email_code(
        &self,
        purpose: Purpose,
        to: &Email,
        typed: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, Error> {
        let store = self.store();
        let by_client = format!(
            "email-code-ip:{}",
            client.ip.as_deref().unwrap_or("unknown")
        );
        let rule = Rule::Window(EMAIL_CODE_CLIENT_WINDOW);
        begin_attempt(store, &by_client, rule, now).await?;
        let key = purpose.code_counter(to);
        let rule = Rule::Window(EMAIL_CODE_WINDOW);
        match begin_attempt(store, &key, rule, now).await {
            Ok(_) => {}
            Err(Error::Denied(Denial::TooManyAttempts { .. })) => return Ok(None),
            Err(other) => return Err(other),
        }
        // A malformed code runs the same statement, matching nothing.
        let hash = EmailCode::parse(typed)
            .map(|code| code.hash(&self.recovery_key, purpose, to))
            .unwrap_or_default();
        let spent = store.spend_email_code(purpose, to, &hash, now).await?;
        if spent.is_some() {
            store.refund_failure(&key).await?;
            store.refund_failure(&by_client).await?;
        }
        Ok(spent)
    }

    /// `POST /sessions/email`: e-mails a sign-in link and code when `email` is an account
    /// without a password; the same work and answer for any other address.
    pub async fn request_email_sign_in(
        &self,
        email: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        if !self.sends_email() {
            return Err(Error::EmailUnavailable);
        }
        let email = Email::parse(email).map_err(|_| Error::InvalidEmail)?;
        let owner = TokenOwner::ByAddress;
        self.send_email_token(owner, Purpose::SignIn, &email, client, now)
            .await?;
        Ok(())
    }

    /// Signs in by the link of an e-mail sign-in message: a session, or the challenge when
    /// the account has two-factor.
    pub async fn with_email_link(
        &self,
        presented: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Step, Error> {
        let spent = self
            .spend_email_link(Purpose::SignIn, presented, &LinkEffect::SignIn, client, now)
            .await?
            .ok_or(Denial::InvalidEmailLink)?;
        let account = self
            .store()
            .account_by_id(&spent.account)
            .await?
            // An account that has set a password since signs in with it.
            .filter(|account| !account.has_password())
            .ok_or(Denial::InvalidEmailLink)?;
        self.after_email(&account, client, now).await
    }

    /// Signs in by the code of an e-mail sign-in message, typed with the address it was
    /// sent to: as [`SignIn::with_email_link`].
    pub async fn with_email_code(
        &self,
        email: &str,
        code: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Step, Error> {
        let email = Email::parse(email).map_err(|_| Denial::InvalidEmailCode)?;
        let spent = self
            .spend_email_code(Purpose::SignIn, &email, code, client, now)
            .await?
            .ok_or(Denial::InvalidEmailCode)?;
        let account = self
            .store()
            .account_by_id(&spent.account)
            .await?
            // An account that has set a password since signs in with it.
            .filter(|account| !account.has_password())
            .ok_or(Denial::InvalidEmailCode)?;
        self.after_email(&account, client, now).await
    }

    /// What follows a mailbox proven as the first factor: as after a password, a session
    /// or the two-factor challenge (proving the mailbox has verified it too); a suspended
    /// account goes no further, as after its right password.
    async fn after_email(
        &self,
        account: &Account,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Step, Error> {
        if account.is_suspended() {
            return Err(Denial::AccountSuspended.into());
        }
        let record = self.store().two_factor(&account.id).await?;
        match after_first_factor(&record) {
            Next::SecondFactor(methods) => {
                let (challenge, token_hash) =
                    self.new_challenge(&account.id, &record, methods, now);
                self.store()
                    .create_challenge(
                        &token_hash,
                        &account.id,
                        FirstFactor::Email,
                        challenge.expires_at,
                    )
                    .await?;
                Ok(Step::Continue(challenge))
            }
            Next::SignIn => {
                let start = self.new_session(&account.id, FirstFactor::Email.amr(), client, now);
                let details = json!({"method": "email"});
                let kind = EventKind::SignInSucceeded;
                let events = [NewEvent::by_owner(&account.id, kind, client, now, details)];
                // The session and its event commit together.
                let journal = self.notifier.journal(&events);
                self.store().create_session(&start.new, journal).await?;
                self.notifier.wake_for(&events);
                Ok(Step::Success(start.signed_in()))
            }
        }
    }
}
