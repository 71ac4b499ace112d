//! What a person does with their own account, shared by the JSON API and the pages: signing
//! up, what the instance and their workspaces require of them, their address
//! ([`email`]: verification and the e-mailed proof), their password ([`password`]: setting,
//! changing, and a forgotten one), their sessions ([`sessions`]), their API tokens ([`tokens`]), their authenticator
//! ([`two_factor`]) and deleting the account ([`lifecycle`]). No HTTP and no SQL here: each
//! operation loads through the store, decides with [`crate::domain`] and persists, and the
//! adapters only translate request and response shapes.

pub mod email;
pub mod lifecycle;
pub mod password;
pub mod sessions;
pub mod tokens;
pub mod two_factor;
pub mod webauthn;

use std::sync::Arc;

use crate::config::{Config, SignupMode};
use crate::domain::account::{
    validate_new_account, validate_passwordless_account, Caller, NewAccountError,
};
use crate::domain::email::Email;
use crate::domain::email_token::Purpose;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::password::{HashError, Password};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{access, Access, RequiredFactor};
use crate::keyring::Keyring;
use crate::notify::Notifier;
use crate::password_pool::PasswordPool;
use crate::signin::{self, SignIn};
use crate::store::{Constraint, NewAccount, Store, StoreError, TokenOwner};

/// Why an account operation refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Sign-up is closed on this instance.
    #[error("sign-up is closed")]
    SignupClosed,
    /// An account with this e-mail exists.
    #[error("e-mail taken")]
    EmailTaken,
    /// A new address that is the account's address already.
    #[error("same e-mail")]
    SameEmail,
    /// The new account's details are refused.
    #[error(transparent)]
    InvalidAccount(#[from] NewAccountError),
    /// No such session of the caller's.
    #[error("no such session")]
    NoSuchSession,
    /// No such API token of the caller's.
    #[error("no such token")]
    NoSuchToken,
    /// An API token's name or lifetime is refused.
    #[error(transparent)]
    InvalidTokenRequest(#[from] crate::domain::api_token::TokenRequestError),
    /// No live pending enrolment.
    #[error("no pending enrolment")]
    NoPendingEnrollment,
    /// A wrong or malformed code when confirming an enrolment.
    #[error("wrong enrolment code")]
    WrongEnrollmentCode,
    /// Two-factor is not enabled.
    #[error("two-factor is not enabled")]
    NotEnabled,
    /// A security key's name that is empty, too long or holds control characters.
    #[error("invalid credential name")]
    InvalidCredentialName,
    /// No such security key of the caller's.
    #[error("no such credential")]
    NoSuchCredential,
    /// Deleting the account would leave a workspace with members but no owner.
    #[error("last owner")]
    LastOwner,
    /// The sign-in flow refused a proof or a code, or failed.
    #[error(transparent)]
    SignIn(#[from] signin::Error),
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The account operations over these parts; cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    passwords: PasswordPool,
    keys: Arc<Keyring>,
    recovery_key: Arc<[u8; 32]>,
    signin: SignIn,
    notifier: Notifier,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct SignedUp {
    /// Its id.
    pub id: AccountId,
    /// Its normalized e-mail.
    pub email: Email,
}

/// What is required of an account: the instance policy and every workspace's enforcement
/// together, the strictest applying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obligation {
    /// Whether any policy covers the account.
    pub required: bool,
    /// The strictest second factor those that cover it ask for.
    pub factor: RequiredFactor,
    /// The strictest access.
    pub access: Access,
}

impl Accounts {
    /// The operations over these parts.
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        passwords: PasswordPool,
        keys: Arc<Keyring>,
        recovery_key: Arc<[u8; 32]>,
        signin: SignIn,
        notifier: Notifier,
    ) -> Accounts {
        Accounts {
            config,
            store,
            passwords,
            keys,
            recovery_key,
            signin,
            notifier,
        }
    }

    /// Creates an account, when sign-up is open: with a password, or without one (it signs
    /// in by e-mail, so this instance must send e-mail). When the instance sends e-mail, a
    /// verification link goes to the address (to one without a password, its first sign-in
    /// link and code, which verify it as well).
    pub async fn sign_up(
        &self,
        email: &str,
        name: Option<&str>,
        password: Option<Password>,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<SignedUp, Error> {
        if self.config.signup == SignupMode::Closed {
            return Err(Error::SignupClosed);
        }
        let valid = match &password {
            Some(password) => validate_new_account(email, name, password)?,
            None if !self.signin.sends_email() => {
                return Err(signin::Error::EmailUnavailable.into())
            }
            None => validate_passwordless_account(email, name)?,
        };
        if self.store.account_by_email(&valid.email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        let password_hash = match password {
            Some(password) => Some(self.passwords.hash(password).await?),
            None => None,
        };
        let account = NewAccount {
            id: AccountId::generate(),
            email: valid.email,
            name: valid.name,
            password_hash,
            is_admin: false,
            created_at: now,
        };
        match self.store.create_account(&account).await {
            Ok(()) => {}
            Err(StoreError::Conflict(Constraint::AccountEmail)) => return Err(Error::EmailTaken),
            Err(other) => return Err(other.into()),
        }
        if self.signin.sends_email() {
            // An account without a password is sent its first sign-in message instead,
            // which verifies the address when used.
            let purpose = match account.password_hash {
                Some(_) => Purpose::Verify,
                None => Purpose::SignIn,
            };
            let owner = TokenOwner::Account(account.id.clone());
            let sent = self
                .signin
                .send_email_token(owner, purpose, &account.email, client, now)
                .await;
            // The account exists either way; the person can ask for another link.
            if let Err(error) = sent {
                tracing::warn!(
                    ?error,
                    "could not send the verification link of a new account"
                );
            }
        }
        Ok(SignedUp {
            id: account.id,
            email: account.email,
        })
    }

    /// What the instance policy (already applied as `instance_access`) and the caller's
    /// workspaces require of the caller.
    pub async fn obligation(
        &self,
        caller: Caller<'_>,
        instance_access: Access,
    ) -> Result<Obligation, Error> {
        let account = caller.account;
        let policy = self.store.instance_policy().await?;
        let mut requirements = vec![policy.and_then(|p| p.requirement_for(account.is_admin))];
        let mut combined = instance_access;
        for (workspace, role) in self.store.account_workspaces(&account.id).await? {
            let requirement = workspace.requirement_for(role);
            requirements.push(requirement);
            combined = combined.stricter(access(requirement, caller.factors, caller.now));
        }
        let covering = requirements.into_iter().flatten();
        let factor =
            covering
                .clone()
                .map(|r| r.factor)
                .fold(RequiredFactor::Any, |strictest, factor| {
                    if factor.stricter_than(strictest) {
                        factor
                    } else {
                        strictest
                    }
                });
        Ok(Obligation {
            required: covering.count() > 0,
            factor,
            access: combined,
        })
    }

    /// Records a security event about `account`, done by its owner from `client`.
    async fn record(
        &self,
        account: &AccountId,
        kind: EventKind,
        client: &ClientInfo,
        now: UnixTime,
        details: serde_json::Value,
    ) -> Result<(), Error> {
        let event = NewEvent::by_owner(account, kind, client, now, details);
        self.notifier.record(self.store.as_ref(), &event).await?;
        Ok(())
    }
}
