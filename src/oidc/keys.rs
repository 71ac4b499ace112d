//! The ID-token signing keys: an ES256 (P-256) key, which signs by default, and an EdDSA
//! (Ed25519) key, offered too. Both are generated from the OS CSPRNG by the first node to
//! start and kept as one instance secret, `oidc-signing-keys`, sealed under the master key
//! like the recovery-code key (`secrets.rs`), so a master key rotation re-seals them.
//!
//! The sealed value is a key set (JSON): every key with its `kid`, algorithm and creation
//! time, newest first. The newest key of an algorithm that is not retired signs; every key
//! in the set is published in the JWKS. A roll ([`roll`], by `deadbolt keys rotate`) puts a
//! new key of each algorithm in front and retires the ones that signed, by a conditional
//! replace of the sealed value (`Store::reseal`, which publishes, so every node signs with
//! the new keys and publishes them from its next request). A retired key stays published
//! for [`RETIRED_KEY_SECONDS`], far longer than anything it signed lives, so relying
//! parties can always verify what they hold; the first roll after that drops it.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    PublicKeyUse,
};
use jsonwebtoken::{Algorithm, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};

use crate::domain::ids::random_bytes;
pub use crate::domain::oidc::SigningAlgorithm;
use crate::domain::sealed::Sealed;
use crate::domain::time::UnixTime;
use crate::keyring::{Keyring, SealError};
use crate::secrets::{associated_data, SecretError};
use crate::store::{SealedSlot, Store, StoreError};

/// Name of the sealed signing key set.
pub const SIGNING_KEYS: &str = "oidc-signing-keys";

/// `value` as one segment of a JWS: its JSON, base64url without padding.
fn segment(value: &impl Serialize) -> Result<String, KeyError> {
    let json = serde_json::to_vec(value).map_err(|error| KeyError::Sign(error.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The JOSE algorithm of `alg`.
fn jose(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::ES256 => Algorithm::ES256,
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// How long a retired key stays published: an ID token lives 10 minutes and a logout token
/// 2, but an `id_token_hint` is accepted expired, and relying parties keep a JWKS a while.
pub const RETIRED_KEY_SECONDS: i64 = 24 * 3600;

/// One key as sealed: its 32-byte private scalar or seed.
#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    alg: SigningAlgorithm,
    secret: String,
    created_at: i64,
    /// When a roll put a newer key of its algorithm in front (it signs no more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at: Option<i64>,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredKeySet {
    keys: Vec<StoredKey>,
}

/// A private key, parsed once: a JWT library that takes the key as PKCS#8 bytes parses it
/// again for every signature, and for P-256 that parse computes the public point, a scalar
/// multiplication as costly as the signature itself.
///
/// ES256 signs with ring (already in the tree for TLS): its P-256 is written for speed
/// (assembly, precomputed tables), and signing was a third of a code exchange's CPU with the
/// `p256` crate's portable arithmetic. Its nonce comes from the OS CSPRNG, hedged with the
/// key and the message. `p256` still checks the stored scalar and gives the public point.
enum Signer {
    Es256(Box<EcdsaKeyPair>),
    EdDsa(Box<ed25519_dalek::SigningKey>),
}

impl Signer {
    /// The JWS signature of `message` (RFC 7518 §3.4: `R || S` for ES256; RFC 8037 §3.1
    /// for EdDSA).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match self {
            Signer::Es256(key) => key
                .sign(&SystemRandom::new(), message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| KeyError::Sign("ES256 signing failed".to_owned())),
            Signer::EdDsa(key) => Ok(ed25519_dalek::Signer::sign(key.as_ref(), message)
                .to_bytes()
                .to_vec()),
        }
    }
}

/// A key ready to sign, with its public half.
struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    retired: bool,
    signer: Signer,
    public: Jwk,
}

/// The signing keys in force on this node.
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("SigningKeys").field("kids", &kids).finish()
    }
}

/// Why the signing keys could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The sealed set could not be read or opened.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A key in the set is malformed.
    #[error("signing key {0}: malformed")]
    Malformed(String),
    /// No key of this algorithm.
    #[error("no signing key for {0}")]
    Missing(&'static str),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

impl From<StoreError> for KeyError {
    fn from(error: StoreError) -> Self {
        KeyError::Secret(SecretError::Store(error))
    }
}

fn new_key(alg: SigningAlgorithm, now: UnixTime) -> StoredKey {
    // A P-256 scalar must be below the group order; 32 random bytes are, except with
    // probability about 2^-32, and `build` refuses one that is not (the caller retries).
    StoredKey {
        kid: URL_SAFE_NO_PAD.encode(random_bytes::<12>()),
        alg,
        secret: STANDARD.encode(random_bytes::<32>()),
        created_at: now.0,
        retired_at: None,
    }
}

/// A new key of each algorithm, each one that builds.
fn new_keys(now: UnixTime) -> Vec<StoredKey> {
    let mut keys = Vec::new();
    for alg in SigningAlgorithm::ALL {
        loop {
            let key = new_key(alg, now);
            if build(&key).is_ok() {
                keys.push(key);
                break;
            }
        }
    }
    keys
}

fn fresh_set(now: UnixTime) -> StoredKeySet {
    StoredKeySet {
        keys: new_keys(now),
    }
}

/// `set` rolled at `now`: new keys in front, the keys that signed retired, and keys retired
/// more than [`RETIRED_KEY_SECONDS`] ago dropped.
fn rolled(set: StoredKeySet, now: UnixTime) -> StoredKeySet {
    let mut keys = new_keys(now);
    for mut key in set.keys {
        let retired_at = *key.retired_at.get_or_insert(now.0);
        if retired_at + RETIRED_KEY_SECONDS > now.0 {
            keys.push(key);
        }
    }
    StoredKeySet { keys }
}

fn build(stored: &StoredKey) -> Result<SigningKey, KeyError> {
    use p256::elliptic_curve::sec1::ToSec1Point as _;
    let malformed = || KeyError::Malformed(stored.kid.clone());
    let secret: [u8; 32] = STANDARD
        .decode(&stored.secret)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(malformed)?;
    let common = |alg| CommonParameters {
        public_key_use: Some(PublicKeyUse::Signature),
        key_algorithm: Some(alg),
        key_id: Some(stored.kid.clone()),
        ..CommonParameters::default()
    };
    let (signer, public) = match stored.alg {
        SigningAlgorithm::ES256 => {
            let key = p256::SecretKey::from_slice(&secret).map_err(|_| malformed())?;
            let point = key.public_key().to_sec1_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(malformed());
            };
            let public = Jwk {
                common: common(KeyAlgorithm::ES256),
                algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: URL_SAFE_NO_PAD.encode(x),
                    y: URL_SAFE_NO_PAD.encode(y),
                }),
            };
            let pair = EcdsaKeyPair::from_private_key_and_public_key(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &secret,
                point.as_bytes(),
                &SystemRandom::new(),
            )
            .map_err(|_| malformed())?;
            (Signer::Es256(Box::new(pair)), public)
        }
        SigningAlgorithm::EdDSA => {
            let key = ed25519_dalek::SigningKey::from_bytes(&secret);
            let public = Jwk {
                common: common(KeyAlgorithm::EdDSA),
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
                }),
            };
            (Signer::EdDsa(Box::new(key)), public)
        }
    };
    Ok(SigningKey {
        kid: stored.kid.clone(),
        alg: stored.alg,
        retired: stored.retired_at.is_some(),
        signer,
        public,
    })
}

/// The sealed key set, created on first use (the first node to store one wins; the others
/// read its set). Remembered by the node between rolls (`Store::instance_secret`).
pub async fn sealed_set(
    store: &dyn Store,
    keys: &Keyring,
    now: UnixTime,
) -> Result<Sealed, KeyError> {
    if let Some(sealed) = store.instance_secret(SIGNING_KEYS).await? {
        return Ok(sealed);
    }
    let set = serde_json::to_vec(&fresh_set(now)).map_err(|_| malformed_set())?;
    let aad = associated_data(&slot());
    store
        .insert_instance_secret(SIGNING_KEYS, &keys.seal(&set, &aad))
        .await?;
    Ok(store
        .instance_secret(SIGNING_KEYS)
        .await?
        .ok_or(StoreError::NotFound)?)
}

fn slot() -> SealedSlot {
    SealedSlot::Instance(SIGNING_KEYS.to_owned())
}

fn malformed_set() -> KeyError {
    KeyError::Secret(SecretError::Seal {
        name: SIGNING_KEYS.to_owned(),
        source: SealError::Corrupt,
    })
}

fn open_set(sealed: &Sealed, keys: &Keyring) -> Result<StoredKeySet, KeyError> {
    let opened = keys
        .open(sealed, &associated_data(&slot()))
        .map_err(|source| {
            KeyError::Secret(SecretError::Seal {
                name: SIGNING_KEYS.to_owned(),
                source,
            })
        })?;
    serde_json::from_slice(&opened).map_err(|_| malformed_set())
}

/// What [`roll`] did.
#[derive(Debug)]
pub struct Roll {
    /// The keys that sign from now on.
    pub signing: Vec<String>,
    /// Keys still published, retired.
    pub retired: usize,
}

/// Rolls the signing keys (`deadbolt keys rotate`): a new key of each algorithm signs from
/// now on; see the module's comment. A conditional replace, tried again if another roll
/// replaced the set meanwhile.
pub async fn roll(store: &dyn Store, keys: &Keyring, now: UnixTime) -> Result<Roll, KeyError> {
    loop {
        let sealed = sealed_set(store, keys, now).await?;
        let set = rolled(open_set(&sealed, keys)?, now);
        let roll = Roll {
            signing: set
                .keys
                .iter()
                .filter(|key| key.retired_at.is_none())
                .map(|key| key.kid.clone())
                .collect(),
            retired: set
                .keys
                .iter()
                .filter(|key| key.retired_at.is_some())
                .count(),
        };
        let text = serde_json::to_vec(&set).map_err(|_| malformed_set())?;
        let fresh = keys.seal(&text, &associated_data(&slot()));
        if store.reseal(&slot(), &sealed, &fresh).await? {
            return Ok(roll);
        }
    }
}

impl SigningKeys {
    /// The keys of a sealed set.
    pub fn open(sealed: &Sealed, keys: &Keyring) -> Result<SigningKeys, KeyError> {
        let set = open_set(sealed, keys)?;
        let keys = set.keys.iter().map(build).collect::<Result<_, _>>()?;
        Ok(SigningKeys { keys })
    }

    /// The public keys, for the JWKS endpoint.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|key| key.public.clone()).collect(),
        }
    }

    /// Signs `claims` as a JWT with the newest key of `alg`.
    pub fn sign(&self, alg: SigningAlgorithm, claims: &impl Serialize) -> Result<String, KeyError> {
        let key = self
            .keys
            .iter()
            .find(|key| key.alg == alg && !key.retired)
            .ok_or(KeyError::Missing(alg.as_str()))?;
        let mut header = Header::new(jose(alg));
        header.kid = Some(key.kid.clone());
        // JWS Compact Serialization (RFC 7515 §7.1), signed with the key parsed at start.
        let message = format!("{}.{}", segment(&header)?, segment(claims)?);
        let signature = URL_SAFE_NO_PAD.encode(key.signer.sign(message.as_bytes())?);
        Ok(format!("{message}.{signature}"))
    }

    /// The claims of a JWT one of these keys signed (its `kid` names the key), expired or
    /// not, and for any audience: an `id_token_hint` (RP-Initiated Logout 1.0 §2) may have
    /// expired. `None` when no key here signed it.
    pub fn verify_hint(&self, token: &str) -> Option<serde_json::Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let key = self.keys.iter().find(|key| key.kid == kid)?;
        if header.alg != jose(key.alg) {
            return None;
        }
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&key.public).ok()?;
        let mut validation = jsonwebtoken::Validation::new(jose(key.alg));
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn each_key_signs_what_its_public_half_verifies() {
        let set = fresh_set(UnixTime(1));
        let keys = SigningKeys {
            keys: set
                .keys
                .iter()
                .map(build)
                .collect::<Result<_, _>>()
                .unwrap(),
        };
        let jwks = keys.jwks();
        assert_eq!(jwks.keys.len(), 2);
        for alg in SigningAlgorithm::ALL {
            let claims = serde_json::json!({"sub": "a", "aud": "c", "exp": 4_000_000_000_i64});
            let token = keys.sign(alg, &claims).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, jose(alg));
            let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
            let mut validation = Validation::new(jose(alg));
            validation.set_audience(&["c"]);
            let decoded = jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_jwk(jwk).unwrap(),
                &validation,
            )
            .unwrap();
            assert_eq!(decoded.claims["sub"], "a");
        }
    }

    #[test]
    fn a_stored_key_rebuilds_the_same_public_key() {
        let stored = fresh_set(UnixTime(1));
        let text = serde_json::to_vec(&stored).unwrap();
        let again: StoredKeySet = serde_json::from_slice(&text).unwrap();
        for (a, b) in stored.keys.iter().zip(&again.keys) {
            assert_eq!(build(a).unwrap().public, build(b).unwrap().public);
        }
    }
}
