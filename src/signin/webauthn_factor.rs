//! A security key or passkey as a second factor (answering a sign-in challenge) and as a
//! proof (SPEC §13): options naming the account's credentials, then the answer judged
//! against its ceremony (which a proof's judging spends, and a sign-in's completion) and
//! the credential as stored now. A signature counter that did not move forward is refused
//! and recorded (`webauthn_counter_anomaly`); what the counter moves to is claimed with the
//! rest of the completion, by one conditional update (`Judged::WebAuthn`).

use serde_json::json;
use webauthn_rs::prelude::WebauthnError;
use webauthn_rs::prelude::{PublicKeyCredential, SecurityKey, SecurityKeyAuthentication};

use super::factor::{Factor, Judged};
use super::webauthn::{credential_of, Options};
use super::{Denial, Error, SignIn};
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::{AccountId, Token};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::domain::webauthn::{judge_counter, key_amr, CounterVerdict, Purpose};
use crate::store::webauthn::StoredCredential;

/// Where the signature counter stands in authenticator data (W3C WebAuthn §6.1): after the
/// relying party id's hash (32 bytes) and the flags (1).
const COUNTER_AT: usize = 33;

/// The signature counter an assertion carries, if its authenticator data is long enough.
pub(super) fn presented_counter(answer: &PublicKeyCredential) -> Option<u32> {
    let data: &[u8] = answer.response.authenticator_data.as_ref();
    let bytes = data.get(COUNTER_AT..COUNTER_AT + 4)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

impl SignIn {
    /// Options for answering the challenge behind `token` with a security key or passkey:
    /// [`Denial::InvalidChallenge`] when it is not live, [`Denial::NotEnabled`] when its
    /// account has no credential.
    pub async fn start_challenge_webauthn(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<Options, Error> {
        let token = Token::from_presented(token).hash();
        let challenge = self.store().challenge(&token).await?;
        let challenge = challenge
            .filter(|challenge| now < challenge.expires_at)
            .ok_or(Denial::InvalidChallenge)?;
        let account = challenge.account_id;
        self.start_assertion(&account, Purpose::SecondFactor, now)
            .await
    }

    /// Options for confirming a change with one of `account`'s security keys or passkeys.
    pub async fn start_webauthn_proof(
        &self,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Options, Error> {
        self.start_assertion(account, Purpose::Proof, now).await
    }

    async fn start_assertion(
        &self,
        account: &AccountId,
        purpose: Purpose,
        now: UnixTime,
    ) -> Result<Options, Error> {
        let webauthn = self.relying_party()?.webauthn();
        let stored = self.store().credentials(account).await?;
        if stored.is_empty() {
            return Err(Denial::NotEnabled.into());
        }
        let keys = stored
            .iter()
            .map(|stored| credential_of(stored).map(SecurityKey::from))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = webauthn
            .start_securitykey_authentication(&keys)
            .map_err(|_| Error::Invariant("WebAuthn request options"))?;
        let mut options = serde_json::to_value(options)
            .map_err(|_| Error::Invariant("WebAuthn options that do not serialise"))?;
        // Any of the account's credentials may answer: a passkey on this device too, not
        // only a key on a cable.
        if let Some(fields) = options["publicKey"].as_object_mut() {
            fields.remove("hints");
        }
        self.open_ceremony(purpose, Some(account), &options, &state, now)
            .await?;
        Ok(options)
    }

    /// Judges `factor` as [`SignIn::judge`] does; a WebAuthn answer against `account`'s
    /// ceremony of `purpose` (which this spends) and its credentials as stored now.
    pub async fn judge_factor(
        &self,
        account: &AccountId,
        record: &TwoFactorRecord,
        factor: &Factor,
        purpose: Purpose,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Result<Judged, Denial>, Error> {
        match factor {
            Factor::WebAuthn(answer) => {
                self.judge_assertion(account, answer, purpose, client, now)
                    .await
            }
            Factor::Code(_) | Factor::RecoveryCode(_) => self.judge(account, record, factor, now),
        }
    }

    async fn judge_assertion(
        &self,
        account: &AccountId,
        answer: &PublicKeyCredential,
        purpose: Purpose,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Result<Judged, Denial>, Error> {
        let webauthn = self.relying_party()?.webauthn();
        let client_data = answer.response.client_data_json.as_ref();
        // A sign-in's completion spends the ceremony with everything else it changes, so
        // that a replay of the answer is refused (and counted) only after the first one
        // signed in, never before it, where its failure could lock the account or void the
        // challenge under it. A proof spends it now.
        let ceremony = match purpose {
            Purpose::SecondFactor => self
                .read_ceremony::<SecurityKeyAuthentication>(purpose, account, client_data, now)
                .await
                .map(|(key, state)| (Some(key), state)),
            _ => self
                .take_ceremony::<SecurityKeyAuthentication>(
                    purpose,
                    Some(account),
                    client_data,
                    now,
                )
                .await
                .map(|(_, state)| (None, state)),
        };
        let (ceremony, state) = match ceremony {
            Ok(found) => found,
            Err(Error::Denied(denial)) => return Ok(Err(denial)),
            Err(failure) => return Err(failure),
        };
        let found = self
            .store()
            .credential_by_webauthn_id(answer.get_credential_id())
            .await?;
        // A credential removed since the options were handed out signs nothing in.
        let Some(stored) = found.filter(|stored| stored.account_id == *account) else {
            return Ok(Err(Denial::InvalidWebAuthn));
        };
        let result = match webauthn.finish_securitykey_authentication(answer, &state) {
            Ok(result) => result,
            // The signature verified, but the counter is not past the one the options were
            // made with.
            Err(WebauthnError::CredentialPossibleCompromise) => {
                let presented = presented_counter(answer).unwrap_or(0);
                self.counter_anomaly(&stored, presented, client, now)
                    .await?;
                return Ok(Err(Denial::InvalidWebAuthn));
            }
            Err(_) => return Ok(Err(Denial::InvalidWebAuthn)),
        };
        let presented = result.counter();
        if judge_counter(stored.counter, presented) == CounterVerdict::WentBackwards {
            self.counter_anomaly(&stored, presented, client, now)
                .await?;
            return Ok(Err(Denial::InvalidWebAuthn));
        }
        Ok(Ok(Judged::WebAuthn {
            credential: stored.id,
            counter: presented,
            amr: key_amr(result.backup_eligible()),
            ceremony,
        }))
    }

    /// Records that `stored` answered with a counter that did not move forward.
    pub(super) async fn counter_anomaly(
        &self,
        stored: &StoredCredential,
        presented: u32,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let details = json!({
            "credential": stored.id,
            "name": stored.name,
            "stored": stored.counter,
            "presented": presented,
        });
        let kind = EventKind::WebAuthnCounterAnomaly;
        self.record(&stored.account_id, kind, client, now, details)
            .await?;
        Ok(())
    }
}
