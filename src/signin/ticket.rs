//! What a challenge token carries, so that any node can judge a code answered to it
//! without reading the challenge first.
//!
//! When the password step opens a challenge for an account with an authenticator, the token
//! handed out is `<random>.<ticket>`: 256 random bits, then the account, the challenge's
//! expiry and the authenticator as it stood (its sealed secret and last accepted step),
//! sealed under the current master key and bound to the random part. Only a node holding
//! the keyring can read or make one, and the database keeps the digest of the whole token,
//! so a ticket cut from one challenge and pasted onto another names no challenge at all.
//!
//! A ticket is a snapshot, never the decision: the completion still spends the step only
//! under that very sealed secret and only if it is later than the last accepted one, and
//! still consumes the challenge and claims the failure counter, each by one conditional
//! statement. Whatever the snapshot got wrong (a code used since, a secret replaced, a
//! challenge voided) makes that statement change nothing; the attempt is then counted like
//! any other and judged again from the database (`challenge.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{AccountId, Token};
use crate::domain::sealed::{KeyId, Sealed};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::keyring::Keyring;

/// Separates the random part of a challenge token from its ticket.
const SEPARATOR: char = '.';

/// What the sealing binds a ticket to besides its token's random part.
const PURPOSE: &[u8] = b"deadbolt sign-in challenge ticket\0";

/// A challenge as the password step left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Whose sign-in.
    pub account: AccountId,
    /// When the challenge lapses.
    pub expires_at: UnixTime,
    /// The account's sealed TOTP secret.
    pub secret: Sealed,
    /// The last TOTP step accepted then.
    pub last_step: Option<i64>,
}

/// The sealed form's fields.
#[derive(Serialize, Deserialize)]
struct Fields {
    account: String,
    expires_at: i64,
    key_id: String,
    secret: String,
    last_step: Option<i64>,
}

impl Ticket {
    /// A new challenge token carrying this ticket.
    pub fn issue(&self, keys: &Keyring) -> Token {
        let random = Token::generate();
        let fields = Fields {
            account: self.account.as_str().to_owned(),
            expires_at: self.expires_at.0,
            key_id: self.secret.key_id.0.clone(),
            secret: URL_SAFE_NO_PAD.encode(&self.secret.blob),
            last_step: self.last_step,
        };
        // Serialising plain strings and numbers cannot fail.
        let plain = serde_json::to_vec(&fields).unwrap_or_default();
        let sealed = keys.seal(&plain, &binding(random.expose()));
        let mut packed = Vec::with_capacity(1 + sealed.key_id.0.len() + sealed.blob.len());
        packed.push(u8::try_from(sealed.key_id.0.len()).unwrap_or(u8::MAX));
        packed.extend_from_slice(sealed.key_id.0.as_bytes());
        packed.extend_from_slice(&sealed.blob);
        Token::from_presented(&format!(
            "{}{SEPARATOR}{}",
            random.expose(),
            URL_SAFE_NO_PAD.encode(packed)
        ))
    }

    /// The ticket a presented challenge token carries, if it carries one that opens under
    /// `keys`. Anything else (no ticket, a forged or damaged one, a retired key) is `None`:
    /// the answer is then judged from the database.
    pub fn read(keys: &Keyring, presented: &str) -> Option<Ticket> {
        let (random, packed) = presented.split_once(SEPARATOR)?;
        let packed = URL_SAFE_NO_PAD.decode(packed).ok()?;
        let (&length, rest) = packed.split_first()?;
        let (key_id, blob) = rest.split_at_checked(usize::from(length))?;
        let sealed = Sealed {
            key_id: KeyId(String::from_utf8(key_id.to_vec()).ok()?),
            blob: blob.to_vec(),
        };
        let plain = keys.open(&sealed, &binding(random)).ok()?;
        let fields: Fields = serde_json::from_slice(&plain).ok()?;
        Some(Ticket {
            account: AccountId(fields.account),
            expires_at: UnixTime(fields.expires_at),
            secret: Sealed {
                key_id: KeyId(fields.key_id),
                blob: URL_SAFE_NO_PAD.decode(fields.secret).ok()?,
            },
            last_step: fields.last_step,
        })
    }

    /// The authenticator as the ticket saw it, to judge a code against.
    pub fn record(&self) -> TwoFactorRecord {
        TwoFactorRecord {
            secret: Some(self.secret.clone()),
            enabled_at: None,
            last_step: self.last_step,
            pending: None,
            webauthn_keys: 0,
        }
    }
}

/// The associated data a ticket is sealed with: its purpose and its token's random part.
fn binding(random: &str) -> Vec<u8> {
    [PURPOSE, random.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            account: AccountId("acc_1".to_owned()),
            expires_at: UnixTime(1_800_000_300),
            secret: Sealed {
                key_id: KeyId("k1".to_owned()),
                blob: vec![7; 60],
            },
            last_step: Some(60_000_000),
        }
    }

    fn keys_of(byte: u8) -> Keyring {
        use base64::engine::general_purpose::STANDARD;
        let text = format!("k1 {}\n", STANDARD.encode([byte; 32]));
        Keyring::parse(&text, std::path::Path::new("test")).unwrap()
    }

    fn keys() -> Keyring {
        keys_of(1)
    }

    #[test]
    fn a_ticket_reads_back_as_issued() {
        let keys = keys();
        let token = ticket().issue(&keys);
        assert_eq!(Ticket::read(&keys, token.expose()), Some(ticket()));
    }

    #[test]
    fn a_token_without_a_ticket_or_with_a_damaged_one_carries_none() {
        let keys = keys();
        let token = ticket().issue(&keys);
        let text = token.expose();
        assert_eq!(Ticket::read(&keys, Token::generate().expose()), None);
        // Another token's random part: the seal is bound to it.
        let (_, packed) = text.split_once('.').unwrap();
        let moved = format!("{}.{packed}", Token::generate().expose());
        assert_eq!(Ticket::read(&keys, &moved), None);
        // One character changed.
        let mut damaged = text.to_owned();
        let last = damaged.pop().unwrap();
        damaged.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(Ticket::read(&keys, &damaged), None);
        // Another instance's keys.
        assert_eq!(Ticket::read(&keys_of(2), text), None);
        assert_eq!(Ticket::read(&keys, "x."), None);
        assert_eq!(Ticket::read(&keys, "."), None);
    }

    #[test]
    fn a_ticket_reveals_nothing_in_clear() {
        let keys = keys();
        let text = ticket().issue(&keys).expose().to_owned();
        assert!(!text.contains("acc_1"));
        let (_, packed) = text.split_once('.').unwrap();
        let packed = URL_SAFE_NO_PAD.decode(packed).unwrap();
        assert!(!packed.windows(5).any(|w| w == b"acc_1"));
        assert!(!packed.windows(8).any(|w| w == [7; 8]));
    }
}
