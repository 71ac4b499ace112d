//! Security keys and passkeys (SPEC §13): the relying party, its ceremonies kept
//! server-side, and registering a credential. The W3C checks (origin, relying party,
//! challenge, signature, flags) are `webauthn-rs`'s; what they are checked against is ours.
//!
//! A ceremony is found by its challenge: the options handed out carry 32 random bytes that
//! the authenticator signs and the browser returns in its client data, so the answer names
//! its ceremony with no token of ours. The store keeps the ceremony's state under the
//! challenge's SHA-256 and spends it with one `DELETE … RETURNING` that checks its purpose
//! and expiry against `now`: it answers once, on any node, for 5 minutes. A sign-in's
//! second factor reads it instead, and the sign-in's completion deletes it.
//!
//! Registration asks for a discoverable credential when the authenticator can make one
//! (`residentKey: preferred`) and for user verification when it can give it, so one button
//! registers a security key (a second factor) or a passkey (which may sign in alone, see
//! `passkey.rs`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    Base64UrlSafeData, Credential, CredentialID, RegisterPublicKeyCredential, SecurityKey,
    SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::{Denial, Error, SignIn};
use crate::domain::account::Account;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::domain::webauthn::{ceremony_expiry, Purpose, CEREMONY_TTL_SECONDS};
use crate::store::webauthn::{Ceremony, NewCeremony, StoredCredential};

/// This instance as a WebAuthn relying party: its id is the host of `public_url`, and
/// answers are accepted from that origin only.
pub struct RelyingParty {
    webauthn: Webauthn,
}

impl RelyingParty {
    /// The relying party of an instance reached at `public_url`; `None` when its host is
    /// no domain name (browsers refuse an IP address as a relying party id).
    pub fn for_public_url(public_url: &str) -> Option<RelyingParty> {
        let origin = Url::parse(public_url).ok()?;
        let host = origin.domain()?.to_owned();
        let timeout = std::time::Duration::from_secs(CEREMONY_TTL_SECONDS.unsigned_abs());
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .ok()?
            .rp_name("Deadbolt")
            .timeout(timeout)
            .build()
            .ok()?;
        Some(RelyingParty { webauthn })
    }

    /// The `webauthn-rs` relying party.
    pub(super) fn webauthn(&self) -> &Webauthn {
        &self.webauthn
    }
}

/// The options a browser passes to `navigator.credentials.create()` or `.get()`, as JSON
/// (`{"publicKey": …}`).
pub type Options = serde_json::Value;

/// The part of the client data a ceremony is found by.
#[derive(Deserialize)]
struct ClientData {
    challenge: Base64UrlSafeData,
}

/// The key a ceremony is kept under: the SHA-256 of its challenge.
fn ceremony_key(challenge: &[u8]) -> TokenHash {
    TokenHash(Sha256::digest(challenge).to_vec())
}

/// The key of the ceremony an answer's client data names; `None` when it names none.
pub(super) fn answered_ceremony(client_data_json: &[u8]) -> Option<TokenHash> {
    let data: ClientData = serde_json::from_slice(client_data_json).ok()?;
    Some(ceremony_key(data.challenge.as_ref()))
}

/// Whose `found` was and its state; [`Denial::InvalidCeremony`] when there is none, or
/// when it is not `account`'s (for a ceremony opened for an account).
fn opened<S: DeserializeOwned>(
    found: Option<Ceremony>,
    account: Option<&AccountId>,
) -> Result<(Option<AccountId>, S), Error> {
    let ceremony = found.ok_or(Denial::InvalidCeremony)?;
    if account.is_some() && ceremony.account.as_ref() != account {
        return Err(Denial::InvalidCeremony.into());
    }
    let state = serde_json::from_str(&ceremony.state)
        .map_err(|_| Error::Invariant("a stored WebAuthn state that does not parse"))?;
    Ok((ceremony.account, state))
}

/// The challenge of options as `webauthn-rs` made them.
fn challenge_of(options: &Options) -> Result<Vec<u8>, Error> {
    let challenge = options["publicKey"]["challenge"].clone();
    let challenge: Base64UrlSafeData = serde_json::from_value(challenge)
        .map_err(|_| Error::Invariant("WebAuthn options without a challenge"))?;
    Ok(challenge.into())
}

/// A WebAuthn user handle: the account id's 16 bytes.
pub(super) fn user_handle(account: &AccountId) -> Result<Uuid, Error> {
    let bytes = hex::decode(account.as_str())
        .map_err(|_| Error::Invariant("an account id that is not 16 hex bytes"))?;
    Uuid::from_slice(&bytes).map_err(|_| Error::Invariant("an account id that is not 16 bytes"))
}

/// A stored credential as `webauthn-rs` checks it, with the counter as last accepted.
pub(super) fn credential_of(stored: &StoredCredential) -> Result<Credential, Error> {
    let mut credential: Credential = serde_json::from_str(&stored.credential)
        .map_err(|_| Error::Invariant("a stored WebAuthn credential that does not parse"))?;
    credential.counter = stored.counter;
    Ok(credential)
}

/// A credential just registered, not stored yet.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The credential as it is to be stored.
    pub credential: StoredCredential,
}

impl SignIn {
    /// Whether this instance is a WebAuthn relying party (its `public_url` names a domain).
    pub fn webauthn_available(&self) -> bool {
        self.relying_party.is_some()
    }

    /// The relying party, or [`Error::WebAuthnUnavailable`] when this instance has none.
    pub(super) fn relying_party(&self) -> Result<&RelyingParty, Error> {
        self.relying_party
            .as_deref()
            .ok_or(Error::WebAuthnUnavailable)
    }

    /// Keeps a ceremony's `state` for the options that carry its challenge.
    pub(super) async fn open_ceremony<S: Serialize>(
        &self,
        purpose: Purpose,
        account: Option<&AccountId>,
        options: &Options,
        state: &S,
        now: UnixTime,
    ) -> Result<(), Error> {
        let state = serde_json::to_string(state)
            .map_err(|_| Error::Invariant("WebAuthn state that does not serialise"))?;
        let ceremony = NewCeremony {
            id_hash: ceremony_key(&challenge_of(options)?),
            purpose,
            account: account.cloned(),
            state,
            expires_at: ceremony_expiry(now),
        };
        self.store().open_ceremony(&ceremony).await?;
        Ok(())
    }

    /// Spends the live ceremony of `purpose` that the answer's client data names: whose it
    /// was and its state. [`Denial::InvalidCeremony`] when there is none (unknown, spent,
    /// of another purpose or lapsed), or when it is not `account`'s (for a ceremony opened
    /// for an account).
    pub(super) async fn take_ceremony<S: DeserializeOwned>(
        &self,
        purpose: Purpose,
        account: Option<&AccountId>,
        client_data_json: &[u8],
        now: UnixTime,
    ) -> Result<(Option<AccountId>, S), Error> {
        let key = answered_ceremony(client_data_json).ok_or(Denial::InvalidCeremony)?;
        let taken = self.store().take_ceremony(&key, purpose, now).await?;
        opened(taken, account)
    }

    /// Reads, as [`SignIn::take_ceremony`] takes, the ceremony the answer names without
    /// spending it; its key, for the statement that spends it.
    pub(super) async fn read_ceremony<S: DeserializeOwned>(
        &self,
        purpose: Purpose,
        account: &AccountId,
        client_data_json: &[u8],
        now: UnixTime,
    ) -> Result<(TokenHash, S), Error> {
        let key = answered_ceremony(client_data_json).ok_or(Denial::InvalidCeremony)?;
        let found = self.store().ceremony(&key, purpose, now).await?;
        let (_, state) = opened(found, Some(account))?;
        Ok((key, state))
    }

    /// Starts registering a credential for `account`: the options for
    /// `navigator.credentials.create()`. Its credentials already registered are excluded,
    /// so one authenticator is not registered twice.
    pub async fn start_registration(
        &self,
        account: &Account,
        now: UnixTime,
    ) -> Result<Options, Error> {
        let webauthn = self.relying_party()?.webauthn();
        let existing = self.store().credentials(&account.id).await?;
        let exclude = existing
            .iter()
            .map(|stored| CredentialID::from(stored.credential_id.clone()))
            .collect();
        let email = account.email.as_str();
        let display = account.name.as_deref().unwrap_or(email);
        let (options, state) = webauthn
            .start_securitykey_registration(
                user_handle(&account.id)?,
                email,
                display,
                Some(exclude),
                None,
                None,
            )
            .map_err(|_| Error::Invariant("WebAuthn registration options"))?;
        let mut options = serde_json::to_value(options)
            .map_err(|_| Error::Invariant("WebAuthn options that do not serialise"))?;
        let public_key = &mut options["publicKey"];
        // A passkey when the authenticator can keep one; a security key otherwise.
        public_key["authenticatorSelection"]["residentKey"] = "preferred".into();
        public_key["authenticatorSelection"]["requireResidentKey"] = false.into();
        // Not a security-key-only ceremony: let the browser offer its own passkeys too, and
        // let a key that has no PIN be used as a second factor without one (credProtect
        // would demand user verification on every use).
        if let Some(fields) = public_key.as_object_mut() {
            fields.remove("hints");
        }
        if let Some(extensions) = public_key["extensions"].as_object_mut() {
            extensions.remove("credentialProtectionPolicy");
            extensions.remove("enforceCredentialProtectionPolicy");
        }
        self.open_ceremony(
            Purpose::Registration,
            Some(&account.id),
            &options,
            &state,
            now,
        )
        .await?;
        Ok(options)
    }

    /// Finishes registering the credential `answer` for `account`, named `name`: checked
    /// against the account's registration ceremony, which it spends. Nothing is stored yet.
    pub async fn finish_registration(
        &self,
        account: &AccountId,
        name: &str,
        answer: &RegisterPublicKeyCredential,
        now: UnixTime,
    ) -> Result<Registered, Error> {
        let webauthn = self.relying_party()?.webauthn();
        let client_data = answer.response.client_data_json.as_ref();
        let (_, state): (_, SecurityKeyRegistration) = self
            .take_ceremony(Purpose::Registration, Some(account), client_data, now)
            .await?;
        let key: SecurityKey = webauthn
            .finish_securitykey_registration(answer, &state)
            .map_err(|_| Denial::InvalidWebAuthn)?;
        let credential = Credential::from(key);
        let json = serde_json::to_string(&credential)
            .map_err(|_| Error::Invariant("a WebAuthn credential that does not serialise"))?;
        Ok(Registered {
            credential: StoredCredential {
                id: crate::domain::ids::new_id(),
                account_id: account.clone(),
                credential_id: credential.cred_id.to_vec(),
                name: name.to_owned(),
                credential: json,
                counter: credential.counter,
                created_at: now,
                last_used_at: None,
            },
        })
    }
}
