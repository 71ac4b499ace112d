//! The publishing rule: the exemption list agrees with what each write changes, and a
//! [`NodeCache`] publishes exactly the writes the rule says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::writes::{Write, EXEMPT};
use super::{Coherence, Key, Memory, NodeCache};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{InstancePolicy, InstanceScope, PolicySource};
use crate::store::StoreError;

/// Every write; [`remembered_by_a_node`] decides each, without a wildcard.
const ALL: [Write; 68] = [
    Write::Migrate,
    Write::CreateAccount,
    Write::CreateSetupToken,
    Write::CreateFirstAdmin,
    Write::CreateSession,
    Write::SettlePassword,
    Write::TouchSession,
    Write::DeleteSession,
    Write::PurgeExpiredSessions,
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
    Write::VouchResetRequest,
    Write::Reseal,
    Write::DeliverNext,
    Write::RetryDelivery,
    Write::IssueEmailToken,
    Write::SpendEmailLink,
    Write::SpendEmailCode,
    Write::PurgeEmailTokens,
    Write::SetPassword,
    Write::SuspendAccount,
    Write::UnsuspendAccount,
    Write::DeleteAccount,
    Write::CreateOidcClient,
    Write::SyncOidcClients,
    Write::RemoveOidcClient,
    Write::GrantOidcConsent,
    Write::RevokeOidcConsent,
    Write::CreateOidcCode,
    Write::ExchangeOidcCode,
    Write::PurgeOidc,
    Write::RotateOidcRefreshToken,
    Write::RevokeOidcToken,
    Write::DeliverOidcLogout,
    Write::CreateApiToken,
    Write::TouchApiToken,
    Write::RevokeApiToken,
    Write::OpenCeremony,
    Write::TakeCeremony,
    Write::PurgeCeremonies,
    Write::AddCredential,
    Write::RenameCredential,
    Write::RemoveCredential,
    Write::UseCredential,
];

/// Whether a write can change what a node remembers (sessions with their account and
/// two-factor summary, memberships, roles, enforcement, the instance policy, API tokens,
/// OpenID Connect clients, signing keys and access tokens). A second,
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
        // An address verified (in the session's account), a new address or password, and
        // sessions ended.
        Write::SpendEmailLink | Write::SpendEmailCode | Write::SetPassword => true,
        // The account's state rides with every remembered session; suspending and deleting
        // also end its sessions, memberships and (deleting) workspaces.
        Write::SuspendAccount | Write::UnsuspendAccount | Write::DeleteAccount => true,
        // A sealed instance secret is remembered (the signing keys, read at every signature):
        // a re-seal or a signing key roll replaces it (re-sealing a TOTP secret publishes
        // nothing: `write_if`).
        Write::Reseal => true,
        // Clients are remembered (read at every token request).
        Write::CreateOidcClient | Write::SyncOidcClients | Write::RemoveOidcClient => true,
        Write::CreateAccount
        | Write::CreateSetupToken
        | Write::CreateFirstAdmin
        | Write::CreateSession
        | Write::SettlePassword
        | Write::TouchSession
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
        | Write::VouchResetRequest
        | Write::DeliverNext
        | Write::RetryDelivery
        | Write::IssueEmailToken
        | Write::PurgeEmailTokens => false,
        // Access tokens are remembered: whatever can delete one publishes (an exchange or
        // rotation when it finds its code or token reused and revokes the family).
        Write::RevokeOidcConsent
        | Write::ExchangeOidcCode
        | Write::PurgeOidc
        | Write::RotateOidcRefreshToken
        | Write::RevokeOidcToken => true,
        // Consents, codes and back-channel deliveries are never remembered.
        Write::GrantOidcConsent | Write::CreateOidcCode | Write::DeliverOidcLogout => false,
        // API tokens are remembered like sessions: revoking one publishes; a new one is
        // unknown, and its use is settled in the database.
        Write::RevokeApiToken => true,
        Write::CreateApiToken | Write::TouchApiToken => false,
        // A credential is a second factor: it counts in the remembered two-factor summary.
        Write::AddCredential | Write::RemoveCredential => true,
        Write::OpenCeremony
        | Write::TakeCeremony
        | Write::PurgeCeremonies
        | Write::RenameCredential
        | Write::UseCredential => false,
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

#[tokio::test]
async fn a_write_publishes_unless_exempt_and_a_remembered_read_is_forgotten() {
    let coherence = Arc::new(Counting::default());
    let cache = NodeCache::new(coherence.clone());
    cache.join().await.unwrap();
    let published = || coherence.published.load(Ordering::SeqCst);
    let done = || async { Ok::<_, StoreError>(()) };

    // Exempt: touching a session changes nothing remembered.
    cache.write(Write::TouchSession, done()).await.unwrap();
    assert_eq!(published(), 0);
    // Conditional: nothing purged, nothing published.
    let purged = cache.write_if(Write::PurgeExpiredSessions, async { Ok(0_u64) }, |n| *n > 0);
    assert_eq!(purged.await.unwrap(), 0);
    assert_eq!(published(), 0);
    // A failed write publishes nothing.
    let failed = cache.write(Write::DeleteSession, async {
        Err::<(), _>(StoreError::Task("failed".into()))
    });
    assert!(failed.await.is_err());
    assert_eq!(published(), 0);
    // Published even when nothing was deleted.
    cache.write(Write::DeleteSession, done()).await.unwrap();
    assert_eq!(published(), 1);

    // A remembered read is answered from memory...
    let off = Some(policy(InstanceScope::Off));
    let read = |found: Option<InstancePolicy>| async move { Ok(found) };
    assert_eq!(cache.remembered(Key::Policy, read(off)).await.unwrap(), off);
    let admins = Some(policy(InstanceScope::Admins));
    assert_eq!(
        cache.remembered(Key::Policy, read(admins)).await.unwrap(),
        off
    );
    // ...until a publishing write, and not after an exempt one.
    cache.write(Write::RecordEvent, done()).await.unwrap();
    assert_eq!(
        cache.remembered(Key::Policy, read(admins)).await.unwrap(),
        off
    );
    cache.write(Write::SetInstancePolicy, done()).await.unwrap();
    assert_eq!(published(), 2);
    assert_eq!(
        cache.remembered(Key::Policy, read(admins)).await.unwrap(),
        admins
    );
    // Nothing found is never remembered.
    cache.write(Write::SetInstancePolicy, done()).await.unwrap();
    assert_eq!(
        cache.remembered(Key::Policy, read(None)).await.unwrap(),
        None
    );
    assert_eq!(cache.remembered(Key::Policy, read(off)).await.unwrap(), off);
}

fn policy(scope: InstanceScope) -> InstancePolicy {
    InstancePolicy {
        scope,
        grace_period_days: 0,
        enforced_since: Some(UnixTime(1_800_000_000)),
        source: PolicySource::Admin,
        required_factor: crate::domain::workspace::RequiredFactor::Any,
    }
}
