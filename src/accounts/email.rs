//! The account's address (SPEC §11): verifying it, and the code e-mailed to it that proves
//! the mailbox in place of a password.

use super::{Accounts, Error};
use crate::domain::account::Account;
use crate::domain::email::Email;
use crate::domain::email_token::Purpose;
use crate::domain::event::ClientInfo;
use crate::domain::time::UnixTime;
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
