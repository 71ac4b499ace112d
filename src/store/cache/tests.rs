//! The publishing rule: the exemption list agrees with what each write changes, and a
//! [`CachedStore`] publishes exactly the writes the rule says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::writes::{Write, EXEMPT};
use super::{CachedStore, Coherence, Memory};
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{InstancePolicy, InstanceScope, PolicySource};
use crate::store::{PoolSettings, SqliteStore, Store, StoreError};

/// Every write; [`remembered_by_a_node`] decides each, without a wildcard.
const ALL: [Write; 39] = [
    Write::Migrate,
    Write::CreateAccount,
    Write::CreateSetupToken,
    Write::CreateFirstAdmin,
    Write::CreateSession,
    Write::SettlePassword,
    Write::TouchSession,
    Write::DeleteSession,
    Write::PurgeExpiredSessions,
    Write::PasswordAttempt,
    Write::SwapCounter,
    Write::RefundFailure,
    Write::ClearFailures,
    Write::StartEnrollment,
    Write::AbandonEnrollment,
    Write::ConfirmEnrollment,
    Write::AcceptStep,
    Write::DisableTwoFactor,
    Write::ResetTwoFactor,
    Write::ConsumeRecoveryCode,
    Write::ReplaceRecoveryCodes,
    Write::AddRecoveryCode,
    Write::CreateChallenge,
    Write::CountChallengeFailure,
    Write::ConsumeChallenge,
    Write::CompleteSignIn,
    Write::RecordEvent,
    Write::InsertInstanceSecret,
    Write::CreateWorkspace,
    Write::SetEnforcement,
    Write::CreateInvitation,
    Write::AcceptInvitation,
    Write::ChangeRole,
    Write::RemoveMember,
    Write::SetInstancePolicy,
    Write::CreateResetRequest,
    Write::Reseal,
    Write::DeliverNext,
    Write::RetryDelivery,
];

/// Whether a write can change what a node remembers (sessions with their account and
/// two-factor summary, memberships, roles, enforcement, the instance policy). A second,
/// independent statement of the exemption list: the two must agree.
fn remembered_by_a_node(write: Write) -> bool {
    match write {
        // Schema changes may rewrite any row.
        Write::Migrate => true,
        Write::DeleteSession | Write::PurgeExpiredSessions => true,
        Write::StartEnrollment
        | Write::AbandonEnrollment
        | Write::ConfirmEnrollment
        | Write::DisableTwoFactor
        | Write::ResetTwoFactor
        | Write::ConsumeRecoveryCode
        | Write::ReplaceRecoveryCodes
        | Write::AddRecoveryCode
        | Write::CompleteSignIn => true,
        Write::CreateWorkspace
        | Write::SetEnforcement
        | Write::AcceptInvitation
        | Write::ChangeRole
        | Write::RemoveMember
        | Write::SetInstancePolicy => true,
        Write::CreateAccount
        | Write::CreateSetupToken
        | Write::CreateFirstAdmin
        | Write::CreateSession
        | Write::SettlePassword
        | Write::TouchSession
        | Write::PasswordAttempt
        | Write::SwapCounter
        | Write::RefundFailure
        | Write::ClearFailures
        | Write::AcceptStep
        | Write::CreateChallenge
        | Write::CountChallengeFailure
        | Write::ConsumeChallenge
        | Write::RecordEvent
        | Write::InsertInstanceSecret
        | Write::CreateInvitation
        | Write::CreateResetRequest
        | Write::Reseal
        | Write::DeliverNext
        | Write::RetryDelivery => false,
    }
}

#[test]
fn each_write_publishes_or_is_exempt_with_a_reason() {
    for (n, write) in ALL.iter().enumerate() {
        assert!(!ALL[..n].contains(write), "{write:?} is listed twice");
        match write.exemption() {
            None => assert!(write.publishes()),
            Some(why) => {
                assert!(!write.publishes());
                assert!(
                    !why.trim().is_empty(),
                    "{write:?} is exempt without a reason"
                );
            }
        }
        assert_eq!(
            write.publishes(),
            remembered_by_a_node(*write),
            "{write:?}: publishes if and only if it can change what a node remembers"
        );
    }
    let exempt: Vec<Write> = EXEMPT
        .iter()
        .flat_map(|(_, writes)| *writes)
        .copied()
        .collect();
    for (n, write) in exempt.iter().enumerate() {
        assert!(!exempt[..n].contains(write), "{write:?} is exempt twice");
    }
    for (why, writes) in EXEMPT {
        assert!(!why.trim().is_empty() && !writes.is_empty(), "{why}");
    }
}

/// A coherence for one node that counts publishes and never refuses its memory.
#[derive(Debug, Default)]
struct Counting {
    published: AtomicUsize,
}

#[async_trait]
impl Coherence for Counting {
    fn current(&self, _memory: &Memory) -> bool {
        true
    }

    async fn publish(&self) -> Result<(), StoreError> {
        self.published.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn join(&self, _memory: Arc<Memory>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn leave(&self) {}
}

fn policy(scope: InstanceScope) -> InstancePolicy {
    InstancePolicy {
        scope,
        grace_period_days: 0,
        enforced_since: Some(UnixTime(1_800_000_000)),
        source: PolicySource::Admin,
    }
}

#[tokio::test]
async fn a_write_publishes_unless_exempt_and_a_remembered_read_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("deadbolt.db").display());
    let backend: Arc<dyn Store> = Arc::new(
        SqliteStore::connect(&url, PoolSettings::default())
            .await
            .unwrap(),
    );
    let coherence = Arc::new(Counting::default());
    let cached = CachedStore::new(Arc::clone(&backend), coherence.clone());
    cached.migrate().await.unwrap();
    cached.join_cache().await.unwrap();
    let published = || coherence.published.load(Ordering::SeqCst);
    let before = published();

    // Exempt: touching a session changes nothing remembered.
    let nobody = AccountId::generate();
    let session = SessionId::generate();
    cached
        .touch_session(&session, UnixTime(1_800_000_000))
        .await
        .unwrap();
    assert_eq!(published(), before);
    // Conditional: nothing purged, nothing published.
    cached
        .purge_expired_sessions(UnixTime(1_800_000_000))
        .await
        .unwrap();
    assert_eq!(published(), before);
    // Published even when nothing was deleted.
    assert!(!cached.delete_session(&nobody, &session).await.unwrap());
    assert_eq!(published(), before + 1);

    // The policy is remembered: a change behind the wrapper's back is not seen...
    cached
        .set_instance_policy(&policy(InstanceScope::Off))
        .await
        .unwrap();
    assert_eq!(published(), before + 2);
    let off = Some(policy(InstanceScope::Off));
    assert_eq!(cached.instance_policy().await.unwrap(), off);
    backend
        .set_instance_policy(&policy(InstanceScope::Admins))
        .await
        .unwrap();
    assert_eq!(cached.instance_policy().await.unwrap(), off);
    // ...but a change through it is, at once.
    let everyone = Some(policy(InstanceScope::Everyone));
    cached
        .set_instance_policy(&policy(InstanceScope::Everyone))
        .await
        .unwrap();
    assert_eq!(published(), before + 3);
    assert_eq!(cached.instance_policy().await.unwrap(), everyone);
}
