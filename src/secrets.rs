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
