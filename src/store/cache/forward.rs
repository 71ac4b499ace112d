//! The [`Store`] methods of [`CachedStore`], each passed on through one of `gate.rs`'s three
//! ways: `read` (never remembered), `remembered` (the per-request reads) or `write` with its
//! [`Write`] (publishing unless exempt in `writes.rs`). The [`Outbox`] methods are
//! `outbox.rs`. One trait impl cannot be split across files, so this one stays whole.

use async_trait::async_trait;

use super::memory::Key;
use super::writes::Write;
use super::CachedStore;
use crate::store::*;

#[async_trait]
impl Store for CachedStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.write(Write::Migrate, |s| s.migrate()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|s| s.ping()).await
    }

    async fn join_cache(&self) -> Result<(), StoreError> {
        self.join().await
    }

    async fn leave_cache(&self) {
        self.leave().await;
    }

    async fn create_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        self.write(Write::CreateAccount, |s| s.create_account(account))
            .await
    }

    async fn account_by_id(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.read(|s| s.account_by_id(id)).await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        self.read(|s| s.account_by_email(email)).await
    }

    async fn count_accounts(&self) -> Result<u64, StoreError> {
        self.read(|s| s.count_accounts()).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read(|s| s.list_accounts()).await
    }

    async fn create_setup_token(
        &self,
        token: &TokenHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.write(Write::CreateSetupToken, |s| {
            s.create_setup_token(token, expires_at)
        })
        .await
    }

    async fn setup_token_is_live(
        &self,
        token: &TokenHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.read(|s| s.setup_token_is_live(token, now)).await
    }

    async fn create_first_admin(
        &self,
        token: &TokenHash,
        account: &NewAccount,
        now: UnixTime,
    ) -> Result<FirstAdmin, StoreError> {
        self.write(Write::CreateFirstAdmin, |s| {
            s.create_first_admin(token, account, now)
        })
        .await
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.write(Write::CreateSession, |s| s.create_session(session))
            .await
    }

    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.write(Write::SettlePassword, |s| {
            s.settle_password(settle, journal)
        })
        .await
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionLookup>, StoreError> {
        self.remembered(Key::Session(token.0.clone()), |s| s.session_by_token(token))
            .await
    }

    async fn session_in_workspace(
        &self,
        token: &TokenHash,
        workspace: &str,
    ) -> Result<Option<WorkspaceSessionLookup>, StoreError> {
        self.remembered(
            Key::InWorkspace(token.0.clone(), workspace.to_owned()),
            |s| s.session_in_workspace(token, workspace),
        )
        .await
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        self.write(Write::TouchSession, |s| s.touch_session(id, now))
            .await?;
        self.touched(id.as_str(), now);
        Ok(())
    }

    async fn list_sessions(&self, account: &AccountId) -> Result<Vec<Session>, StoreError> {
        self.read(|s| s.list_sessions(account)).await
    }

    async fn delete_session(
        &self,
        account: &AccountId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        // Published even when nothing was deleted: a retry after a publish that failed
        // must not answer before every node forgot.
        self.write(Write::DeleteSession, |s| s.delete_session(account, id))
            .await
    }

    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.write_if(
            Write::PurgeExpiredSessions,
            |s| s.purge_expired_sessions(now),
            |purged| *purged > 0,
        )
        .await
    }

    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        self.read(|s| s.throttle_counter(key)).await
    }

    async fn password_attempt(
        &self,
        address: &str,
        account_key: &str,
        email: Option<&Email>,
    ) -> Result<PasswordAttempt, StoreError> {
        self.write(Write::PasswordAttempt, |s| {
            s.password_attempt(address, account_key, email)
        })
        .await
    }

    async fn swap_counter(
        &self,
        key: &str,
        expected: Option<&Counter>,
        new: &Counter,
    ) -> Result<bool, StoreError> {
        self.write(Write::SwapCounter, |s| s.swap_counter(key, expected, new))
            .await
    }

    async fn count_judged_failure(
        &self,
        account: &AccountId,
        key: &str,
        failure: &Counter,
    ) -> Result<bool, StoreError> {
        self.write(Write::SwapCounter, |s| {
            s.count_judged_failure(account, key, failure)
        })
        .await
    }

    async fn refund_failure(&self, key: &str) -> Result<(), StoreError> {
        self.write(Write::RefundFailure, |s| s.refund_failure(key))
            .await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.write(Write::ClearFailures, |s| s.clear_failures(key))
            .await
    }

    async fn two_factor(&self, account: &AccountId) -> Result<TwoFactorRecord, StoreError> {
        self.read(|s| s.two_factor(account)).await
    }

    async fn start_enrollment(
        &self,
        account: &AccountId,
        secret: &Sealed,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.write(Write::StartEnrollment, |s| {
            s.start_enrollment(account, secret, expires_at)
        })
        .await
    }

    async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), StoreError> {
        self.write(Write::AbandonEnrollment, |s| s.abandon_enrollment(account))
            .await
    }

    async fn confirm_enrollment(
        &self,
        account: &AccountId,
        pending: &Sealed,
        step: i64,
        now: UnixTime,
        recovery_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        self.write_if(
            Write::ConfirmEnrollment,
            |s| s.confirm_enrollment(account, pending, step, now, recovery_hashes, journal),
            |confirmed| *confirmed,
        )
        .await
    }

    async fn accept_step(&self, account: &AccountId, step: i64) -> Result<bool, StoreError> {
        self.write(Write::AcceptStep, |s| s.accept_step(account, step))
            .await
    }

    async fn disable_two_factor(
        &self,
        account: &AccountId,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        self.write(Write::DisableTwoFactor, |s| {
            s.disable_two_factor(account, journal)
        })
        .await
    }

    async fn reset_two_factor(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        self.write(Write::ResetTwoFactor, |s| {
            s.reset_two_factor(account, now, record, channels)
        })
        .await
    }

    async fn recovery_codes_remaining(&self, account: &AccountId) -> Result<u32, StoreError> {
        self.read(|s| s.recovery_codes_remaining(account)).await
    }

    async fn consume_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<bool, StoreError> {
        self.write_if(
            Write::ConsumeRecoveryCode,
            |s| s.consume_recovery_code(account, code_hash),
            |used| *used,
        )
        .await
    }

    async fn replace_recovery_codes(
        &self,
        account: &AccountId,
        code_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.write(Write::ReplaceRecoveryCodes, |s| {
            s.replace_recovery_codes(account, code_hashes, journal)
        })
        .await
    }

    async fn add_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<(), StoreError> {
        self.write(Write::AddRecoveryCode, |s| {
            s.add_recovery_code(account, code_hash)
        })
        .await
    }

    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.write(Write::CreateChallenge, |s| {
            s.create_challenge(token, account, expires_at)
        })
        .await
    }

    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError> {
        self.read(|s| s.challenge(token)).await
    }

    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError> {
        self.write(Write::CountChallengeFailure, |s| {
            s.count_challenge_failure(token)
        })
        .await
    }

    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError> {
        self.write(Write::ConsumeChallenge, |s| s.consume_challenge(token))
            .await
    }

    async fn challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        self.read(|s| s.challenge_context(token, counter_prefix))
            .await
    }

    async fn complete_sign_in(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        // A TOTP sign-in only adds a session; a recovery code changes the count (and its
        // follow-up may turn two-factor off).
        let spent_code = matches!(completion.factor, SpentFactor::RecoveryCode(_));
        self.write_if(
            Write::CompleteSignIn,
            |s| s.complete_sign_in(completion, journal),
            move |done| spent_code && matches!(done, Completion::SignedIn { .. }),
        )
        .await
    }

    async fn record_event(&self, event: &NewEvent, channels: Channels) -> Result<(), StoreError> {
        self.write(Write::RecordEvent, |s| s.record_event(event, channels))
            .await
    }

    async fn account_events(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.read(|s| s.account_events(account, before, limit))
            .await
    }

    async fn instance_secret(&self, name: &str) -> Result<Option<Sealed>, StoreError> {
        self.read(|s| s.instance_secret(name)).await
    }

    async fn insert_instance_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError> {
        self.write(Write::InsertInstanceSecret, |s| {
            s.insert_instance_secret(name, sealed)
        })
        .await
    }

    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &AccountId,
    ) -> Result<(), StoreError> {
        self.write(Write::CreateWorkspace, |s| {
            s.create_workspace(workspace, owner)
        })
        .await
    }

    async fn account_workspaces(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        self.remembered(Key::Workspaces(account.as_str().to_owned()), |s| {
            s.account_workspaces(account)
        })
        .await
    }

    async fn membership(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<Option<(Workspace, Role)>, StoreError> {
        self.read(|s| s.membership(workspace, account)).await
    }

    async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError> {
        self.read(|s| s.members(workspace)).await
    }

    async fn set_enforcement(&self, workspace: &Workspace) -> Result<(), StoreError> {
        self.write(Write::SetEnforcement, |s| s.set_enforcement(workspace))
            .await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        self.write(Write::CreateInvitation, |s| {
            s.create_invitation(invitation, token)
        })
        .await
    }

    async fn invitation(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        self.read(|s| s.invitation(token)).await
    }

    async fn accept_invitation(
        &self,
        token: &TokenHash,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Option<Invitation>, StoreError> {
        self.write_if(
            Write::AcceptInvitation,
            |s| s.accept_invitation(token, account, now),
            Option::is_some,
        )
        .await
    }

    async fn change_role(
        &self,
        workspace: &str,
        account: &AccountId,
        role: Role,
    ) -> Result<MemberChange, StoreError> {
        self.write(Write::ChangeRole, |s| {
            s.change_role(workspace, account, role)
        })
        .await
    }

    async fn remove_member(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<MemberChange, StoreError> {
        self.write(Write::RemoveMember, |s| s.remove_member(workspace, account))
            .await
    }

    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.read(|s| s.workspace_events(workspace, before, limit))
            .await
    }

    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError> {
        self.remembered(Key::Policy, |s| s.instance_policy()).await
    }

    async fn set_instance_policy(&self, policy: &InstancePolicy) -> Result<(), StoreError> {
        self.write(Write::SetInstancePolicy, |s| s.set_instance_policy(policy))
            .await
    }

    async fn create_reset_request(
        &self,
        id: &str,
        account: &AccountId,
        message: &str,
        now: UnixTime,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<FiledRequest, StoreError> {
        self.write(Write::CreateResetRequest, |s| {
            s.create_reset_request(id, account, message, now, event, channels)
        })
        .await
    }

    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError> {
        self.read(|s| s.open_reset_requests()).await
    }

    async fn search_accounts(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        self.read(|s| s.search_accounts(query, after, limit)).await
    }

    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.read(|s| s.events(filter, limit)).await
    }

    async fn sealed_secrets(&self) -> Result<Vec<(SealedSlot, Sealed)>, StoreError> {
        self.read(|s| s.sealed_secrets()).await
    }

    async fn reseal(
        &self,
        slot: &SealedSlot,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        self.write(Write::Reseal, |s| s.reseal(slot, old, new))
            .await
    }
}
