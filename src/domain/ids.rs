//! Identifiers and bearer secrets. Every random value comes from the OS CSPRNG
//! (`OsRng`, i.e. `getrandom`). Ids are public handles; tokens are secrets that are
//! only ever stored as their SHA-256 digest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Fills a fresh array from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new opaque id: 128 random bits as 32 lowercase hex digits.
pub fn new_id() -> String {
    hex::encode(random_bytes::<16>())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Self {
                Self(new_id())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Identifies an account.
    AccountId
);
id_type!(
    /// Identifies a session (public; not the bearer token).
    SessionId
);

/// A 256-bit bearer secret (session token, setup token). Its `Debug` is redacted and it
/// is never stored: only [`TokenHash`] is.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh token: 32 bytes from the OS CSPRNG, base64url without padding (43 chars).
    pub fn generate() -> Self {
        Token(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
    }

    /// Wraps a token presented by a client.
    pub fn from_presented(text: &str) -> Self {
        Token(text.to_owned())
    }

    /// The token text, to hand to its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest under which the token is stored and looked up.
    pub fn hash(&self) -> TokenHash {
        // Security: tokens carry 256 bits of entropy, so one unsalted SHA-256 is enough;
        // a database leak yields digests that cannot be turned back into tokens.
        TokenHash(Sha256::digest(self.0.as_bytes()).to_vec())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// SHA-256 of a [`Token`]; what the database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_distinct() {
        let a = AccountId::generate();
        let b = AccountId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn tokens_carry_256_bits_and_hash_stably() {
        let token = Token::generate();
        assert_eq!(token.expose().len(), 43);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(token.expose()).map(|b| b.len()).ok(),
            Some(32)
        );
        assert_eq!(token.hash(), Token::from_presented(token.expose()).hash());
        assert_ne!(token.hash(), Token::generate().hash());
        assert_eq!(token.hash().0.len(), 32);
    }

    #[test]
    fn token_debug_is_redacted() {
        let token = Token::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
