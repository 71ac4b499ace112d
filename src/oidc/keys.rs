//! The ID-token signing keys: an ES256 (P-256) key, which signs by default, and an EdDSA
//! (Ed25519) key, offered too. Both are generated from the OS CSPRNG by the first node to
//! start and kept as one instance secret, `oidc-signing-keys`, sealed under the master key
//! like the recovery-code key (`secrets.rs`), so a master key rotation re-seals them.
//!
//! The sealed value is a key set (JSON): every key with its `kid`, algorithm and creation
//! time, newest first. The newest key of an algorithm signs; every key in the set is
//! published in the JWKS. A signing key rotation (`deadbolt keys rotate`, to come) puts a new
//! key in front by a conditional replace of the sealed value (`Store::reseal`) and drops an
//! old key only once the tokens it signed have expired, so relying parties can always
//! verify what they hold.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::domain::ids::random_bytes;
pub use crate::domain::oidc::SigningAlgorithm;
use crate::domain::time::UnixTime;
use crate::keyring::{Keyring, SealError};
use crate::secrets::{associated_data, SecretError};
use crate::store::{SealedSlot, Store, StoreError};

/// Name of the sealed signing key set.
pub const SIGNING_KEYS: &str = "oidc-signing-keys";

/// The JOSE algorithm of `alg`.
fn jose(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::ES256 => Algorithm::ES256,
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// One key as sealed: its 32-byte private scalar or seed.
#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    alg: SigningAlgorithm,
    secret: String,
    created_at: i64,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredKeySet {
    keys: Vec<StoredKey>,
}

/// A key ready to sign, with its public half.
struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    encoding: EncodingKey,
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
    }
}

fn fresh_set(now: UnixTime) -> StoredKeySet {
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
    StoredKeySet { keys }
}

fn build(stored: &StoredKey) -> Result<SigningKey, KeyError> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
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
    let (encoding, public) = match stored.alg {
        SigningAlgorithm::ES256 => {
            let key = p256::SecretKey::from_slice(&secret).map_err(|_| malformed())?;
            let der = key.to_pkcs8_der().map_err(|_| malformed())?;
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
            (EncodingKey::from_ec_der(der.as_bytes()), public)
        }
        SigningAlgorithm::EdDSA => {
            let key = ed25519_dalek::SigningKey::from_bytes(&secret);
            let der = key.to_pkcs8_der().map_err(|_| malformed())?;
            let public = Jwk {
                common: common(KeyAlgorithm::EdDSA),
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
                }),
            };
            (EncodingKey::from_ed_der(der.as_bytes()), public)
        }
    };
    Ok(SigningKey {
        kid: stored.kid.clone(),
        alg: stored.alg,
        encoding,
        public,
    })
}

impl SigningKeys {
    /// Loads the sealed key set, creating it on first use (the first node to start wins;
    /// the others read its set).
    pub async fn load_or_create(
        store: &dyn Store,
        keys: &Keyring,
        now: UnixTime,
    ) -> Result<SigningKeys, KeyError> {
        let slot = SealedSlot::Instance(SIGNING_KEYS.to_owned());
        let aad = associated_data(&slot);
        if store.instance_secret(SIGNING_KEYS).await?.is_none() {
            let set = serde_json::to_vec(&fresh_set(now))
                .map_err(|_| KeyError::Malformed("set".to_owned()))?;
            store
                .insert_instance_secret(SIGNING_KEYS, &keys.seal(&set, &aad))
                .await?;
        }
        let sealed = store
            .instance_secret(SIGNING_KEYS)
            .await?
            .ok_or(StoreError::NotFound)?;
        let opened = keys.open(&sealed, &aad).map_err(|source| {
            KeyError::Secret(SecretError::Seal {
                name: SIGNING_KEYS.to_owned(),
                source,
            })
        })?;
        let set: StoredKeySet = serde_json::from_slice(&opened).map_err(|_| {
            KeyError::Secret(SecretError::Seal {
                name: SIGNING_KEYS.to_owned(),
                source: SealError::Corrupt,
            })
        })?;
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
            .find(|key| key.alg == alg)
            .ok_or(KeyError::Missing(alg.as_str()))?;
        let mut header = Header::new(jose(alg));
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|error| KeyError::Sign(error.to_string()))
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
