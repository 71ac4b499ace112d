//! A person's security keys and passkeys (SPEC §13): registering (the ceremony is the
//! sign-in flow's, `signin/webauthn.rs`), listing, renaming and removing them. The first
//! second factor of an account issues its recovery codes; removing a credential takes a
//! proof. Adding and removing are recorded and notify the owner.

use serde_json::json;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::{Accounts, Error};
use crate::domain::account::Account;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::domain::webauthn::credential_name;
use crate::domain::workspace::SecondFactors;
use crate::signin::proof::Proof;
use crate::signin::webauthn::Options;
use crate::store::webauthn::{Added, StoredCredential};

/// A registered credential as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was registered.
    pub created_at: UnixTime,
    /// When it was last used.
    pub last_used_at: Option<UnixTime>,
}

impl From<&StoredCredential> for CredentialView {
    fn from(stored: &StoredCredential) -> Self {
        CredentialView {
            id: stored.id.clone(),
            name: stored.name.clone(),
            created_at: stored.created_at,
            last_used_at: stored.last_used_at,
        }
    }
}

/// A credential just registered.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The credential.
    pub credential: CredentialView,
    /// The recovery codes, shown this once, when it is the account's first second factor.
    pub recovery_codes: Option<Vec<String>>,
}

impl Accounts {
    /// The second factors the account has.
    pub async fn second_factors(&self, account: &AccountId) -> Result<SecondFactors, Error> {
        let record = self.store.two_factor(account).await?;
        Ok(SecondFactors {
            totp: record.has_totp(),
            webauthn: record.webauthn_keys > 0,
        })
    }

    /// The account's security keys and passkeys, oldest first.
    pub async fn webauthn_credentials(
        &self,
        account: &AccountId,
    ) -> Result<Vec<CredentialView>, Error> {
        let stored = self.store.credentials(account).await?;
        Ok(stored.iter().map(CredentialView::from).collect())
    }

    /// Starts registering a security key or passkey: the options for the browser.
    pub async fn start_webauthn_registration(
        &self,
        account: &Account,
        now: UnixTime,
    ) -> Result<Options, Error> {
        Ok(self.signin.start_registration(account, now).await?)
    }

    /// Finishes registering `answer` under `name`. The account's first second factor
    /// comes with a fresh set of recovery codes, shown once.
    pub async fn finish_webauthn_registration(
        &self,
        account: &Account,
        name: &str,
        answer: &RegisterPublicKeyCredential,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Registration, Error> {
        let name = credential_name(name).ok_or(Error::InvalidCredentialName)?;
        let registered = self
            .signin
            .finish_registration(&account.id, &name, answer, now)
            .await?;
        let credential = registered.credential;
        let (codes, hashes) = self.new_recovery_codes();
        let events = [NewEvent::by_owner(
            &account.id,
            EventKind::WebAuthnAdded,
            client,
            now,
            json!({"credential": credential.id, "name": name}),
        )];
        let added = self
            .store
            .add_credential(&credential, &hashes, self.notifier.journal(&events))
            .await?;
        self.notifier.wake_for(&events);
        Ok(Registration {
            credential: CredentialView::from(&credential),
            recovery_codes: (added == Added::First).then_some(codes),
        })
    }

    /// Renames the account's credential `id`.
    pub async fn rename_webauthn_credential(
        &self,
        account: &AccountId,
        id: &str,
        name: &str,
    ) -> Result<(), Error> {
        let name = credential_name(name).ok_or(Error::InvalidCredentialName)?;
        if !self.store.rename_credential(account, id, &name).await? {
            return Err(Error::NoSuchCredential);
        }
        Ok(())
    }

    /// Removes the account's credential `id`, after a proof.
    pub async fn remove_webauthn_credential(
        &self,
        account: &Account,
        id: &str,
        proof: Proof,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let credentials = self.store.credentials(&account.id).await?;
        let credential = credentials
            .iter()
            .find(|stored| stored.id == id)
            .ok_or(Error::NoSuchCredential)?;
        let record = self.store.two_factor(&account.id).await?;
        let unchanged = "The security key stays registered.";
        self.signin
            .confirm(account, &record, proof, unchanged, client, now)
            .await?;
        let events = [NewEvent::by_owner(
            &account.id,
            EventKind::WebAuthnRemoved,
            client,
            now,
            json!({"credential": credential.id, "name": credential.name}),
        )];
        let journal = self.notifier.journal(&events);
        if !self
            .store
            .remove_credential(&account.id, id, journal)
            .await?
        {
            return Err(Error::NoSuchCredential);
        }
        self.notifier.wake_for(&events);
        Ok(())
    }
}
