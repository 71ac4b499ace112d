//! Recovery codes: `XXXX-XXXX`, uppercase, from an alphabet without look-alikes, shown
//! once and stored only as keyed hashes (HMAC-SHA256), so the database alone cannot
//! reveal or test a code.
//!
//! Note on the alphabet: digits and uppercase letters without 0/O and 1/I/L leave 31
//! symbols (not 32), so a code carries 8 × log2(31) ≈ 39.6 bits.

use std::fmt;

use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

/// The symbols a code is made of: no 0/O, no 1/I/L.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Symbols in a code (shown as two groups of four).
pub const CODE_SYMBOLS: usize = 8;

/// A recovery code in clear, to show once; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// A fresh code from the OS CSPRNG (rejection sampling keeps symbols uniform).
    pub fn generate() -> Self {
        let limit = 256 - (256 % ALPHABET.len());
        let mut symbols = String::with_capacity(CODE_SYMBOLS);
        while symbols.len() < CODE_SYMBOLS {
            let mut byte = [0u8; 1];
            OsRng.fill_bytes(&mut byte);
            let value = usize::from(byte[0]);
            if value < limit {
                symbols.push(char::from(ALPHABET[value % ALPHABET.len()]));
            }
        }
        RecoveryCode(symbols)
    }

    /// `count` fresh codes, all different.
    pub fn generate_set(count: u32) -> Vec<RecoveryCode> {
        let mut codes: Vec<RecoveryCode> = Vec::new();
        while codes.len() < count as usize {
            let code = RecoveryCode::generate();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        codes
    }

    /// Normalizes typed input: case-insensitive, spaces and dashes ignored. `None` when the
    /// rest is not eight symbols of the alphabet.
    pub fn parse(typed: &str) -> Option<RecoveryCode> {
        let symbols: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = symbols.len() == CODE_SYMBOLS && symbols.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(RecoveryCode(symbols))
    }

    /// The code as shown: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }

    /// The keyed hash stored for this code.
    pub fn hash(&self, key: &[u8; 32]) -> Vec<u8> {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
            Ok(mac) => mac,
            // HMAC takes keys of any length; this arm is unreachable.
            Err(_) => return Vec::new(),
        };
        mac.update(self.0.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_two_groups_of_four_from_the_alphabet() {
        for code in RecoveryCode::generate_set(16) {
            let shown = code.display();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert!(
                shown
                    .replace('-', "")
                    .bytes()
                    .all(|b| ALPHABET.contains(&b)),
                "{shown}"
            );
        }
    }

    #[test]
    fn the_alphabet_has_no_look_alikes() {
        for banned in b"0O1IL" {
            assert!(!ALPHABET.contains(banned));
        }
        let mut sorted = ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 31);
    }

    #[test]
    fn input_ignores_case_spaces_and_dashes() {
        let code = RecoveryCode::parse("ABCD-EFGH").unwrap();
        for typed in [
            "abcd-efgh",
            "ABCDEFGH",
            " abcd efgh ",
            "AB-CD-EF-GH",
            "abcd\tefgh",
        ] {
            assert_eq!(RecoveryCode::parse(typed), Some(code.clone()), "{typed:?}");
        }
        for bad in [
            "",
            "ABCD-EFG",
            "ABCD-EFGHJ",
            "ABCD-EFG0",
            "ABCD-EFGI",
            "ABCD_EFGH",
        ] {
            assert_eq!(RecoveryCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_set_has_distinct_codes_of_the_requested_size() {
        let set = RecoveryCode::generate_set(16);
        assert_eq!(set.len(), 16);
        for (i, a) in set.iter().enumerate() {
            assert!(set[i + 1..].iter().all(|b| b != a));
        }
    }

    #[test]
    fn hashes_are_keyed() {
        let code = RecoveryCode::parse("ABCD-EFGH").unwrap();
        assert_eq!(code.hash(&[1; 32]), code.hash(&[1; 32]));
        assert_ne!(code.hash(&[1; 32]), code.hash(&[2; 32]));
        assert_eq!(code.hash(&[1; 32]).len(), 32);
        assert!(format!("{code:?}").contains("redacted"));
    }

    #[test]
    fn symbols_are_roughly_uniform() {
        let mut counts = [0u32; 31];
        for _ in 0..400 {
            for b in RecoveryCode::generate().0.bytes() {
                counts[ALPHABET.iter().position(|a| *a == b).unwrap()] += 1;
            }
        }
        // 3200 symbols, ~103 each; a biased generator would leave some far off.
        assert!(counts.iter().all(|c| (40..200).contains(c)), "{counts:?}");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_spelling_of_a_code_parses_to_it(
                symbols in proptest::collection::vec(0usize..31, 8),
                lower in proptest::collection::vec(any::<bool>(), 8),
                separators in proptest::collection::vec("[ -]{0,2}", 9),
            ) {
                let canonical: String = symbols.iter().map(|i| char::from(ALPHABET[*i])).collect();
                let mut typed = String::new();
                for (i, c) in canonical.chars().enumerate() {
                    typed.push_str(&separators[i]);
                    typed.push(if lower[i] { c.to_ascii_lowercase() } else { c });
                }
                typed.push_str(&separators[8]);
                let parsed = RecoveryCode::parse(&typed);
                prop_assert_eq!(parsed.map(|c| c.display()), Some(format!("{}-{}", &canonical[..4], &canonical[4..])));
            }

            #[test]
            fn a_look_alike_or_foreign_symbol_is_refused(
                symbols in proptest::collection::vec(0usize..31, 7),
                intruder in "[01ILOilo_+.]",
                at in 0usize..8,
            ) {
                let mut typed: Vec<char> = symbols.iter().map(|i| char::from(ALPHABET[*i])).collect();
                typed.insert(at, intruder.chars().next().unwrap());
                let typed: String = typed.into_iter().collect();
                prop_assert!(RecoveryCode::parse(&typed).is_none());
            }
        }
    }
}
