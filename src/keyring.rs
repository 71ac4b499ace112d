//! The master key file. It holds one or more 256-bit keys, one per line as
//! `KEY_ID BASE64`, the first line being the key new secrets are sealed under; older lines
//! stay readable until re-encryption is complete. Created with mode 0600 on first start.
//! Purpose keys are derived from a master key with HMAC-SHA256, so the raw master key is
//! used for nothing directly. Secrets are sealed with XChaCha20-Poly1305 (random 192-bit
//! nonces, so random nonces never collide in practice) under the current key, with the
//! owner's id as associated data: a sealed secret copied to another account does not open.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::ids::random_bytes;
pub use crate::domain::sealed::{KeyId, Sealed};

/// A 256-bit key; `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey {
    /// Its id.
    pub id: KeyId,
    bytes: [u8; 32],
}

impl MasterKey {
    /// The raw key material.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// A key for one purpose, derived with HMAC-SHA256(master, "deadbolt/" + purpose).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.bytes) {
            Ok(mac) => mac,
            // HMAC accepts keys of any length; this arm is unreachable.
            Err(_) => return [0; 32],
        };
        mac.update(b"deadbolt/");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.id.0)
    }
}

/// Problems with the master key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The file could not be read or created.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not `KEY_ID BASE64` with a 32-byte key.
    #[error("master key file {path}: line {line} is not `KEY_ID BASE64-OF-32-BYTES`")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// The file holds no key.
    #[error("master key file {0}: holds no key")]
    Empty(PathBuf),
}

/// Nonce length of XChaCha20-Poly1305.
const NONCE_BYTES: usize = 24;

/// A sealed secret could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key it names is not in the key file.
    #[error("sealed under key {0:?}, which the master key file does not hold")]
    UnknownKey(String),
    /// Tampered with, or sealed for another owner.
    #[error("sealed secret failed authentication")]
    Corrupt,
}

fn cipher(key: &MasterKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&key.derive("seal").into())
}

/// The keys of the master key file, current first.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// Reads the key file, creating it (mode 0600, one fresh key) when absent.
    /// Returns the keyring and whether the file was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyringError> {
        let io = |source| KeyringError::Io {
            path: path.to_owned(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(&text, path)?, false)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey {
                    id: KeyId(format!("k{}", hex::encode(random_bytes::<4>()))),
                    bytes: random_bytes::<32>(),
                };
                let line = format!("{} {}\n", key.id.0, STANDARD.encode(key.bytes));
                let mut options = OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path).map_err(io)?;
                file.write_all(line.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok((Self { keys: vec![key] }, true))
            }
            Err(error) => Err(io(error)),
        }
    }

    /// Parses the file format; `path` is for errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, KeyringError> {
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = || KeyringError::Malformed {
                path: path.to_owned(),
                line: index + 1,
            };
            let (id, encoded) = line.split_once(' ').ok_or_else(malformed)?;
            let bytes: [u8; 32] = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(malformed)?;
            keys.push(MasterKey {
                id: KeyId(id.to_owned()),
                bytes,
            });
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty(path.to_owned()));
        }
        Ok(Self { keys })
    }

    /// The key new secrets are sealed under.
    pub fn current(&self) -> &MasterKey {
        // `parse` and `load_or_create` never build an empty keyring.
        &self.keys[0]
    }

    /// The key with this id, if the file still holds it.
    pub fn get(&self, id: &KeyId) -> Option<&MasterKey> {
        self.keys.iter().find(|key| &key.id == id)
    }

    /// Every key, current first.
    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    /// Seals `secret` under the current key, bound to `owner`.
    pub fn seal(&self, secret: &[u8], owner: &[u8]) -> Sealed {
        let key = self.current();
        let nonce = random_bytes::<NONCE_BYTES>();
        let payload = Payload {
            msg: secret,
            aad: owner,
        };
        let mut blob = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail for inputs this small.
        if let Ok(ciphertext) = cipher(key).encrypt(XNonce::from_slice(&nonce), payload) {
            blob.extend(ciphertext);
        }
        Sealed {
            key_id: key.id.clone(),
            blob,
        }
    }

    /// Opens a sealed secret bound to `owner`.
    pub fn open(&self, sealed: &Sealed, owner: &[u8]) -> Result<Vec<u8>, SealError> {
        let key = self
            .get(&sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey(sealed.key_id.0.clone()))?;
        if sealed.blob.len() < NONCE_BYTES {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.blob.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: ciphertext,
            aad: owner,
        };
        cipher(key)
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SealError::Corrupt)
    }

    /// This keyring with a fresh key in front (the first step of a rotation).
    pub fn with_new_key(&self) -> Keyring {
        let mut keys = vec![MasterKey {
            id: KeyId(format!("k{}", hex::encode(random_bytes::<4>()))),
            bytes: random_bytes::<32>(),
        }];
        keys.extend(self.keys.iter().cloned());
        Keyring { keys }
    }

    /// This keyring with only its current key (the last step of a rotation).
    pub fn current_only(&self) -> Keyring {
        Keyring {
            keys: vec![self.current().clone()],
        }
    }

    /// Writes the keyring to `path` atomically (temporary file, fsync, rename), mode 0600.
    pub fn write(&self, path: &Path) -> Result<(), KeyringError> {
        let io = |source| KeyringError::Io {
            path: path.to_owned(),
            source,
        };
        let text: String = self
            .keys
            .iter()
            .map(|key| format!("{} {}\n", key.id.0, STANDARD.encode(key.bytes)))
            .collect();
        let temporary = path.with_extension("key.tmp");
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temporary).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(directory) = std::fs::File::open(parent) {
                directory.sync_all().map_err(io)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_0600_file_once_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deadbolt.key");
        let (created, was_created) = Keyring::load_or_create(&path).unwrap();
        assert!(was_created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (loaded, was_created) = Keyring::load_or_create(&path).unwrap();
        assert!(!was_created);
        assert_eq!(loaded.current().bytes(), created.current().bytes());
        assert_eq!(loaded.current().id, created.current().id);
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_from_the_master() {
        let dir = tempfile::tempdir().unwrap();
        let (ring, _) = Keyring::load_or_create(&dir.path().join("k")).unwrap();
        let key = ring.current();
        assert_ne!(key.derive("recovery-codes"), key.derive("webhook"));
        assert_ne!(&key.derive("recovery-codes"), key.bytes());
        assert_eq!(key.derive("x"), key.derive("x"));
    }

    #[test]
    fn malformed_and_empty_files_are_refused() {
        let path = Path::new("k");
        assert!(matches!(
            Keyring::parse("k1 not-base64!!\n", path),
            Err(KeyringError::Malformed { line: 1, .. })
        ));
        assert!(matches!(
            Keyring::parse("# only a comment\n", path),
            Err(KeyringError::Empty(_))
        ));
        let short = format!("k1 {}\n", STANDARD.encode([1u8; 16]));
        assert!(Keyring::parse(&short, path).is_err());
    }

    #[test]
    fn sealed_secrets_open_only_for_their_owner_and_survive_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (ring, _) = Keyring::load_or_create(&path).unwrap();
        let sealed = ring.seal(b"twenty byte secret!!", b"account-1");
        assert!(!sealed
            .blob
            .windows(20)
            .any(|w| w == b"twenty byte secret!!"));
        assert_eq!(
            ring.open(&sealed, b"account-1").unwrap(),
            b"twenty byte secret!!"
        );
        assert_eq!(ring.open(&sealed, b"account-2"), Err(SealError::Corrupt));
        let mut tampered = sealed.clone();
        let last = tampered.blob.len() - 1;
        tampered.blob[last] ^= 1;
        assert_eq!(ring.open(&tampered, b"account-1"), Err(SealError::Corrupt));

        // Rotation: the new key seals, the old still opens, until it is dropped.
        let rotated = ring.with_new_key();
        rotated.write(&path).unwrap();
        let (reloaded, _) = Keyring::load_or_create(&path).unwrap();
        assert_ne!(reloaded.current().id, ring.current().id);
        assert_eq!(
            reloaded.open(&sealed, b"account-1").unwrap(),
            b"twenty byte secret!!"
        );
        let resealed = reloaded.seal(b"twenty byte secret!!", b"account-1");
        assert_eq!(resealed.key_id, reloaded.current().id);
        let pruned = reloaded.current_only();
        assert!(matches!(
            pruned.open(&sealed, b"account-1"),
            Err(SealError::UnknownKey(_))
        ));
        assert!(pruned.open(&resealed, b"account-1").is_ok());
    }

    #[test]
    fn first_line_is_current_and_older_keys_stay_readable() {
        let text = format!(
            "k2 {}\nk1 {}\n",
            STANDARD.encode([2u8; 32]),
            STANDARD.encode([1u8; 32])
        );
        let ring = Keyring::parse(&text, Path::new("k")).unwrap();
        assert_eq!(ring.current().id, KeyId("k2".into()));
        assert_eq!(ring.get(&KeyId("k1".into())).map(|k| k.bytes()[0]), Some(1));
        assert!(format!("{:?}", ring.current()).contains("redacted"));
    }
}
