//! Instance secrets kept in the database, sealed under the master key.
//!
//! The recovery-code HMAC key is random, not derived from the master key: a derived key
//! would die with its master key at `deadbolt keys rotate`, and with it every recovery code
//! (their hashes cannot be recomputed without the codes). Sealed like the TOTP secrets, it is
//! simply re-sealed by a rotation. The first node to start creates it; the others read it.

use crate::domain::ids::random_bytes;
use crate::keyring::{Keyring, SealError};
use crate::store::{SealedSlot, Store, StoreError};

/// Name of the recovery-code HMAC key.
pub const RECOVERY_CODE_KEY: &str = "recovery-code-hmac";

/// Problems loading an instance secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secret is sealed under a key the key file lacks, or was tampered with.
    #[error("instance secret {name}: {source}")]
    Seal {
        /// Which secret.
        name: String,
        /// Why it did not open.
        source: SealError,
    },
}

/// The associated data a sealed secret is bound to.
pub fn associated_data(slot: &SealedSlot) -> Vec<u8> {
    match slot {
        SealedSlot::TotpSecret(account) | SealedSlot::PendingSecret(account) => {
            account.as_str().as_bytes().to_vec()
        }
        SealedSlot::Instance(name) => format!("instance:{name}").into_bytes(),
    }
}

/// Loads the recovery-code HMAC key, creating it on first use.
pub async fn recovery_code_key(store: &dyn Store, keys: &Keyring) -> Result<[u8; 32], SecretError> {
    let slot = SealedSlot::Instance(RECOVERY_CODE_KEY.to_owned());
    let aad = associated_data(&slot);
    if store.instance_secret(RECOVERY_CODE_KEY).await?.is_none() {
        let fresh = keys.seal(&random_bytes::<32>(), &aad);
        store
            .insert_instance_secret(RECOVERY_CODE_KEY, &fresh)
            .await?;
    }
    // Read back: another node may have created it first.
    let sealed = store
        .instance_secret(RECOVERY_CODE_KEY)
        .await?
        .ok_or(StoreError::NotFound)?;
    let opened = keys
        .open(&sealed, &aad)
        .map_err(|source| SecretError::Seal {
            name: RECOVERY_CODE_KEY.to_owned(),
            source,
        })?;
    opened.try_into().map_err(|_| SecretError::Seal {
        name: RECOVERY_CODE_KEY.to_owned(),
        source: SealError::Corrupt,
    })
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key everything is now sealed under.
    pub key_id: crate::keyring::KeyId,
    /// Secrets re-sealed.
    pub resealed: usize,
    /// Whether an interrupted rotation was resumed instead of starting a new one.
    pub resumed: bool,
}

/// Problems rotating the master key.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The key file.
    #[error(transparent)]
    Keyring(#[from] crate::keyring::KeyringError),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret did not open under any key in the file.
    #[error("a sealed secret ({slot:?}) does not open: {source}")]
    Seal {
        /// Which secret.
        slot: SealedSlot,
        /// Why.
        source: SealError,
    },
}

/// `deadbolt keys rotate`: puts a new master key in front of the key file, re-seals every
/// secret under it, then drops the old keys. Each step leaves every secret readable:
/// 1. the file is rewritten atomically with the new key first and the old ones after;
/// 2. each secret is re-sealed by a conditional update (a concurrent change wins and is
///    looked at again);
/// 3. only when no secret is sealed under an old key is the file rewritten with the new key
///    alone.
///
/// A crash leaves a file with several keys; the next run resumes at step 2 instead of adding
/// yet another key. Running nodes read the key file at start: restart them after a rotation.
pub async fn rotate_master_key(
    store: &dyn Store,
    path: &std::path::Path,
) -> Result<Rotation, RotationError> {
    let (current, _) = Keyring::load_or_create(path)?;
    let resumed = current.keys().len() > 1;
    let keys = if resumed {
        current
    } else {
        let rotated = current.with_new_key();
        rotated.write(path)?;
        rotated
    };
    let new_id = keys.current().id.clone();
    let mut resealed = 0;
    loop {
        let stale: Vec<_> = store
            .sealed_secrets()
            .await?
            .into_iter()
            .filter(|(_, sealed)| sealed.key_id != new_id)
            .collect();
        if stale.is_empty() {
            break;
        }
        for (slot, sealed) in stale {
            let aad = associated_data(&slot);
            let secret = keys
                .open(&sealed, &aad)
                .map_err(|source| RotationError::Seal {
                    slot: slot.clone(),
                    source,
                })?;
            let fresh = keys.seal(&secret, &aad);
            if store.reseal(&slot, &sealed, &fresh).await? {
                resealed += 1;
            }
        }
    }
    keys.current_only().write(path)?;
    Ok(Rotation {
        key_id: new_id,
        resealed,
        resumed,
    })
}
