//! The aggregate traits and `Store` for `SqliteStore`, each method handing over to the file
//! of its aggregate (or, for a sign-in's and a reset's transactions, to `sign_in.rs` and
//! `journal.rs`), through the node memory's gate.

use async_trait::async_trait;

use super::{
    accounts, challenges, events, recovery_codes, secrets, sessions, throttle, two_factor,
    workspaces, SqliteStore,
};
use crate::store::cache::{Key, Write};
use crate::store::*;

#[async_trait]
impl Accounts for SqliteStore {
    async fn create_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateAccount, async {
                accounts::create_account(self, account).await
            })
            .await
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
        self.cache
            .write(Write::CreateSetupToken, async {
                accounts::create_setup_token(self, token, expires_at).await
            })
            .await
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
        self.cache
            .write(Write::CreateFirstAdmin, async {
                accounts::create_first_admin(self, token, account, now).await
            })
            .await
    }

    async fn search_accounts(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        accounts::search_accounts(self, query, after, limit).await
    }
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateSession, async {
                sessions::create_session(self, new).await
            })
            .await
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionLookup>, StoreError> {
        self.cache
            .remembered(Key::Session(token.0.clone()), async {
                sessions::session_by_token(self, token).await
            })
            .await
    }

    async fn session_in_workspace(
        &self,
        token: &TokenHash,
        workspace: &str,
    ) -> Result<Option<WorkspaceSessionLookup>, StoreError> {
        self.cache
            .remembered(
                Key::InWorkspace(token.0.clone(), workspace.to_owned()),
                async { sessions::session_in_workspace(self, token, workspace).await },
            )
            .await
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        self.cache
            .write(Write::TouchSession, async {
                sessions::touch_session(self, id, now).await
            })
            .await?;
        self.cache.touched(id.as_str(), now);
        Ok(())
    }

    async fn list_sessions(&self, account: &AccountId) -> Result<Vec<Session>, StoreError> {
        sessions::list_sessions(self, account).await
    }

    async fn delete_session(
        &self,
        account: &AccountId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::DeleteSession, async {
                sessions::delete_session(self, account, id).await
            })
            .await
    }

    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.cache
            .write_if(
                Write::PurgeExpiredSessions,
                async { sessions::purge_expired_sessions(self, now).await },
                |purged| *purged > 0,
            )
            .await
    }
}

#[async_trait]
impl Throttles for SqliteStore {
    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        throttle::throttle_counter(self, key).await
    }

    async fn swap_counter(
        &self,
        key: &str,
        expected: Option<&Counter>,
        new: &Counter,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::SwapCounter, async {
                throttle::swap_counter(self, key, expected, new).await
            })
            .await
    }

    async fn refund_failure(&self, key: &str) -> Result<(), StoreError> {
        self.cache
            .write(Write::RefundFailure, async {
                throttle::refund_failure(self, key).await
            })
            .await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.cache
            .write(Write::ClearFailures, async {
                throttle::clear_failures(self, key).await
            })
            .await
    }
}

#[async_trait]
impl TwoFactors for SqliteStore {
    async fn two_factor(&self, account: &AccountId) -> Result<TwoFactorRecord, StoreError> {
        two_factor::two_factor(self, account).await
    }

    async fn start_enrollment(
        &self,
        account: &AccountId,
        secret: &Sealed,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::StartEnrollment, async {
                two_factor::start_enrollment(self, account, secret, expires_at).await
            })
            .await
    }

    async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), StoreError> {
        self.cache
            .write(Write::AbandonEnrollment, async {
                two_factor::abandon_enrollment(self, account).await
            })
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
        self.cache
            .write_if(
                Write::ConfirmEnrollment,
                async {
                    two_factor::confirm_enrollment(
                        self,
                        account,
                        pending,
                        step,
                        now,
                        recovery_hashes,
                        journal,
                    )
                    .await
                },
                |confirmed| *confirmed,
            )
            .await
    }

    async fn accept_step(&self, account: &AccountId, step: i64) -> Result<bool, StoreError> {
        self.cache
            .write(Write::AcceptStep, async {
                two_factor::accept_step(self, account, step).await
            })
            .await
    }

    async fn disable_two_factor(
        &self,
        account: &AccountId,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::DisableTwoFactor, async {
                two_factor::disable_two_factor(self, account, journal).await
            })
            .await
    }
}

#[async_trait]
impl RecoveryCodes for SqliteStore {
    async fn recovery_codes_remaining(&self, account: &AccountId) -> Result<u32, StoreError> {
        recovery_codes::recovery_codes_remaining(self, account).await
    }

    async fn consume_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<bool, StoreError> {
        self.cache
            .write_if(
                Write::ConsumeRecoveryCode,
                async { recovery_codes::consume_recovery_code(self, account, code_hash).await },
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
        self.cache
            .write(Write::ReplaceRecoveryCodes, async {
                recovery_codes::replace_recovery_codes(self, account, code_hashes, journal).await
            })
            .await
    }

    async fn add_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::AddRecoveryCode, async {
                recovery_codes::add_recovery_code(self, account, code_hash).await
            })
            .await
    }
}

#[async_trait]
impl Challenges for SqliteStore {
    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateChallenge, async {
                challenges::create_challenge(self, token, account, expires_at).await
            })
            .await
    }

    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError> {
        challenges::challenge(self, token).await
    }

    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError> {
        self.cache
            .write(Write::CountChallengeFailure, async {
                challenges::count_challenge_failure(self, token).await
            })
            .await
    }

    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError> {
        self.cache
            .write(Write::ConsumeChallenge, async {
                challenges::consume_challenge(self, token).await
            })
            .await
    }
}

#[async_trait]
impl SignIns for SqliteStore {
    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::SettlePassword, async {
                self.settle_password_now(settle, journal).await
            })
            .await
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
        // A TOTP sign-in only adds a session; a recovery code changes the count (and
        // its follow-up may turn two-factor off).
        let spent_code = matches!(completion.factor, SpentFactor::RecoveryCode(_));
        self.cache
            .write_if(
                Write::CompleteSignIn,
                async { self.complete_sign_in_now(completion, journal).await },
                move |done| spent_code && matches!(done, Completion::SignedIn { .. }),
            )
            .await
    }
}

#[async_trait]
impl Events for SqliteStore {
    async fn record_event(&self, event: &NewEvent, channels: Channels) -> Result<(), StoreError> {
        self.cache
            .write(Write::RecordEvent, async {
                events::record_event(self, event, channels).await
            })
            .await
    }

    async fn account_events(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        events::account_events(self, account, before, limit).await
    }

    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        events::workspace_events(self, workspace, before, limit).await
    }

    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError> {
        events::events(self, filter, limit).await
    }
}

#[async_trait]
impl Secrets for SqliteStore {
    async fn instance_secret(&self, name: &str) -> Result<Option<Sealed>, StoreError> {
        secrets::instance_secret(self, name).await
    }

    async fn insert_instance_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError> {
        self.cache
            .write(Write::InsertInstanceSecret, async {
                secrets::insert_instance_secret(self, name, sealed).await
            })
            .await
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
        self.cache
            .write(Write::Reseal, async {
                secrets::reseal(self, slot, old, new).await
            })
            .await
    }
}

#[async_trait]
impl Workspaces for SqliteStore {
    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &AccountId,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateWorkspace, async {
                workspaces::create_workspace(self, workspace, owner).await
            })
            .await
    }

    async fn account_workspaces(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        self.cache
            .remembered(Key::Workspaces(account.as_str().to_owned()), async {
                workspaces::account_workspaces(self, account).await
            })
            .await
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
        self.cache
            .write(Write::SetEnforcement, async {
                workspaces::set_enforcement(self, workspace).await
            })
            .await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateInvitation, async {
                workspaces::create_invitation(self, invitation, token).await
            })
            .await
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
        self.cache
            .write_if(
                Write::AcceptInvitation,
                async { workspaces::accept_invitation(self, token, account, now).await },
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
        self.cache
            .write(Write::ChangeRole, async {
                workspaces::change_role(self, workspace, account, role).await
            })
            .await
    }

    async fn remove_member(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<MemberChange, StoreError> {
        self.cache
            .write(Write::RemoveMember, async {
                workspaces::remove_member(self, workspace, account).await
            })
            .await
    }

    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError> {
        self.cache
            .remembered(Key::Policy, async {
                workspaces::instance_policy(self).await
            })
            .await
    }

    async fn set_instance_policy(&self, policy: &InstancePolicy) -> Result<(), StoreError> {
        self.cache
            .write(Write::SetInstancePolicy, async {
                workspaces::set_instance_policy(self, policy).await
            })
            .await
    }
}

#[async_trait]
impl Resets for SqliteStore {
    async fn reset_two_factor(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        self.cache
            .write(Write::ResetTwoFactor, async {
                self.reset_two_factor_now(account, now, record, channels)
                    .await
            })
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
        self.cache
            .write(Write::CreateResetRequest, async {
                self.file_reset_request(id, account, message, now, event, channels)
                    .await
            })
            .await
    }

    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError> {
        two_factor::open_reset_requests(self).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.cache
            .write(Write::Migrate, async {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?;
                Ok(())
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn join_cache(&self) -> Result<(), StoreError> {
        self.cache.join().await
    }

    async fn leave_cache(&self) {
        self.cache.leave().await;
    }
}
