//! Lost everything, confirmed (SPEC §11): filing a reset request also e-mails a link to the
//! account's address, and that link's POST stamps the open request `email_confirmed_at` (the
//! seed's "contact support from the email address on the account").
//!
//! Security:
//! - The link is a one-time e-mail token of [`Purpose::ResetConfirm`] (24 h), spent with the
//!   stamp in one transaction, once on any node; the reset that closes the request deletes
//!   a link left over, so it never confirms a later request.
//! - Filing never fails for want of a message: without SMTP none is sent, and a send the
//!   throttle refuses (5 per address per hour) leaves the request filed, unconfirmed.

use super::{Denial, Error, SignIn};
use crate::domain::email_token::Purpose;
use crate::domain::event::ClientInfo;
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::store::{LinkEffect, SpentEmailToken, TokenOwner};

impl SignIn {
    /// E-mails the link confirming `account`'s open reset request to its address, when
    /// this instance sends e-mail. A throttled send is skipped, not an error.
    pub(super) async fn send_reset_confirmation(
        &self,
        account: &AccountId,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        if !self.sends_email() {
            return Ok(());
        }
        let Some(account) = self.store().account_by_id(account).await? else {
            return Ok(());
        };
        let owner = TokenOwner::Account(account.id.clone());
        let sent = self
            .send_email_token(owner, Purpose::ResetConfirm, &account.email, client, now)
            .await;
        match sent {
            Ok(_) | Err(Error::Denied(Denial::TooManyAttempts { .. })) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// `POST /reset-requests/confirm {token}`: spends the link and stamps the account's open
    /// request confirmed from its mailbox (recorded, notifying the admins). Whose request
    /// and the address it was confirmed from; [`Denial::InvalidEmailLink`] for a link that
    /// is not live, or when the request is no longer open or the address moved.
    pub async fn confirm_reset_request(
        &self,
        token: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<SpentEmailToken, Error> {
        let effect = LinkEffect::ConfirmResetRequest;
        let spent = self
            .spend_email_link(Purpose::ResetConfirm, token, &effect, client, now)
            .await?;
        Ok(spent.ok_or(Denial::InvalidEmailLink)?)
    }
}
