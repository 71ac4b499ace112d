//! A person's authenticator: enrolment (and moving to a new device), confirmation, the
//! dry-run check, recovery-code regeneration and turning two-factor off. Changes to an
//! enabled authenticator need a proof, judged by the sign-in flow ([`SignIn::confirm`]);
//! wrong codes count towards the same second-factor lock as signing in.
//!
//! [`SignIn::confirm`]: crate::signin::SignIn::confirm

use serde_json::json;

use super::{Accounts, Error};
use crate::domain::account::Account;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::otpauth::otpauth_uri;
use crate::domain::recovery::RecoveryCode;
use crate::domain::time::UnixTime;
use crate::domain::totp::TotpSecret;
use crate::signin::attempts::SecondFactorAttempt;
use crate::signin::factor::CodeCheck;
use crate::signin::proof::{CodeStatus, Proof};

/// A pending enrolment, with its secret in the clear: shown to its owner only.
#[derive(Debug)]
pub struct Enrollment {
    /// The new secret.
    pub secret: TotpSecret,
    /// Its `otpauth://` URI.
    pub otpauth_uri: String,
    /// When the enrolment lapses if not confirmed.
    pub expires_at: UnixTime,
    /// Whether it replaces an enabled authenticator (moving to a new device).
    pub replacing: bool,
}

impl Accounts {
    /// Starts an enrolment: a fresh 160-bit secret, pending until confirmed. With two-factor
    /// enabled this starts a move to a new device and needs `proof`; the old secret keeps
    /// working until the new one is confirmed.
    pub async fn start_enrollment(
        &self,
        account: &Account,
        proof: Option<Proof>,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Enrollment, Error> {
        let record = self.store.two_factor(&account.id).await?;
        let replacing = record.has_totp();
        if replacing {
            let unchanged = "Your current authenticator stays in use.";
            let proof = proof.unwrap_or_default();
            self.signin
                .confirm(account, &record, proof, unchanged, client, now)
                .await?;
        }
        let secret = TotpSecret::generate();
        let sealed = self
            .keys
            .seal(secret.as_bytes(), account.id.as_str().as_bytes());
        let expires_at = now.plus(self.config.two_factor.pending_ttl);
        self.store
            .start_enrollment(&account.id, &sealed, expires_at)
            .await?;
        let details = json!({"replacing": replacing});
        let kind = EventKind::EnrollmentStarted;
        self.record(&account.id, kind, client, now, details).await?;
        Ok(Enrollment {
            otpauth_uri: self.otpauth_uri(account, &secret),
            secret,
            expires_at,
            replacing,
        })
    }

    /// The live pending enrolment, if there is one.
    pub async fn pending_enrollment(
        &self,
        account: &Account,
        now: UnixTime,
    ) -> Result<Option<Enrollment>, Error> {
        let record = self.store.two_factor(&account.id).await?;
        let Some(pending) = record.live_pending(now) else {
            return Ok(None);
        };
        let secret = self.signin.open_secret(&account.id, &pending.secret)?;
        Ok(Some(Enrollment {
            otpauth_uri: self.otpauth_uri(account, &secret),
            secret,
            expires_at: pending.expires_at,
            replacing: record.has_totp(),
        }))
    }

    /// Confirms the pending enrolment with a current code: two-factor is enabled (or moved
    /// to the new device). Answers the fresh recovery codes, to be shown once.
    pub async fn confirm_enrollment(
        &self,
        account: &Account,
        code: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Vec<String>, Error> {
        let record = self.store.two_factor(&account.id).await?;
        let pending = record
            .live_pending(now)
            .ok_or(Error::NoPendingEnrollment)?
            .clone();
        let flow = &self.signin;
        let attempt = SecondFactorAttempt::begin(flow, &account.id, now).await?;
        let checked = flow.check_code(&account.id, &pending.secret, None, code, now)?;
        let CodeCheck::Fresh { step } = checked else {
            attempt.failed(flow, client, now).await?;
            return Err(Error::WrongEnrollmentCode);
        };
        let (codes, hashes) = self.new_recovery_codes();
        let events = [NewEvent::by_owner(
            &account.id,
            EventKind::EnrollmentConfirmed,
            client,
            now,
            json!({"replaced": record.has_totp()}),
        )];
        let confirmed = self
            .store
            .confirm_enrollment(
                &account.id,
                &pending.secret,
                step,
                now,
                &hashes,
                self.notifier.journal(&events),
            )
            .await?;
        if !confirmed {
            attempt.failed(flow, client, now).await?;
            return Err(Error::NoPendingEnrollment);
        }
        self.notifier.wake_for(&events);
        attempt.succeeded(flow).await?;
        Ok(codes)
    }

    /// Abandons a pending enrolment (if any); an enabled authenticator stays as it was.
    pub async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), Error> {
        self.store.abandon_enrollment(account).await?;
        Ok(())
    }

    /// Tells whether `code` is valid now, without using it up; wrong codes count towards
    /// the second-factor lock.
    pub async fn check_code(
        &self,
        account: &Account,
        code: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<CodeStatus, Error> {
        let record = self.store.two_factor(&account.id).await?;
        let status = self
            .signin
            .check(account, &record, code, client, now)
            .await?;
        Ok(status)
    }

    /// Replaces the recovery codes with a fresh set, after a proof; the old set dies at
    /// once. Answers the new codes, to be shown once.
    pub async fn regenerate_recovery_codes(
        &self,
        account: &Account,
        proof: Proof,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<Vec<String>, Error> {
        let unchanged = "Your recovery codes were not changed.";
        self.confirm_enabled(account, proof, unchanged, client, now)
            .await?;
        let (codes, hashes) = self.new_recovery_codes();
        let kind = EventKind::RecoveryCodesRegenerated;
        let events = [NewEvent::by_owner(
            &account.id,
            kind,
            client,
            now,
            json!({"count": codes.len()}),
        )];
        self.store
            .replace_recovery_codes(&account.id, &hashes, self.notifier.journal(&events))
            .await?;
        self.notifier.wake_for(&events);
        Ok(codes)
    }

    /// Turns two-factor off, after a proof: deletes the secret and the recovery codes.
    pub async fn disable_two_factor(
        &self,
        account: &Account,
        proof: Proof,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let unchanged = "Two-factor remains enabled.";
        self.confirm_enabled(account, proof, unchanged, client, now)
            .await?;
        let kind = EventKind::TwoFactorDisabled;
        let events = [NewEvent::by_owner(
            &account.id,
            kind,
            client,
            now,
            json!({"by": "owner"}),
        )];
        self.store
            .disable_two_factor(&account.id, self.notifier.journal(&events))
            .await?;
        self.notifier.wake_for(&events);
        Ok(())
    }

    /// For changes to an enabled authenticator: [`Error::NotEnabled`] without one, then
    /// the proof.
    async fn confirm_enabled(
        &self,
        account: &Account,
        proof: Proof,
        unchanged: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let record = self.store.two_factor(&account.id).await?;
        if !record.is_enabled() {
            return Err(Error::NotEnabled);
        }
        self.signin
            .confirm(account, &record, proof, unchanged, client, now)
            .await?;
        Ok(())
    }

    /// A fresh set of recovery codes (as shown) and their keyed hashes (as stored).
    pub(super) fn new_recovery_codes(&self) -> (Vec<String>, Vec<Vec<u8>>) {
        let codes = RecoveryCode::generate_set(self.config.recovery.count);
        let hashes = codes.iter().map(|c| c.hash(&self.recovery_key)).collect();
        (codes.iter().map(RecoveryCode::display).collect(), hashes)
    }

    fn otpauth_uri(&self, account: &Account, secret: &TotpSecret) -> String {
        otpauth_uri(
            &self.config.two_factor.issuer,
            account.email.as_str(),
            secret,
        )
    }
}
