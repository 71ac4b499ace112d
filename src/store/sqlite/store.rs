//! `impl Store for SqliteStore`: the trait's methods in its order, each handing over to the
//! file of its aggregate (or, for a sign-in's and a reset's transactions, to `sign_in.rs` and
//! `journal.rs`).

use async_trait::async_trait;

use super::{
    accounts, challenges, events, migrate, recovery_codes, secrets, sessions, throttle, two_factor,
    workspaces, SqliteStore,
};
use crate::store::*;

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // One transaction per migration (`migrate.rs`).
        while self
            .db
            .write(|tx| migrate::apply_next(tx, migrate::MIGRATIONS))
            .await?
            .is_some()
        {}
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
    }

    async fn create_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        accounts::create_account(self, account).await
    }

    async fn account_by_id(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        accounts::account_by_id(self, id).await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        accounts::account_by_email(self, email).await
    }

    async fn count_accounts(&self) -> Result<u64, StoreError> {
        accounts::count_accounts(self).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        accounts::list_accounts(self).await
    }

    async fn create_setup_token(
        &self,
        token: &TokenHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        accounts::create_setup_token(self, token, expires_at).await
    }

    async fn setup_token_is_live(
        &self,
        token: &TokenHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        accounts::setup_token_is_live(self, token, now).await
    }

    async fn create_first_admin(
        &self,
        token: &TokenHash,
        account: &NewAccount,
        now: UnixTime,
    ) -> Result<FirstAdmin, StoreError> {
        accounts::create_first_admin(self, token, account, now).await
    }

    async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        sessions::create_session(self, new).await
    }

    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.settle_password_now(settle, journal).await
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionLookup>, StoreError> {
        sessions::session_by_token(self, token).await
    }

    async fn session_in_workspace(
        &self,
        token: &TokenHash,
        workspace: &str,
    ) -> Result<Option<WorkspaceSessionLookup>, StoreError> {
        sessions::session_in_workspace(self, token, workspace).await
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        sessions::touch_session(self, id, now).await
    }

    async fn list_sessions(&self, account: &AccountId) -> Result<Vec<Session>, StoreError> {
        sessions::list_sessions(self, account).await
    }

    async fn delete_session(
        &self,
        account: &AccountId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        sessions::delete_session(self, account, id).await
    }

    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        sessions::purge_expired_sessions(self, now).await
    }

    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        throttle::throttle_counter(self, key).await
    }

    async fn swap_counter(
        &self,
        key: &str,
        expected: Option<&Counter>,
        new: &Counter,
    ) -> Result<bool, StoreError> {
        throttle::swap_counter(self, key, expected, new).await
    }

    async fn refund_failure(&self, key: &str) -> Result<(), StoreError> {
        throttle::refund_failure(self, key).await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        throttle::clear_failures(self, key).await
    }

    async fn two_factor(&self, account: &AccountId) -> Result<TwoFactorRecord, StoreError> {
        two_factor::two_factor(self, account).await
    }

    async fn start_enrollment(
        &self,
        account: &AccountId,
        secret: &Sealed,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        two_factor::start_enrollment(self, account, secret, expires_at).await
    }

    async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), StoreError> {
        two_factor::abandon_enrollment(self, account).await
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
        two_factor::confirm_enrollment(self, account, pending, step, now, recovery_hashes, journal)
            .await
    }

    async fn accept_step(&self, account: &AccountId, step: i64) -> Result<bool, StoreError> {
        two_factor::accept_step(self, account, step).await
    }

    async fn disable_two_factor(
        &self,
        account: &AccountId,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        two_factor::disable_two_factor(self, account, journal).await
    }

    async fn reset_two_factor(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        self.reset_two_factor_now(account, now, record, channels)
            .await
    }

    async fn recovery_codes_remaining(&self, account: &AccountId) -> Result<u32, StoreError> {
        recovery_codes::recovery_codes_remaining(self, account).await
    }

    async fn consume_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<bool, StoreError> {
        recovery_codes::consume_recovery_code(self, account, code_hash).await
    }

    async fn replace_recovery_codes(
        &self,
        account: &AccountId,
        code_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        recovery_codes::replace_recovery_codes(self, account, code_hashes, journal).await
    }

    async fn add_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<(), StoreError> {
        recovery_codes::add_recovery_code(self, account, code_hash).await
    }

    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        challenges::create_challenge(self, token, account, expires_at).await
    }

    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError> {
        challenges::challenge(self, token).await
    }

    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError> {
        challenges::count_challenge_failure(self, token).await
    }

    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError> {
        challenges::consume_challenge(self, token).await
    }

    async fn challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        self.read_challenge_context(token, counter_prefix).await
    }

    async fn complete_sign_in(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        self.complete_sign_in_now(completion, journal).await
    }

    async fn record_event(&self, event: &NewEvent, channels: Channels) -> Result<(), StoreError> {
        events::record_event(self, event, channels).await
    }

    async fn account_events(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        events::account_events(self, account, before, limit).await
    }

    async fn instance_secret(&self, name: &str) -> Result<Option<Sealed>, StoreError> {
        secrets::instance_secret(self, name).await
    }

    async fn insert_instance_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError> {
        secrets::insert_instance_secret(self, name, sealed).await
    }

    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &AccountId,
    ) -> Result<(), StoreError> {
        workspaces::create_workspace(self, workspace, owner).await
    }

    async fn account_workspaces(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        workspaces::account_workspaces(self, account).await
    }

    async fn membership(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<Option<(Workspace, Role)>, StoreError> {
        workspaces::membership(self, workspace, account).await
    }

    async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError> {
        workspaces::members(self, workspace).await
    }

    async fn set_enforcement(&self, workspace: &Workspace) -> Result<(), StoreError> {
        workspaces::set_enforcement(self, workspace).await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        workspaces::create_invitation(self, invitation, token).await
    }

    async fn invitation(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        workspaces::invitation(self, token).await
    }

    async fn accept_invitation(
        &self,
        token: &TokenHash,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Option<Invitation>, StoreError> {
        workspaces::accept_invitation(self, token, account, now).await
    }

    async fn change_role(
        &self,
        workspace: &str,
        account: &AccountId,
        role: Role,
    ) -> Result<MemberChange, StoreError> {
        workspaces::change_role(self, workspace, account, role).await
    }

    async fn remove_member(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<MemberChange, StoreError> {
        workspaces::remove_member(self, workspace, account).await
    }

    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        events::workspace_events(self, workspace, before, limit).await
    }

    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError> {
        workspaces::instance_policy(self).await
    }

    async fn set_instance_policy(&self, policy: &InstancePolicy) -> Result<(), StoreError> {
        workspaces::set_instance_policy(self, policy).await
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
        self.file_reset_request(id, account, message, now, event, channels)
            .await
    }

    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError> {
        two_factor::open_reset_requests(self).await
    }

    async fn search_accounts(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        accounts::search_accounts(self, query, after, limit).await
    }

    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError> {
        events::events(self, filter, limit).await
    }

    async fn sealed_secrets(&self) -> Result<Vec<(SealedSlot, Sealed)>, StoreError> {
        secrets::sealed_secrets(self).await
    }

    async fn reseal(
        &self,
        slot: &SealedSlot,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        secrets::reseal(self, slot, old, new).await
    }
}
