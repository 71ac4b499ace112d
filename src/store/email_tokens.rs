//! One-time e-mail tokens (SPEC §11): the [`EmailTokens`] aggregate and what it takes and
//! answers. Each backend implements it in its `email_tokens.rs`; the tokens themselves (their
//! purposes, lifetimes and keyed hashes) are `domain::email_token`.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::email::Email;
use crate::domain::email_token::Purpose;
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;

/// One-time e-mail tokens (SPEC §11), at most one live per account and purpose.
#[async_trait]
pub trait EmailTokens: Send + Sync {
    /// Keeps `token`, voiding the account's earlier token of the same purpose (its hashes
    /// are replaced, and with them its failures).
    async fn issue_email_token(&self, token: &NewEmailToken) -> Result<(), StoreError>;
    /// Spends the live token of `purpose` whose link hashes to `link_hash`: whose it was,
    /// for exactly one caller on any node (one conditional delete).
    async fn spend_email_link(
        &self,
        purpose: Purpose,
        link_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<SpentEmailToken>, StoreError>;
    /// Spends the account's live token of `purpose` if its code hashes to `code_hash` (for
    /// exactly one caller, as a link); otherwise counts a wrong code against it, and after
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

/// A one-time e-mail token to keep (SPEC §11): only its keyed hashes.
#[derive(Debug, Clone)]
pub struct NewEmailToken {
    /// Whose.
    pub account: AccountId,
    /// What it proves the mailbox for; a newer token of the purpose voids this one.
    pub purpose: Purpose,
    /// The address the message goes to.
    pub email: Email,
    /// The keyed hash of the link token.
    pub link_hash: Vec<u8>,
    /// The keyed hash of the code, when the message carries one.
    pub code_hash: Option<Vec<u8>>,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it lapses.
    pub expires_at: UnixTime,
}

/// A spent e-mail token: whose it was and the address it was sent to.
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
