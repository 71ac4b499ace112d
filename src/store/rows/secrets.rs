//! The sealed-secret inventory that key rotation walks.

use crate::domain::ids::AccountId;
use crate::domain::sealed::{KeyId, Sealed};
use crate::store::SealedSlot;

/// One row of the sealed-secret inventory: slot kind, owner or name, key id, blob.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct SealedRow {
    pub slot: String,
    pub owner: String,
    pub key_id: String,
    pub blob: Vec<u8>,
}

impl SealedRow {
    pub(in crate::store) fn into_pair(self) -> Option<(SealedSlot, Sealed)> {
        let slot = match self.slot.as_str() {
            "totp" => SealedSlot::TotpSecret(AccountId(self.owner)),
            "pending" => SealedSlot::PendingSecret(AccountId(self.owner)),
            "instance" => SealedSlot::Instance(self.owner),
            _ => return None,
        };
        Some((
            slot,
            Sealed {
                key_id: KeyId(self.key_id),
                blob: self.blob,
            },
        ))
    }
}
