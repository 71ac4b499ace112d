//! The account's address (SPEC §11): verifying it, and the code e-mailed to it that proves
//! the mailbox in place of a password.

use super::{Accounts, Error};
use crate::domain::account::Account;
use crate::domain::email::Email;
use crate::domain::email_token::Purpose;
use crate::domain::event::ClientInfo;
use crate::domain::time::UnixTime;
use crate::signin::proof::Proof;
use crate::signin::Denial;
use crate::store::{LinkEffect, TokenOwner};

impl Accounts {
    /// Sends a new verification link to the caller's address (`POST /me/email/verification`).
    pub async fn send_verification(
        &self,
        account: &Account,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.send_to_own_address(account, Purpose::Verify, client, now)
            .await
    }

    /// Sends a code to the caller's address that proves the mailbox (`email_code`), for an
    /// account without a password (`POST /me/email/proof`).
    pub async fn send_email_proof(
        &self,
        account: &Account,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.send_to_own_address(account, Purpose::Proof, client, now)
            .await
    }

    async fn send_to_own_address(
        &self,
        account: &Account,
        purpose: Purpose,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let owner = TokenOwner::Account(account.id.clone());
        self.signin
            .send_email_token(owner, purpose, &account.email, client, now)
            .await?;
        Ok(())
    }

    /// `PUT /me/email`: after a proof, e-mails a link to `new_email`; the account moves
    /// there only when that link's POST runs (`POST /email/verify`). The address to which
    /// the link went.
    pub async fn change_email(
        &self,
        account: &Account,
        new_email: &str,
        proof: Proof,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Email, Error> {
        if !self.signin.sends_email() {
            return Err(crate::signin::Error::EmailUnavailable.into());
        }
        let email = Email::parse(new_email).map_err(|_| crate::signin::Error::InvalidEmail)?;
        if email == account.email {
            return Err(Error::SameEmail);
        }
        let record = self.store.two_factor(&account.id).await?;
        let unchanged = "Your address did not change.";
        self.signin
            .confirm(account, &record, proof, unchanged, client, now)
            .await?;
        if self.store.account_by_email(&email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        let owner = TokenOwner::Account(account.id.clone());
        self.signin
            .send_email_token(owner, Purpose::ChangeAddress, &email, client, now)
            .await?;
        Ok(email)
    }

    /// `POST /email/verify {token}`: the link of a verification message (or of a new
    /// address, which it makes the account's) proves the address. The address proven.
    pub async fn verify_email(
        &self,
        token: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Email, Error> {
        for purpose in [Purpose::Verify, Purpose::ChangeAddress] {
            let spent = self
                .signin
                .spend_email_link(purpose, token, &LinkEffect::Verify, client, now)
                .await;
            match spent {
                Ok(Some(spent)) => return Ok(spent.email),
                Ok(None) => {}
                Err(crate::signin::Error::Store(crate::store::StoreError::Conflict(_))) => {
                    return Err(Error::EmailTaken)
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(crate::signin::Error::from(Denial::InvalidEmailLink).into())
    }
}
