//! Passwords: the strength rule for new ones, and argon2id hashing with the OWASP
//! parameters (19 MiB, t=2, p=1). Pure CPU work; [`crate::password_pool`] decides where it
//! runs.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::OsRng;
use serde::Deserialize;
use std::fmt;
use subtle::ConstantTimeEq;

/// Fewest characters a password may have (NIST SP 800-63B §5.1.1.2 asks for at least 8).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most bytes accepted, so that hashing and strength estimation stay bounded.
pub const MAX_PASSWORD_BYTES: usize = 256;
/// The zxcvbn score (0–4) a new password must reach.
pub const MIN_STRENGTH_SCORE: u8 = 3;
/// zxcvbn's cost grows quickly with length; a prefix this long decides strength.
const STRENGTH_PREFIX_CHARS: usize = 64;

/// OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// argon2 iterations.
pub const ARGON2_ITERATIONS: u32 = 2;
/// argon2 lanes.
pub const ARGON2_PARALLELISM: u32 = 1;

/// A password as typed; `Debug` is redacted so it never reaches a log.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// Wraps a typed password.
    pub fn new(text: impl Into<String>) -> Self {
        Password(text.into())
    }

    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a new password is refused; the message helps the person choose a better one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WeakPassword {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("Use at least {MIN_PASSWORD_CHARS} characters.")]
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    #[error("Use at most {MAX_PASSWORD_BYTES} bytes.")]
    TooLong,
    /// Easy to guess; carries zxcvbn's feedback.
    #[error("This password is too easy to guess. {0}")]
    Guessable(String),
}

/// Checks a new password; `context` holds words the password should not lean on
/// (the e-mail address, the person's name).
pub fn check_strength(password: &Password, context: &[&str]) -> Result<(), WeakPassword> {
    let text = password.expose();
    if text.chars().count() < MIN_PASSWORD_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(WeakPassword::TooLong);
    }
    let prefix: String = text.chars().take(STRENGTH_PREFIX_CHARS).collect();
    let estimate = zxcvbn::zxcvbn(&prefix, context);
    if u8::from(estimate.score()) >= MIN_STRENGTH_SCORE {
        return Ok(());
    }
    let mut advice = Vec::new();
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            advice.push(warning.to_string());
        }
        advice.extend(feedback.suggestions().iter().map(ToString::to_string));
    }
    if advice.is_empty() {
        advice.push("Add another word or two; uncommon words are better.".to_owned());
    }
    Err(WeakPassword::Guessable(advice.join(" ")))
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashing failed (only on resource exhaustion or corrupted parameters).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    /// The worker pool is gone (the server is shutting down).
    pub fn unavailable() -> Self {
        HashError("hashing workers unavailable".to_owned())
    }
}

/// Hashes a password into a PHC string with a fresh 128-bit salt from the OS CSPRNG.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks a password against a stored PHC string, using the parameters recorded in it.
/// A malformed stored hash verifies nothing.
pub fn verify_password(password: &Password, phc: &str) -> bool {
    // Security: argon2's verifier compares the digests in constant time.
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// argon2 working memory kept between verifications, so that a verify allocates nothing
/// (allocating and faulting in 19 MiB costs about a third of a verify, and a fresh block per
/// call lets the allocator keep one per thread that ever ran one).
pub struct Scratch(Vec<Block>);

impl Scratch {
    /// Empty; it grows to the parameters' size on first use and stays there.
    pub fn new() -> Self {
        Scratch(Vec::new())
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// [`hash_password`], computing in `scratch` instead of fresh memory.
pub fn hash_password_in(password: &Password, scratch: &mut Scratch) -> Result<String, HashError> {
    let failed = |e: &dyn fmt::Display| HashError(e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| failed(&e))?;
    let params = argon2().params().clone();
    let blocks = params.block_count();
    if scratch.0.len() < blocks {
        scratch.0.resize(blocks, Block::default());
    }
    let mut output = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt_raw,
            &mut output,
            &mut scratch.0[..blocks],
        )
        .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: params.try_into().map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// [`verify_password`], computing in `scratch` instead of fresh memory. Any argon2 PHC
/// string verifies (its own parameters are used); a malformed one verifies nothing.
pub fn verify_password_in(password: &Password, phc: &str, scratch: &mut Scratch) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if scratch.0.len() < blocks {
        scratch.0.resize(blocks, Block::default());
    }
    let mut output = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.expose().as_bytes(),
        salt,
        &mut output,
        &mut scratch.0[..blocks],
    );
    // Security: the digests are compared in constant time.
    computed.is_ok() && bool::from(output.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_in_scratch_memory_agrees_with_the_reference_verifier() {
        let password = Password::new("violet anchor drifts seven lanterns");
        let phc = hash_password(&password).unwrap_or_default();
        let mut scratch = Scratch::new();
        assert!(verify_password(&password, &phc));
        assert!(verify_password_in(&password, &phc, &mut scratch));
        // Reused memory holds the previous run; the answer must not depend on it.
        assert!(verify_password_in(&password, &phc, &mut scratch));
        let wrong = Password::new("violet anchor drifts seven lanterns!");
        assert!(!verify_password_in(&wrong, &phc, &mut scratch));
        assert!(!verify_password_in(
            &password,
            "$argon2id$v=19$garbage",
            &mut scratch
        ));
        assert!(!verify_password_in(&password, "", &mut scratch));
        // Other parameters are honoured (smaller memory, more passes).
        let params = Params::new(8 * 1024, 3, 1, None).unwrap_or_default();
        let salt = SaltString::generate(&mut OsRng);
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(verify_password_in(&password, &other, &mut scratch));
        assert!(!verify_password_in(&wrong, &other, &mut scratch));
        // Hashing in scratch memory gives a standard PHC string the reference accepts.
        let made = hash_password_in(&password, &mut scratch).unwrap_or_default();
        assert!(
            made.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{made}"
        );
        assert!(verify_password(&password, &made));
        assert!(!verify_password(&wrong, &made));
        assert_ne!(
            made,
            hash_password_in(&password, &mut scratch).unwrap_or_default()
        );
    }

    #[test]
    fn strong_passphrase_passes() {
        let strong = Password::new("violet anchor drifts seven lanterns");
        assert_eq!(check_strength(&strong, &["ada@example.com"]), Ok(()));
    }

    #[test]
    fn short_long_and_guessable_passwords_are_refused_with_advice() {
        assert_eq!(
            check_strength(&Password::new("Ab1!"), &[]),
            Err(WeakPassword::TooShort)
        );
        let long = Password::new("x".repeat(MAX_PASSWORD_BYTES + 1));
        assert_eq!(check_strength(&long, &[]), Err(WeakPassword::TooLong));
        match check_strength(&Password::new("password123"), &[]) {
            Err(WeakPassword::Guessable(advice)) => assert!(!advice.is_empty()),
            other => panic!("expected Guessable, got {other:?}"),
        }
    }

    #[test]
    fn a_password_built_from_the_email_is_refused() {
        let result = check_strength(
            &Password::new("adalovelace1815"),
            &["adalovelace1815@example.com", "adalovelace1815"],
        );
        assert!(matches!(result, Err(WeakPassword::Guessable(_))));
    }

    #[test]
    fn hash_uses_owasp_argon2id_parameters_and_verifies() {
        let password = Password::new("violet anchor drifts seven lanterns");
        let phc = hash_password(&password).unwrap_or_default();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(&password, &phc));
        assert!(!verify_password(
            &Password::new("violet anchor drifts seven lantern"),
            &phc
        ));
        assert!(!verify_password(&password, "not a phc string"));
    }

    #[test]
    fn password_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Password::new("hunter22")),
            "Password(<redacted>)"
        );
    }
}
