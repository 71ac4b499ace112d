//! Security keys and passkeys (SPEC §13, `migrations/*/0018_webauthn.sql`): the
//! [`WebAuthnStore`] aggregate. Each backend implements it in its `webauthn.rs`.
//!
//! Invariants:
//! - A ceremony's state is spent once, on any node: [`WebAuthnStore::take_ceremony`] is one
//!   `DELETE … RETURNING` that checks its purpose and its expiry against `now`. A sign-in's
//!   second factor only reads it ([`WebAuthnStore::ceremony`]); the sign-in's completion
//!   deletes it, so a replayed answer is refused only once the first one has signed in.
//! - A credential's signature counter only moves forward: [`WebAuthnStore::use_credential`]
//!   is one conditional update, so of two assertions with one counter value only one
//!   passes, on any node.
//! - A credential's addition and removal commit with their events; the first second factor
//!   of an account (no authenticator app, no other credential) commits with its recovery
//!   codes, the account's row locked meanwhile so two first registrations cannot both issue
//!   a set.

use async_trait::async_trait;

use super::{Journal, StoreError};
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::domain::webauthn::Purpose;

/// A ceremony to keep until its answer comes.
#[derive(Debug, Clone)]
pub struct NewCeremony {
    /// The hash of its random id (the id itself goes to the client).
    pub id_hash: TokenHash,
    /// What it is for.
    pub purpose: Purpose,
    /// Whose it is; `None` for a passkey sign-in, which names no account until answered.
    pub account: Option<AccountId>,
    /// webauthn-rs's state, as JSON.
    pub state: String,
    /// When it lapses.
    pub expires_at: UnixTime,
}

/// A ceremony as read or taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    /// Whose it was.
    pub account: Option<AccountId>,
    /// webauthn-rs's state, as JSON.
    pub state: String,
}

/// A registered credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// Its id in this server (the API's).
    pub id: String,
    /// Whose it is.
    pub account_id: AccountId,
    /// Its WebAuthn credential id.
    pub credential_id: Vec<u8>,
    /// The name its owner gave it.
    pub name: String,
    /// webauthn-rs's record of it (public key, flags), as JSON.
    pub credential: String,
    /// The last signature counter accepted.
    pub counter: u32,
    /// When it was registered.
    pub created_at: UnixTime,
    /// When it was last used.
    pub last_used_at: Option<UnixTime>,
}

/// What adding a credential did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// It joined the account's other second factors.
    Another,
    /// It is the account's first second factor: the recovery codes were issued with it.
    First,
}

/// Security keys and passkeys, and their ceremonies.
#[async_trait]
pub trait WebAuthnStore: Send + Sync {
    /// Keeps a ceremony's state until it is taken or lapses.
    async fn open_ceremony(&self, ceremony: &NewCeremony) -> Result<(), StoreError>;
    /// Takes the live ceremony of `purpose` whose id hashes to `id_hash`, for exactly one
    /// caller on any node; `None` when there is none (unknown, spent, of another purpose,
    /// or lapsed at `now`).
    async fn take_ceremony(
        &self,
        id_hash: &TokenHash,
        purpose: Purpose,
        now: UnixTime,
    ) -> Result<Option<Ceremony>, StoreError>;
    /// Reads the live ceremony of `purpose` whose id hashes to `id_hash` without spending
    /// it: a sign-in's second factor, whose completion spends the ceremony in the same
    /// statement as everything else (`SpentFactor::WebAuthn`).
    async fn ceremony(
        &self,
        id_hash: &TokenHash,
        purpose: Purpose,
        now: UnixTime,
    ) -> Result<Option<Ceremony>, StoreError>;
    /// Deletes every ceremony that lapsed before `now` (or at it); how many.
    async fn purge_ceremonies(&self, now: UnixTime) -> Result<u64, StoreError>;
    /// Adds `credential` with the events of `journal`. When the account has no
    /// authenticator app and no other credential, `recovery_codes` (keyed hashes) replace
    /// its recovery codes in the same transaction and the answer is [`Added::First`];
    /// otherwise they are not used. A credential id registered already (to anyone) is
    /// `Conflict(WebAuthnCredential)`.
    async fn add_credential(
        &self,
        credential: &StoredCredential,
        recovery_codes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<Added, StoreError>;
    /// The account's credentials, oldest first.
    async fn credentials(&self, account: &AccountId) -> Result<Vec<StoredCredential>, StoreError>;
    /// The credential with this WebAuthn credential id, whoever's it is.
    async fn credential_by_webauthn_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<StoredCredential>, StoreError>;
    /// Renames the account's credential `id`; `false` when it has none such.
    async fn rename_credential(
        &self,
        account: &AccountId,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Removes the account's credential `id` with the events of `journal`; `false` (and
    /// nothing recorded) when it has none such.
    async fn remove_credential(
        &self,
        account: &AccountId,
        id: &str,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError>;
    /// Records a use of credential `id` whose assertion carried `counter`: only if that
    /// moves its counter forward (or both are zero: an authenticator that keeps none);
    /// `false` when it does not (another assertion got there first, or a clone).
    async fn use_credential(
        &self,
        id: &str,
        counter: u32,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
}
