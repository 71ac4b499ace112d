//! Signing in with a passkey alone (SPEC §13): a discoverable credential that verified its
//! user (a PIN or biometric) is two factors in one, something held and something known or
//! are, so it starts a session with no password and no challenge. Without user verification
//! it never does: the request demands it and `webauthn-rs` refuses an answer without the
//! flag. The options name no account; the answer does, by its credential and user handle,
//! which must agree.

use serde_json::json;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PublicKeyCredential, WebauthnError,
};

use super::attempts::{begin_attempt, Rule};
use super::webauthn::{credential_of, user_handle, Options};
use super::{Denial, Error, SignIn, SignedIn};
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::throttle::{PASSKEY_CLIENT_WINDOW, PASSKEY_OPTIONS_WINDOW};
use crate::domain::time::UnixTime;
use crate::domain::webauthn::{
    judge_counter, key_amr, CounterVerdict, Purpose, USER_VERIFICATION_AMR,
};

/// Throttling key for passkey options asked for from one client address.
fn options_key(client: &ClientInfo) -> String {
    format!(
        "passkey-options-ip:{}",
        client.ip.as_deref().unwrap_or("unknown")
    )
}

/// Throttling key for passkey answers refused from one client address.
fn answers_key(client: &ClientInfo) -> String {
    format!("passkey-ip:{}", client.ip.as_deref().unwrap_or("unknown"))
}

impl SignIn {
    /// Options for `navigator.credentials.get()` that any of this site's passkeys may
    /// answer, with user verification required. Counted against the client address
    /// ([`PASSKEY_OPTIONS_WINDOW`]): each keeps a ceremony, and asking needs no account.
    pub async fn start_passkey(
        &self,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Options, Error> {
        let webauthn = self.relying_party()?.webauthn();
        let rule = Rule::Window(PASSKEY_OPTIONS_WINDOW);
        begin_attempt(self.store(), &options_key(client), rule, now).await?;
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|_| Error::Invariant("WebAuthn passkey options"))?;
        let mut options = serde_json::to_value(options)
            .map_err(|_| Error::Invariant("WebAuthn options that do not serialise"))?;
        // A button asks, not the browser's autofill: no conditional mediation.
        if let Some(fields) = options.as_object_mut() {
            fields.remove("mediation");
        }
        self.open_ceremony(Purpose::Passkey, None, &options, &state, now)
            .await?;
        Ok(options)
    }

    /// Signs in with a passkey's answer to [`SignIn::start_passkey`]'s options.
    /// [`Denial::InvalidWebAuthn`] for an answer that does not verify, names no credential
    /// of its user, lacks user verification, or whose counter went backwards (recorded).
    /// Each answer is counted against the client address ([`PASSKEY_CLIENT_WINDOW`]) before
    /// it is judged, and the count taken back when it signs in.
    pub async fn finish_passkey(
        &self,
        answer: &PublicKeyCredential,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<SignedIn, Error> {
        let store = self.store();
        let key = answers_key(client);
        begin_attempt(store, &key, Rule::Window(PASSKEY_CLIENT_WINDOW), now).await?;
        let signed_in = self.judge_passkey(answer, client, now).await?;
        store.refund_failure(&key).await?;
        Ok(signed_in)
    }

    async fn judge_passkey(
        &self,
        answer: &PublicKeyCredential,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<SignedIn, Error> {
        let webauthn = self.relying_party()?.webauthn();
        let client_data = answer.response.client_data_json.as_ref();
        let (_, state): (_, DiscoverableAuthentication) = self
            .take_ceremony(Purpose::Passkey, None, client_data, now)
            .await?;
        let found = self
            .store()
            .credential_by_webauthn_id(answer.get_credential_id())
            .await?;
        let stored = found.ok_or(Denial::InvalidWebAuthn)?;
        let handle = user_handle(&stored.account_id)?;
        if answer.get_user_unique_id() != Some(handle.as_bytes().as_slice()) {
            return Err(Denial::InvalidWebAuthn.into());
        }
        let key = DiscoverableKey::from(Passkey::from(credential_of(&stored)?));
        let result = match webauthn.finish_discoverable_authentication(answer, state, &[key]) {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                let presented = super::webauthn_factor::presented_counter(answer).unwrap_or(0);
                self.counter_anomaly(&stored, presented, client, now)
                    .await?;
                return Err(Denial::InvalidWebAuthn.into());
            }
            Err(_) => return Err(Denial::InvalidWebAuthn.into()),
        };
        // Security: belt and braces; webauthn-rs demands it of a discoverable request.
        if !result.user_verified() {
            return Err(Denial::InvalidWebAuthn.into());
        }
        let presented = result.counter();
        let forward = judge_counter(stored.counter, presented) == CounterVerdict::Fresh
            && self
                .store()
                .use_credential(&stored.id, presented, now)
                .await?;
        if !forward {
            self.counter_anomaly(&stored, presented, client, now)
                .await?;
            return Err(Denial::InvalidWebAuthn.into());
        }
        let account = self
            .store()
            .account_by_id(&stored.account_id)
            .await?
            .ok_or(Denial::InvalidWebAuthn)?;
        if account.is_suspended() {
            return Err(Denial::AccountSuspended.into());
        }
        // Two factors in one: the key, and the user verified by it.
        let amr = format!(
            "{} {USER_VERIFICATION_AMR}",
            key_amr(result.backup_eligible())
        );
        let start = self.new_session(&account.id, &amr, client, now);
        let used = json!({"credential": stored.id, "purpose": "passkey", "user_verified": true});
        let events = [
            NewEvent::by_owner(&account.id, EventKind::WebAuthnUsed, client, now, used),
            NewEvent::by_owner(
                &account.id,
                EventKind::SignInSucceeded,
                client,
                now,
                json!({"method": "passkey"}),
            ),
        ];
        // The session and its events commit together.
        let journal = self.notifier.journal(&events);
        self.store().create_session(&start.new, journal).await?;
        self.notifier.wake_for(&events);
        Ok(start.signed_in())
    }
}
