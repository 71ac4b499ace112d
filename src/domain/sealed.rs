//! Sealed secrets as data: which master key sealed them, and the sealed bytes. Sealing
//! and opening live in [`crate::keyring`]; storage only moves these values around.

/// A master key's id, stored beside everything sealed under it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(pub String);

/// A secret sealed under a master key: `nonce || ciphertext || tag`, and the key's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The key it was sealed under.
    pub key_id: KeyId,
    /// Nonce, ciphertext and tag.
    pub blob: Vec<u8>,
}
