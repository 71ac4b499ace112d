//! An account's authenticator as stored, and the state it is in at a given time:
//! `not_configured` → `pending` → `enabled`. An enabled account may also hold a pending
//! replacement (moving to a new device); the old secret works until that is confirmed.

use crate::domain::sealed::Sealed;
use crate::domain::time::UnixTime;

/// An enrolment awaiting its first code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEnrollment {
    /// The new secret, sealed.
    pub secret: Sealed,
    /// When it lapses.
    pub expires_at: UnixTime,
}

/// The stored authenticator of one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TwoFactorRecord {
    /// The confirmed secret, when two-factor is enabled.
    pub secret: Option<Sealed>,
    /// When two-factor was (last) confirmed.
    pub enabled_at: Option<UnixTime>,
    /// The last accepted TOTP step.
    pub last_step: Option<i64>,
    /// A pending enrolment or replacement, possibly lapsed.
    pub pending: Option<PendingEnrollment>,
    /// How many security keys and passkeys (WebAuthn credentials) the account has.
    pub webauthn_keys: u32,
}

/// The authenticator's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoFactorState {
    /// No authenticator.
    NotConfigured,
    /// Enrolment started, not confirmed.
    Pending,
    /// Two-factor is on.
    Enabled,
}

/// What every request may need to show of an account's authenticator, read with its
/// session: no secret, just dates and a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TwoFactorSummary {
    /// When two-factor was (last) confirmed; `None` when it is not enabled.
    pub enabled_at: Option<UnixTime>,
    /// When a pending enrolment lapses, if one was started.
    pub pending_until: Option<UnixTime>,
    /// Unused recovery codes, when the lookup counted them.
    pub recovery_codes_remaining: Option<u32>,
}

impl TwoFactorSummary {
    /// The state at `now`.
    pub fn state(&self, now: UnixTime) -> TwoFactorState {
        TwoFactorState::of(self.enabled_at.is_some(), self.pending_until, now)
    }
}

impl TwoFactorState {
    /// The state of an account with two-factor `enabled` or not, and an enrolment pending
    /// until `pending_until` (if any), at `now`.
    pub fn of(enabled: bool, pending_until: Option<UnixTime>, now: UnixTime) -> Self {
        if enabled {
            TwoFactorState::Enabled
        } else if pending_until.is_some_and(|until| now < until) {
            TwoFactorState::Pending
        } else {
            TwoFactorState::NotConfigured
        }
    }

    /// The stable name the API and the CLI show.
    pub fn as_str(self) -> &'static str {
        match self {
            TwoFactorState::NotConfigured => "not_configured",
            TwoFactorState::Pending => "pending",
            TwoFactorState::Enabled => "enabled",
        }
    }
}

impl TwoFactorRecord {
    /// Whether two-factor protects the account: an authenticator app, or a security key
    /// or passkey (SPEC §13).
    pub fn is_enabled(&self) -> bool {
        self.has_totp() || self.webauthn_keys > 0
    }

    /// Whether the account has an enabled authenticator app.
    pub fn has_totp(&self) -> bool {
        self.secret.is_some()
    }

    /// The pending enrolment, unless it has lapsed by `now`.
    pub fn live_pending(&self, now: UnixTime) -> Option<&PendingEnrollment> {
        self.pending
            .as_ref()
            .filter(|pending| now < pending.expires_at)
    }

    /// The state at `now`.
    pub fn state(&self, now: UnixTime) -> TwoFactorState {
        let pending_until = self.pending.as_ref().map(|pending| pending.expires_at);
        TwoFactorState::of(self.is_enabled(), pending_until, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sealed::KeyId;

    fn sealed() -> Sealed {
        Sealed {
            key_id: KeyId("k".into()),
            blob: vec![1, 2, 3],
        }
    }

    #[test]
    fn states_follow_the_record_and_the_clock() {
        let none = TwoFactorRecord::default();
        assert_eq!(none.state(UnixTime(0)), TwoFactorState::NotConfigured);
        let pending = TwoFactorRecord {
            pending: Some(PendingEnrollment {
                secret: sealed(),
                expires_at: UnixTime(600),
            }),
            ..TwoFactorRecord::default()
        };
        assert_eq!(pending.state(UnixTime(599)), TwoFactorState::Pending);
        // A lapsed enrolment protects nothing and shows as not configured.
        assert_eq!(pending.state(UnixTime(600)), TwoFactorState::NotConfigured);
        let enabled = TwoFactorRecord {
            secret: Some(sealed()),
            enabled_at: Some(UnixTime(10)),
            ..pending
        };
        assert_eq!(enabled.state(UnixTime(0)), TwoFactorState::Enabled);
        let keys_only = TwoFactorRecord {
            webauthn_keys: 1,
            ..TwoFactorRecord::default()
        };
        assert!(keys_only.is_enabled() && !keys_only.has_totp());
        assert_eq!(keys_only.state(UnixTime(0)), TwoFactorState::Enabled);
        assert!(enabled.live_pending(UnixTime(0)).is_some());
        assert_eq!(TwoFactorState::Pending.as_str(), "pending");
        assert_eq!(TwoFactorState::Enabled.as_str(), "enabled");
        assert_eq!(TwoFactorState::NotConfigured.as_str(), "not_configured");
    }
}
