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
    /// replaced, and the count of wrong codes for its address cleared), and queues its message with an `email_sent`
    /// event, in one transaction. Whose it became: `None` when [`TokenOwner::ByAddress`]
    /// found no account that may receive it, and then only an `email_withheld` event is
    /// written.
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
    /// Spends the live token of `purpose` sent to `email` whose code hashes to `code_hash`,
    /// for exactly one caller on any node (one conditional delete), verifying the address if
    /// it is still the account's and was not verified yet. The same statement whether or
    /// not the address has an account or a token, so a wrong code costs the same for any
    /// address; wrong codes are counted by the caller, per address, before this is asked
    /// (`signin/email.rs`).
    async fn spend_email_code(
        &self,
        purpose: Purpose,
        email: &Email,
        code_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, StoreError>;
    /// Deletes every token that lapsed before `now` (or at it); how many.
    async fn purge_expired_email_tokens(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Whose a new token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// This account's (a signed-in person asked).
    Account(AccountId),
    /// The account with the token's address, if it may receive a token of the purpose
    /// ([`eligible`]); nobody's otherwise, and then nothing is kept or sent (the request is
    /// recorded as `email_withheld`). A request that names an address answers alike either
    /// way, so the lookup happens here, in the transaction that would issue it.
    ByAddress,
}

/// Whether account `a` may be sent a token of `purpose` by address alone, as an SQL
/// expression: never a suspended account, and an e-mail sign-in only to an account without a
/// password (one with a password resets it instead).
pub(super) fn eligible(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::SignIn => "(a.password_hash = '' AND a.suspended_at IS NULL)",
        _ => "(a.suspended_at IS NULL)",
    }
}

/// Voids every live e-mail token of the account `account` (a placeholder) but a plain
/// verification link, which proves only its own address. Part of every change that ends an
/// account's sessions or takes the account from whoever held it: a password set or reset, a
/// move to a new address, a suspension, an admin reset. So a link or code asked for before
/// (a move to an attacker's address, say) dies with the sessions.
pub(super) fn void_tokens(account: &str) -> String {
    format!("DELETE FROM email_tokens WHERE account_id = {account} AND purpose <> 'verify'")
}

/// The `email_withheld` event of a request by address that sends nothing: about the account
/// with that address when there is one (its owner sees that someone asked), about nobody
/// otherwise (admins see it). Recorded in the transaction that would have issued the token,
/// so that both answers cost one commit (SPEC §11: about the same time).
pub(super) fn withheld_event(token: &NewEmailToken, account: Option<&AccountId>) -> NewEvent {
    let mut details = json!({"purpose": token.purpose.as_str()});
    if account.is_none() {
        details["to"] = json!(token.email.as_str());
    }
    NewEvent {
        account_id: account.cloned(),
        actor_id: None,
        workspace_id: None,
        kind: EventKind::EmailWithheld,
        at: token.created_at,
        ip: token.client.ip.clone(),
        user_agent: token.client.user_agent.clone(),
        details,
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
    /// account's (recorded as `email_verified`); a [`Purpose::ChangeAddress`] token makes it
    /// the account's, verified ([`StoreError::Conflict`] if another account has it
    /// meanwhile, and then the token is not spent), recorded as `email_changed` and told to
    /// the address left.
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
    /// The event recording this effect for `spent`, if it records one; `previous` is the
    /// address a change of address left, `request` the reset request it confirmed.
    pub(super) fn event(
        &self,
        spent: &SpentEmailToken,
        purpose: Purpose,
        previous: Option<&str>,
        request: Option<&str>,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Option<NewEvent> {
        let (kind, details) = match (self, previous) {
            (LinkEffect::SignIn, _) => return None,
            (LinkEffect::Verify, Some(previous)) => (
                EventKind::EmailChanged,
                json!({"from": previous, "to": spent.email.as_str()}),
            ),
            (LinkEffect::Verify, None) => (
                EventKind::EmailVerified,
                json!({"email": spent.email.as_str(), "purpose": purpose.as_str()}),
            ),
            (LinkEffect::ResetPassword { .. }, _) => (
                EventKind::PasswordReset,
                json!({"email": spent.email.as_str()}),
            ),
            (LinkEffect::ConfirmResetRequest, _) => (
                EventKind::ResetRequestConfirmed,
                json!({
                    "email": spent.email.as_str(),
                    "purpose": purpose.as_str(),
                    "request_id": request,
                }),
            ),
        };
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
