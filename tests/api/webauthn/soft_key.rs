//! A software authenticator for the tests, the smallest honest one: an ES256 key per
//! credential, "none" attestation, a signature counter, user verification given or not,
//! and discoverable credentials that return their user handle. It answers the options the
//! server hands out with the JSON a browser's `navigator.credentials` would, signing what a
//! real authenticator signs (W3C WebAuthn §6.1, §6.3.3, §6.5), so the server's checks run
//! for real. (webauthn-authenticator-rs 0.6 pulls a second RustCrypto generation whose `rsa`
//! clashes with jsonwebtoken's, and its soft passkey keeps no discoverable credentials.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToSec1Point as _;
use rand_core::RngCore as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Authenticator data flags (W3C WebAuthn §6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const ATTESTED_CREDENTIAL: u8 = 0x40;

/// One credential the key holds.
#[derive(Clone)]
pub struct Held {
    pub id: Vec<u8>,
    key: SigningKey,
    rp_id: String,
    user_handle: Vec<u8>,
}

/// A software authenticator.
#[derive(Clone)]
pub struct SoftKey {
    /// The origin its browser reports (`http://localhost:PORT`).
    pub origin: String,
    /// Whether it verifies its user (a PIN or biometric) when asked.
    pub user_verifies: bool,
    /// Whether its credentials are backup eligible (a synced passkey).
    pub backup_eligible: bool,
    /// The signature counter of its next assertion, less one; `None`: it keeps none (0).
    pub counter: Option<u32>,
    /// Its credentials.
    pub held: Vec<Held>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .expect("base64url")
}

impl SoftKey {
    /// A key that verifies its user and counts its signatures.
    pub fn new(origin: &str) -> SoftKey {
        SoftKey {
            origin: origin.to_owned(),
            user_verifies: true,
            backup_eligible: false,
            counter: Some(0),
            held: Vec::new(),
        }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": options["publicKey"]["challenge"],
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn flags(&self, verify: bool) -> u8 {
        let mut flags = USER_PRESENT;
        if verify {
            flags |= USER_VERIFIED;
        }
        if self.backup_eligible {
            flags |= BACKUP_ELIGIBLE;
        }
        flags
    }

    /// Answers `navigator.credentials.create()` options: a new credential.
    pub fn create(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let rp_id = public_key["rp"]["id"].as_str().expect("rp.id").to_owned();
        let user_handle = unb64(public_key["user"]["id"].as_str().expect("user.id"));
        let mut secret = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut secret);
        let key = SigningKey::from_slice(&secret).expect("a P-256 scalar");
        let mut id = vec![0u8; 16];
        rand_core::OsRng.fill_bytes(&mut id);
        let point = key.verifying_key().as_affine().to_sec1_point(false);
        let cose = Cbor::map(vec![
            (Cbor::Int(1), Cbor::Int(2)),
            (Cbor::Int(3), Cbor::Int(-7)),
            (Cbor::Int(-1), Cbor::Int(1)),
            (Cbor::Int(-2), Cbor::Bytes(point.x().expect("x").to_vec())),
            (Cbor::Int(-3), Cbor::Bytes(point.y().expect("y").to_vec())),
        ]);
        let verify = self.user_verifies
            && public_key["authenticatorSelection"]["userVerification"] != "discouraged";
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(verify) | ATTESTED_CREDENTIAL);
        auth_data.extend_from_slice(&self.counter.unwrap_or(0).to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]);
        auth_data.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend(cose.encode());
        let attestation = Cbor::map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]);
        let client_data = self.client_data("webauthn.create", options);
        self.held.push(Held {
            id: id.clone(),
            key,
            rp_id,
            user_handle,
        });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation.encode()),
                "clientDataJSON": b64(&client_data),
            },
            "extensions": {},
        })
    }

    /// Answers `navigator.credentials.get()` options with the first credential they allow
    /// (any of its own for a discoverable request, which returns the user handle).
    pub fn get(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let allowed: Vec<Vec<u8>> = public_key["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().expect("id")))
                    .collect()
            })
            .unwrap_or_default();
        let held = self
            .held
            .iter()
            .find(|held| allowed.is_empty() || allowed.contains(&held.id))
            .expect("a credential the options allow")
            .clone();
        let rp_id = public_key["rpId"].as_str().unwrap_or(&held.rp_id);
        assert_eq!(rp_id, held.rp_id, "asked for another relying party");
        let verify = self.user_verifies && public_key["userVerification"] != "discouraged";
        if let Some(counter) = &mut self.counter {
            *counter += 1;
        }
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(verify));
        auth_data.extend_from_slice(&self.counter.unwrap_or(0).to_be_bytes());
        let client_data = self.client_data("webauthn.get", options);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = held.key.sign(&signed);
        let user_handle = allowed.is_empty().then(|| b64(&held.user_handle));
        json!({
            "id": b64(&held.id),
            "rawId": b64(&held.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": user_handle,
            },
            "extensions": {},
        })
    }
}

/// The little CBOR (RFC 8949) an attestation needs: small integers, byte and text strings,
/// and maps.
enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Map(Vec<(Cbor, Cbor)>),
}

impl Cbor {
    fn map(entries: Vec<(Cbor, Cbor)>) -> Cbor {
        Cbor::Map(entries)
    }

    fn head(major: u8, length: u64, out: &mut Vec<u8>) {
        let major = major << 5;
        match length {
            0..=23 => out.push(major | length as u8),
            24..=0xff => out.extend([major | 24, length as u8]),
            0x100..=0xffff => {
                out.push(major | 25);
                out.extend((length as u16).to_be_bytes());
            }
            _ => {
                out.push(major | 26);
                out.extend((length as u32).to_be_bytes());
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Int(n) if *n >= 0 => Cbor::head(0, *n as u64, out),
            Cbor::Int(n) => Cbor::head(1, (-1 - *n) as u64, out),
            Cbor::Bytes(bytes) => {
                Cbor::head(2, bytes.len() as u64, out);
                out.extend(bytes);
            }
            Cbor::Text(text) => {
                Cbor::head(3, text.len() as u64, out);
                out.extend(text.as_bytes());
            }
            Cbor::Map(entries) => {
                Cbor::head(5, entries.len() as u64, out);
                for (key, value) in entries {
                    key.write(out);
                    value.write(out);
                }
            }
        }
    }
}
