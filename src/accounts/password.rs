//! The account's password (SPEC §11): setting or changing it behind a proof, and replacing
//! a forgotten one through a link e-mailed to the account's address. Neither touches
//! two-factor: after a reset, the next sign-in still asks for the code.

use serde_json::json;

use super::{Accounts, Error};
use crate::domain::account::{check_new_password, Account};
use crate::domain::email::Email;
use crate::domain::email_token::Purpose;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::SessionId;
use crate::domain::password::Password;
use crate::domain::time::UnixTime;
use crate::signin::proof::Proof;
use crate::signin::Denial;
use crate::store::{LinkEffect, TokenOwner};

impl Accounts {
    /// `PUT /me/password`: sets the password (an account without one gets its first) or
    /// changes it, behind a proof; every session but `current` ends.
    pub async fn change_password(
        &self,
        account: &Account,
        current: &SessionId,
        new_password: Password,
        proof: Proof,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        check_new_password(&account.email, account.name.as_deref(), &new_password)?;
        let record = self.store.two_factor(&account.id).await?;
        self.signin
            .confirm(
                account,
                &record,
                proof,
                "Your password did not change.",
                client,
                now,
            )
            .await?;
        let hash = self.passwords.hash(new_password).await?;
        let details = json!({"first": !account.has_password()});
        let kind = EventKind::PasswordChanged;
        let events = [NewEvent::by_owner(&account.id, kind, client, now, details)];
        self.store
            .set_password(
                &account.id,
                &hash,
                Some(current),
                self.notifier.journal(&events),
            )
            .await?;
        self.notifier.wake_for(&events);
        Ok(())
    }

    /// `POST /password/forgot {email}`: e-mails a reset link when the address is an
    /// account's. Answers alike whether or not it is (the caller answers `202` either way).
    pub async fn forgot_password(
        &self,
        email: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        if !self.signin.sends_email() {
            return Err(crate::signin::Error::EmailUnavailable.into());
        }
        let email = Email::parse(email).map_err(|_| crate::signin::Error::InvalidEmail)?;
        self.signin
            .send_email_token(
                TokenOwner::ByAddress,
                Purpose::PasswordReset,
                &email,
                client,
                now,
            )
            .await?;
        Ok(())
    }

    /// `POST /password/reset {token, new_password}`: spends the link of a reset message and,
    /// in the same transaction, sets the password, verifies the address and ends every
    /// session of the account. Two-factor is untouched.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: Password,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Email, Error> {
        let invalid = || Error::from(crate::signin::Error::from(Denial::InvalidEmailLink));
        // The address the link was sent to, to judge the password against (as at sign-up);
        // the spend below still decides whether the link is used.
        let Some(account) = self
            .signin
            .email_link_holder(Purpose::PasswordReset, token, now)
            .await?
        else {
            return Err(invalid());
        };
        check_new_password(&account.email, account.name.as_deref(), &new_password)?;
        let password_hash = self.passwords.hash(new_password).await?;
        let effect = LinkEffect::ResetPassword { password_hash };
        let spent = self
            .signin
            .spend_email_link(Purpose::PasswordReset, token, &effect, client, now)
            .await?;
        spent.map(|spent| spent.email).ok_or_else(invalid)
    }
}
