//! One-time e-mail tokens (SPEC §11): the [`EmailTokens`] aggregate and what it takes and
//! answers. Each backend implements it in its `email_tokens.rs`; the tokens themselves (their
//! purposes, lifetimes and keyed hashes) are `domain::email_token`.

use async_trait::async_trait;

use serde_json::json;

use super::StoreError;
use crate::domain::email::Email;
use crate::domain::email_token::Purpose;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::sealed::Sealed;
use crate::domain::time::UnixTime;

/// One-time e-mail tokens (SPEC §11), at most one live per account and purpose.
#[async_trait]
pub trait EmailTokens: Send + Sync {
    /// Keeps `token`, voiding the owner's earlier token of the same purpose (its hashes are
    /// replaced, and with them its failures), and queues its message with an `email_sent`
    /// event, in one transaction. Whose it became: `None` when [`TokenOwner::ByAddress`]
    /// found no account that may receive it, and then nothing is written.
    async fn issue_email_token(
        &self,
        token: &NewEmailToken,
    ) -> Result<Option<AccountId>, StoreError>;
    /// Spends the live token of `purpose` whose link hashes to `link_hash`, for exactly one
    /// caller on any node (one conditional delete), and does `effect` in the same
    /// transaction, recording it from `client` and notifying on `channels`. Whose it was;
    /// `None` when no live token matches, or when the account has moved to another address
    /// since it was sent (then it is spent all the same, proving nothing).
    async fn spend_email_link(
        &self,
        purpose: Purpose,
        link_hash: &[u8],
        effect: &LinkEffect,
        client: &ClientInfo,
        channels: Channels,
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, StoreError>;
    /// Whose the live token of `purpose` with `link_hash` is, and where it was sent; a read,
    /// spending nothing.
    async fn email_link_holder(
        &self,
        purpose: Purpose,
        link_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, StoreError>;
    /// Spends the account's live token of `purpose` if its code hashes to `code_hash` (for
    /// exactly one caller, as a link), verifying the address if it is still the account's
    /// and was not verified yet; otherwise counts a wrong code against it, and after
    /// [`MAX_CODE_FAILURES`](crate::domain::email_token::MAX_CODE_FAILURES) the token is void.
    async fn spend_email_code(
        &self,
        purpose: Purpose,
        account: &AccountId,
        code_hash: &[u8],
        now: UnixTime,
    ) -> Result<CodeAnswer, StoreError>;
    /// Deletes every token that lapsed before `now` (or at it); how many.
    async fn purge_expired_email_tokens(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Whose a new token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// This account's (a signed-in person asked).
    Account(AccountId),
    /// The account with the token's address, if it may receive a token of the purpose
    /// ([`eligible`]); nobody's otherwise, and then nothing is kept or sent. A request
    /// that names an address answers alike either way, so the lookup happens here, in the
    /// transaction that would issue it.
    ByAddress,
}

/// Which accounts `a` may be sent a token of `purpose` by address alone: an e-mail
/// sign-in only to an account without a password (one with a password resets it instead)
/// that is not suspended.
pub(super) fn eligible(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::SignIn => "a.password_hash = '' AND a.suspended_at IS NULL",
        _ => "TRUE",
    }
}

/// The `email_sent` event of `token`, issued to `account`.
pub(super) fn sent_event(token: &NewEmailToken, account: &AccountId) -> NewEvent {
    let mut details = json!({"purpose": token.purpose.as_str()});
    if token.purpose == Purpose::ChangeAddress {
        details["to"] = json!(token.email.as_str());
    }
    NewEvent::by_owner(
        account,
        EventKind::EmailSent,
        &token.client,
        token.created_at,
        details,
    )
}

/// What spending a link does besides, in its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEffect {
    /// A sign-in: the address, while still the account's, is proven, and verified if it
    /// was not yet; the caller signs in.
    SignIn,
    /// The address is proven: a [`Purpose::Verify`] token verifies it, while it is still the
    /// account's; a [`Purpose::ChangeAddress`] token makes it the account's, verified
    /// ([`StoreError::Conflict`] if another account has it meanwhile, and then the token is
    /// not spent). Recorded as `email_verified`.
    Verify,
    /// A forgotten password is replaced: the new hash is set, the address verified and every
    /// session ended. Recorded and notified as `password_reset`.
    ResetPassword {
        /// The new password's argon2id hash.
        password_hash: String,
    },
    /// The account's open reset request is confirmed from its mailbox: stamped
    /// `email_confirmed_at` (kept if it was stamped before), and the address, while still the
    /// account's, verified. With no open request (or the address moved) it proves nothing.
    /// Recorded as `reset_request_confirmed`, which notifies the instance admins.
    ConfirmResetRequest,
}

impl LinkEffect {
    /// The event recording this effect for `spent`, if it records one; `request` is the
    /// reset request it confirmed.
    pub(super) fn event(
        &self,
        spent: &SpentEmailToken,
        purpose: Purpose,
        request: Option<&str>,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Option<NewEvent> {
        let kind = match self {
            LinkEffect::SignIn => return None,
            LinkEffect::Verify => EventKind::EmailVerified,
            LinkEffect::ResetPassword { .. } => EventKind::PasswordReset,
            LinkEffect::ConfirmResetRequest => EventKind::ResetRequestConfirmed,
        };
        let mut details = json!({"email": spent.email.as_str(), "purpose": purpose.as_str()});
        if let Some(request) = request {
            details["request_id"] = json!(request);
        }
        Some(NewEvent::by_owner(
            &spent.account,
            kind,
            client,
            now,
            details,
        ))
    }
}

/// A one-time e-mail token to keep (SPEC §11): only its keyed hashes, and its message with
/// the link and code sealed for the courier.
#[derive(Debug, Clone)]
pub struct NewEmailToken {
    /// Whose.
    pub owner: TokenOwner,
    /// What it proves the mailbox for; a newer token of the purpose voids this one.
    pub purpose: Purpose,
    /// The address the message goes to (and, by address, the account's).
    pub email: Email,
    /// The keyed hash of the link token.
    pub link_hash: Vec<u8>,
    /// The keyed hash of the code, when the message carries one.
    pub code_hash: Option<Vec<u8>>,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it lapses.
    pub expires_at: UnixTime,
    /// The message's link and code (`email_token::MessageSecrets`), sealed.
    pub message: Sealed,
    /// Who asked, for the `email_sent` event.
    pub client: ClientInfo,
}

/// A spent (or found) e-mail token: whose it was and the address it was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentEmailToken {
    /// Whose.
    pub account: AccountId,
    /// The address the message went to.
    pub email: Email,
}

/// What a typed e-mail code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeAnswer {
    /// It was right: the token is spent.
    Spent(SpentEmailToken),
    /// It was wrong: the token's failures are now `failures` (void at
    /// [`MAX_CODE_FAILURES`](crate::domain::email_token::MAX_CODE_FAILURES)).
    Wrong {
        /// Wrong codes so far.
        failures: u32,
    },
    /// No live token of that purpose for the account: never issued, spent, expired, voided
    /// by a newer one, or void after too many wrong codes.
    NoToken,
}
