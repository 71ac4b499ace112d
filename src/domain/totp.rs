//! Time-based one-time passwords: RFC 4226 (HOTP) and RFC 6238 (TOTP) with HMAC-SHA1,
//! 6 digits and 30-second steps, the parameters every authenticator app supports.
//!
//! Verification is pure: it takes `now` and the last accepted step and says which step a
//! code matches. Remembering the step is the store's job, with a conditional update, so
//! that a code is accepted once even across nodes.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::domain::ids::random_bytes;
use crate::domain::time::UnixTime;

/// RFC 6238 §4.1: the time step X, in seconds.
pub const RFC6238_STEP_SECONDS: i64 = 30;
/// RFC 4226 §5.3: the number of digits shown.
pub const DIGITS: u32 = 6;
/// RFC 4226 §4 (R6) recommends 160-bit shared secrets.
pub const SECRET_BYTES: usize = 20;

/// A shared secret; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; SECRET_BYTES]);

impl TotpSecret {
    /// A fresh secret from the OS CSPRNG.
    pub fn generate() -> Self {
        TotpSecret(random_bytes::<SECRET_BYTES>())
    }

    /// A secret from stored bytes; `None` unless exactly 20 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(TotpSecret)
    }

    /// The raw bytes (to seal for storage).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// Why a typed code is refused before any arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not six digits (spaces aside).
    #[error("a code is six digits")]
    Malformed,
}

/// A typed code: six digits, spaces removed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code(u32);

impl Code {
    /// Parses what a person typed: spaces (and tabs) are ignored, anything else but digits
    /// is refused, and there must be exactly six digits.
    pub fn parse(typed: &str) -> Result<Code, CodeError> {
        let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::Malformed);
        }
        digits.parse().map(Code).map_err(|_| CodeError::Malformed)
    }

    /// The code as a number.
    pub fn value(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

/// RFC 4226 §5.3: HOTP(K, C) truncated to `digits` digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = match <Hmac<Sha1> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => return 0,
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // RFC 4226 §5.4: dynamic truncation.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(digits)
}

/// RFC 6238 §4.2: the step counter T at a time (T0 = 0).
pub fn step_at(now: UnixTime) -> i64 {
    now.0.div_euclid(RFC6238_STEP_SECONDS)
}

/// The six-digit code for a step.
pub fn code_at_step(secret: &TotpSecret, step: i64) -> u32 {
    hotp(secret.as_bytes(), u64::try_from(step).unwrap_or(0), DIGITS)
}

/// What a code matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A step after the last accepted one: accept it and remember `step`.
    Accepted {
        /// The matched step.
        step: i64,
    },
    /// It matches only a step already accepted (or earlier): a replay.
    Replayed,
    /// It matches no step in the window.
    Invalid,
}

/// Checks `code` against the steps `now ± skew_steps`, given the last accepted step.
/// Every step in the window is computed and compared in constant time, so the time taken
/// says nothing about which step (if any) matched.
pub fn verify(
    secret: &TotpSecret,
    code: Code,
    now: UnixTime,
    skew_steps: u32,
    last_step: Option<i64>,
) -> Verdict {
    let current = step_at(now);
    let skew = i64::from(skew_steps);
    let mut fresh: Option<i64> = None;
    let mut replayed = false;
    for step in (current - skew)..=(current + skew) {
        if step < 0 {
            continue;
        }
        // Security: constant-time comparison of the expected and typed codes.
        let matches: bool = code_at_step(secret, step)
            .to_be_bytes()
            .ct_eq(&code.value().to_be_bytes())
            .into();
        if matches {
            if last_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else if fresh.is_none() {
                fresh = Some(step);
            }
        }
    }
    match (fresh, replayed) {
        (Some(step), _) => Verdict::Accepted { step },
        (None, true) => Verdict::Replayed,
        (None, false) => Verdict::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(
                hotp(RFC_SECRET, counter as u64, 6),
                *code,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        // Appendix B lists 8-digit codes; the SHA-1 rows use the 20-byte ASCII seed.
        let vectors = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time, code) in vectors {
            let step = step_at(UnixTime(time));
            assert_eq!(hotp(RFC_SECRET, step as u64, 8), code, "time {time}");
        }
    }

    #[test]
    fn six_digit_codes_are_the_last_six_of_the_rfc_values() {
        let secret = TotpSecret::from_bytes(RFC_SECRET).unwrap();
        assert_eq!(code_at_step(&secret, step_at(UnixTime(59))), 287082);
        assert_eq!(code_at_step(&secret, step_at(UnixTime(1111111109))), 81804);
    }

    #[test]
    fn step_edges_fall_on_multiples_of_thirty() {
        assert_eq!(step_at(UnixTime(0)), 0);
        assert_eq!(step_at(UnixTime(29)), 0);
        assert_eq!(step_at(UnixTime(30)), 1);
        assert_eq!(step_at(UnixTime(59)), 1);
        assert_eq!(step_at(UnixTime(60)), 2);
    }

    fn code(secret: &TotpSecret, time: i64) -> Code {
        Code(code_at_step(secret, step_at(UnixTime(time))))
    }

    #[test]
    fn the_window_is_one_step_either_side_by_default() {
        let secret = TotpSecret::generate();
        let now = UnixTime(1_800_000_015);
        assert_eq!(
            verify(&secret, code(&secret, now.0), now, 1, None),
            Verdict::Accepted { step: step_at(now) }
        );
        assert_eq!(
            verify(&secret, code(&secret, now.0 - 30), now, 1, None),
            Verdict::Accepted {
                step: step_at(now) - 1
            }
        );
        assert_eq!(
            verify(&secret, code(&secret, now.0 + 30), now, 1, None),
            Verdict::Accepted {
                step: step_at(now) + 1
            }
        );
        assert_eq!(
            verify(&secret, code(&secret, now.0 - 60), now, 1, None),
            Verdict::Invalid
        );
        assert_eq!(
            verify(&secret, code(&secret, now.0 + 60), now, 1, None),
            Verdict::Invalid
        );
        // skew 0: only the current step.
        assert_eq!(
            verify(&secret, code(&secret, now.0 - 30), now, 0, None),
            Verdict::Invalid
        );
        // skew 2 reaches a minute either side.
        assert!(matches!(
            verify(&secret, code(&secret, now.0 + 60), now, 2, None),
            Verdict::Accepted { .. }
        ));
    }

    #[test]
    fn a_used_or_earlier_step_is_a_replay() {
        let secret = TotpSecret::generate();
        let now = UnixTime(1_800_000_015);
        let current = step_at(now);
        let typed = code(&secret, now.0);
        assert_eq!(
            verify(&secret, typed, now, 1, Some(current)),
            Verdict::Replayed
        );
        assert_eq!(
            verify(&secret, typed, now, 1, Some(current + 1)),
            Verdict::Replayed
        );
        assert_eq!(
            verify(&secret, typed, now, 1, Some(current - 1)),
            Verdict::Accepted { step: current }
        );
        // The previous step's code, after the current one was used: a replay too.
        let previous = code(&secret, now.0 - 30);
        assert_eq!(
            verify(&secret, previous, now, 1, Some(current)),
            Verdict::Replayed
        );
    }

    #[test]
    fn typed_codes_ignore_spaces_and_refuse_anything_else() {
        assert_eq!(Code::parse("123456").map(Code::value), Ok(123456));
        assert_eq!(Code::parse(" 123 456 ").map(Code::value), Ok(123456));
        assert_eq!(Code::parse("012345").map(Code::value), Ok(12345));
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "123-456",
            "１２３４５６",
            "+12345",
            "-12345",
        ] {
            assert_eq!(Code::parse(bad), Err(CodeError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_160_bits_and_base32_without_padding() {
        let secret = TotpSecret::generate();
        let encoded = secret.to_base32();
        assert_eq!(encoded.len(), 32);
        assert!(!encoded.contains('='));
        assert_eq!(
            data_encoding::BASE32_NOPAD
                .decode(encoded.as_bytes())
                .unwrap(),
            secret.as_bytes()
        );
        assert_ne!(TotpSecret::generate(), secret);
        assert!(format!("{secret:?}").contains("redacted"));
        assert!(TotpSecret::from_bytes(&[0; 19]).is_none());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_six_digits_with_spaces_anywhere_parse_to_the_digits(
                digits in "[0-9]{6}",
                spaces in proptest::collection::vec(" {0,2}", 7),
            ) {
                let mut typed = String::new();
                for (i, digit) in digits.chars().enumerate() {
                    typed.push_str(&spaces[i]);
                    typed.push(digit);
                }
                typed.push_str(&spaces[6]);
                prop_assert_eq!(Code::parse(&typed).map(Code::value), Ok(digits.parse::<u32>().unwrap()));
            }

            #[test]
            fn anything_with_a_non_digit_is_refused(
                digits in "[0-9]{5}",
                intruder in "[^0-9\\s]",
                at in 0usize..6,
            ) {
                let mut typed: Vec<char> = digits.chars().collect();
                typed.insert(at, intruder.chars().next().unwrap());
                let typed: String = typed.into_iter().collect();
                prop_assert_eq!(Code::parse(&typed), Err(CodeError::Malformed));
            }

            #[test]
            fn the_wrong_number_of_digits_is_refused(digits in "[0-9]{0,5}|[0-9]{7,12}") {
                prop_assert_eq!(Code::parse(&digits), Err(CodeError::Malformed));
            }
        }
    }
}
