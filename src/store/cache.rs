//! A node's memory of the reads every authenticated request makes (the session with its
//! account, forward-auth's session with membership, the account's workspaces), kept
//! coherent with the database so that a revocation is still seen at once everywhere.
//!
//! Why: on PostgreSQL one session lookup costs the database about 150 µs of CPU in executor
//! start-up, so a node could not answer authenticated reads at more than a fraction of its
//! `/healthz` rate (BENCHMARKS.md). Answering from memory removes that query.
//!
//! Invariants (what makes it safe):
//! - A write that changes anything remembered goes through [`CachedStore`], which, after
//!   the commit, clears this node's memory and then waits in [`Coherence::publish`] until
//!   no node can answer from data older than that commit. Only then does the caller (and so
//!   the person revoking a session) get an answer. The CLI publishes the same way.
//! - A node answers from memory only while [`Coherence::current`] says so: on PostgreSQL
//!   while it holds a lease in the database that writers respect (see
//!   `postgres/coherence.rs`); on SQLite while `PRAGMA data_version` has not moved.
//! - A read that started before a clear is never remembered after it ([`Memory::epoch`]).
//! - Nothing unknown is remembered (no negative entries), entries live at most
//!   [`ENTRY_TTL`], and at most [`CAPACITY`] of them are kept.
//! - Not published (so up to [`ENTRY_TTL`] stale on another node): fields no session
//!   lookup decision uses, i.e. `last_seen_at` (each node records use itself, at most once
//!   a minute) and the account's `last_sign_in_at`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::outbox::{DeliveryCounts, DeliveryRecord, DeliveryStatus, Outbox};
use super::*;
use crate::domain::notification::{Attempt, Channel};
use crate::store::outbox::Courier;

/// How long an entry is used at most, whatever happens.
pub const ENTRY_TTL: Duration = Duration::from_secs(10);

/// Most entries kept; past it the memory starts over.
pub const CAPACITY: usize = 65_536;

/// How a backend keeps every node's memory coherent with the database.
#[async_trait]
pub(crate) trait Coherence: Send + Sync + std::fmt::Debug {
    /// Whether this node may answer from `memory` right now (clearing it first when the
    /// database changed behind its back).
    fn current(&self, memory: &Memory) -> bool;
    /// Called after a committed write that changes remembered data: returns once no node
    /// can answer from data older than that write.
    async fn publish(&self) -> Result<(), StoreError>;
    /// This process starts answering from `memory`.
    async fn join(&self, memory: Arc<Memory>) -> Result<(), StoreError>;
    /// This process stops answering from memory (graceful shutdown).
    async fn leave(&self);
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Session(Vec<u8>),
    InWorkspace(Vec<u8>, String),
    Workspaces(String),
}

#[derive(Debug, Clone)]
enum Value {
    Session(SessionLookup),
    InWorkspace(WorkspaceSessionLookup),
    Workspaces(Vec<(Workspace, Role)>),
}

impl Value {
    fn session_id(&self) -> Option<&str> {
        match self {
            Value::Session(found) => Some(found.session.id.as_str()),
            Value::InWorkspace(found) => Some(found.found.session.id.as_str()),
            Value::Workspaces(_) => None,
        }
    }

    fn touch(&mut self, now: UnixTime) {
        let session = match self {
            Value::Session(found) => &mut found.session,
            Value::InWorkspace(found) => &mut found.found.session,
            Value::Workspaces(_) => return,
        };
        session.last_seen_at = session.last_seen_at.max(now);
    }
}

#[derive(Debug, Default)]
struct Entries {
    values: HashMap<Key, (Instant, Value)>,
    by_session: HashMap<String, Vec<Key>>,
}

/// The remembered reads of one node.
#[derive(Debug, Default)]
pub struct Memory {
    epoch: AtomicU64,
    entries: RwLock<Entries>,
}

impl Memory {
    /// Changes whenever the memory is cleared; a read remembers its answer only if it
    /// did not change while the read ran.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.values.clear();
        entries.by_session.clear();
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values
            .len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, key: &Key) -> Option<Value> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let (at, value) = entries.values.get(key)?;
        (at.elapsed() < ENTRY_TTL).then(|| value.clone())
    }

    fn remember(&self, read_at: u64, key: Key, value: Value) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.epoch.load(Ordering::Acquire) != read_at {
            return;
        }
        if entries.values.len() >= CAPACITY {
            entries.values.clear();
            entries.by_session.clear();
        }
        if let Some(id) = value.session_id() {
            let keys = entries.by_session.entry(id.to_owned()).or_default();
            if !keys.contains(&key) {
                keys.push(key.clone());
            }
        }
        entries.values.insert(key, (Instant::now(), value));
    }

    fn touched(&self, session: &str, now: UnixTime) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let Entries { values, by_session } = &mut *entries;
        for key in by_session.get(session).into_iter().flatten() {
            if let Some((_, value)) = values.get_mut(key) {
                value.touch(now);
            }
        }
    }
}

/// A [`Store`] that answers the per-request reads from memory when its backend's
/// [`Coherence`] allows, and publishes every write that changes them.
pub(crate) struct CachedStore {
    inner: Arc<dyn Store>,
    coherence: Arc<dyn Coherence>,
    memory: Arc<Memory>,
    serving: AtomicBool,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("coherence", &self.coherence)
            .field("entries", &self.memory.len())
            .finish_non_exhaustive()
    }
}

impl CachedStore {
    pub(crate) fn new(inner: Arc<dyn Store>, coherence: Arc<dyn Coherence>) -> Self {
        Self {
            inner,
            coherence,
            memory: Arc::default(),
            serving: AtomicBool::new(false),
        }
    }

    fn usable(&self) -> bool {
        self.serving.load(Ordering::Acquire) && self.coherence.current(&self.memory)
    }

    /// A remembered read, or the store's answer (remembered when it found something).
    async fn read<T: Send>(
        &self,
        key: Key,
        from: impl Fn(Value) -> Option<T>,
        into: impl Fn(&T) -> Option<Value>,
        read: impl std::future::Future<Output = Result<T, StoreError>> + Send,
    ) -> Result<T, StoreError> {
        if !self.usable() {
            return read.await;
        }
        if let Some(found) = self.memory.get(&key).and_then(&from) {
            return Ok(found);
        }
        let epoch = self.memory.epoch();
        let found = read.await?;
        if let Some(value) = into(&found) {
            if self.usable() {
                self.memory.remember(epoch, key, value);
            }
        }
        Ok(found)
    }

    /// After a committed write that changes remembered data.
    async fn changed(&self) -> Result<(), StoreError> {
        self.memory.clear();
        self.coherence.publish().await
    }

    /// Passes `result` on, publishing first when `changed` says the write changed
    /// remembered data.
    async fn after<T>(
        &self,
        result: Result<T, StoreError>,
        changed: impl FnOnce(&T) -> bool,
    ) -> Result<T, StoreError> {
        let value = result?;
        if changed(&value) {
            self.changed().await?;
        }
        Ok(value)
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn join_cache(&self) -> Result<(), StoreError> {
        self.coherence.join(Arc::clone(&self.memory)).await?;
        self.serving.store(true, Ordering::Release);
        Ok(())
    }

    async fn leave_cache(&self) {
        self.serving.store(false, Ordering::Release);
        self.memory.clear();
        self.coherence.leave().await;
    }

    async fn create_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        self.inner.create_account(account).await
    }

    async fn account_by_id(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.inner.account_by_id(id).await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        self.inner.account_by_email(email).await
    }

    async fn count_accounts(&self) -> Result<u64, StoreError> {
        self.inner.count_accounts().await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.inner.list_accounts().await
    }

    async fn create_setup_token(
        &self,
        token: &TokenHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.inner.create_setup_token(token, expires_at).await
    }

    async fn setup_token_is_live(
        &self,
        token: &TokenHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.inner.setup_token_is_live(token, now).await
    }

    async fn create_first_admin(
        &self,
        token: &TokenHash,
        account: &NewAccount,
        now: UnixTime,
    ) -> Result<FirstAdmin, StoreError> {
        self.inner.create_first_admin(token, account, now).await
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.inner.create_session(session).await
    }

    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        // A new session or challenge changes nothing remembered.
        self.inner.settle_password(settle, journal).await
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionLookup>, StoreError> {
        self.read(
            Key::Session(token.0.clone()),
            |value| match value {
                Value::Session(found) => Some(Some(found)),
                _ => None,
            },
            |found| found.clone().map(Value::Session),
            self.inner.session_by_token(token),
        )
        .await
    }

    async fn session_in_workspace(
        &self,
        token: &TokenHash,
        workspace: &str,
    ) -> Result<Option<WorkspaceSessionLookup>, StoreError> {
        self.read(
            Key::InWorkspace(token.0.clone(), workspace.to_owned()),
            |value| match value {
                Value::InWorkspace(found) => Some(Some(found)),
                _ => None,
            },
            |found| found.clone().map(Value::InWorkspace),
            self.inner.session_in_workspace(token, workspace),
        )
        .await
    }

    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError> {
        self.inner.touch_session(id, now).await?;
        self.memory.touched(id.as_str(), now);
        Ok(())
    }

    async fn list_sessions(&self, account: &AccountId) -> Result<Vec<Session>, StoreError> {
        self.inner.list_sessions(account).await
    }

    async fn delete_session(
        &self,
        account: &AccountId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        let result = self.inner.delete_session(account, id).await;
        // Published even when nothing was deleted: a retry after a publish that failed
        // must not answer before every node forgot.
        self.after(result, |_| true).await
    }

    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        let result = self.inner.purge_expired_sessions(now).await;
        self.after(result, |purged| *purged > 0).await
    }

    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        self.inner.throttle_counter(key).await
    }

    async fn password_attempt(
        &self,
        address: &str,
        account_key: &str,
        email: Option<&Email>,
    ) -> Result<PasswordAttempt, StoreError> {
        self.inner
            .password_attempt(address, account_key, email)
            .await
    }

    async fn swap_counter(
        &self,
        key: &str,
        expected: Option<&Counter>,
        new: &Counter,
    ) -> Result<bool, StoreError> {
        self.inner.swap_counter(key, expected, new).await
    }

    async fn refund_failure(&self, key: &str) -> Result<(), StoreError> {
        self.inner.refund_failure(key).await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.inner.clear_failures(key).await
    }

    async fn two_factor(&self, account: &AccountId) -> Result<TwoFactorRecord, StoreError> {
        self.inner.two_factor(account).await
    }

    async fn start_enrollment(
        &self,
        account: &AccountId,
        secret: &Sealed,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let result = self
            .inner
            .start_enrollment(account, secret, expires_at)
            .await;
        self.after(result, |_| true).await
    }

    async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), StoreError> {
        let result = self.inner.abandon_enrollment(account).await;
        self.after(result, |_| true).await
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
        let result = self
            .inner
            .confirm_enrollment(account, pending, step, now, recovery_hashes, journal)
            .await;
        self.after(result, |confirmed| *confirmed).await
    }

    async fn accept_step(&self, account: &AccountId, step: i64) -> Result<bool, StoreError> {
        self.inner.accept_step(account, step).await
    }

    async fn disable_two_factor(
        &self,
        account: &AccountId,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        let result = self.inner.disable_two_factor(account, journal).await;
        self.after(result, |_| true).await
    }

    async fn reset_two_factor(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError> {
        let result = self
            .inner
            .reset_two_factor(account, now, record, channels)
            .await;
        self.after(result, |_| true).await
    }

    async fn recovery_codes_remaining(&self, account: &AccountId) -> Result<u32, StoreError> {
        self.inner.recovery_codes_remaining(account).await
    }

    async fn consume_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<bool, StoreError> {
        let result = self.inner.consume_recovery_code(account, code_hash).await;
        self.after(result, |used| *used).await
    }

    async fn replace_recovery_codes(
        &self,
        account: &AccountId,
        code_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        let result = self
            .inner
            .replace_recovery_codes(account, code_hashes, journal)
            .await;
        self.after(result, |_| true).await
    }

    async fn add_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<(), StoreError> {
        let result = self.inner.add_recovery_code(account, code_hash).await;
        self.after(result, |_| true).await
    }

    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.inner
            .create_challenge(token, account, expires_at)
            .await
    }

    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError> {
        self.inner.challenge(token).await
    }

    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError> {
        self.inner.count_challenge_failure(token).await
    }

    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError> {
        self.inner.consume_challenge(token).await
    }

    async fn challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        self.inner.challenge_context(token, counter_prefix).await
    }

    async fn complete_sign_in(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        let result = self.inner.complete_sign_in(completion, journal).await;
        // A TOTP sign-in only adds a session; a recovery code changes the count (and its
        // follow-up may turn two-factor off).
        let spent_code = matches!(completion.factor, SpentFactor::RecoveryCode(_));
        self.after(result, |done| {
            spent_code && matches!(done, Completion::SignedIn { .. })
        })
        .await
    }

    async fn record_event(&self, event: &NewEvent, channels: Channels) -> Result<(), StoreError> {
        self.inner.record_event(event, channels).await
    }

    async fn account_events(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.account_events(account, before, limit).await
    }

    async fn instance_secret(&self, name: &str) -> Result<Option<Sealed>, StoreError> {
        self.inner.instance_secret(name).await
    }

    async fn insert_instance_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError> {
        self.inner.insert_instance_secret(name, sealed).await
    }

    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &AccountId,
    ) -> Result<(), StoreError> {
        let result = self.inner.create_workspace(workspace, owner).await;
        self.after(result, |_| true).await
    }

    async fn account_workspaces(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        self.read(
            Key::Workspaces(account.as_str().to_owned()),
            |value| match value {
                Value::Workspaces(found) => Some(found),
                _ => None,
            },
            |found| Some(Value::Workspaces(found.clone())),
            self.inner.account_workspaces(account),
        )
        .await
    }

    async fn membership(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<Option<(Workspace, Role)>, StoreError> {
        self.inner.membership(workspace, account).await
    }

    async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError> {
        self.inner.members(workspace).await
    }

    async fn set_enforcement(&self, workspace: &Workspace) -> Result<(), StoreError> {
        let result = self.inner.set_enforcement(workspace).await;
        self.after(result, |_| true).await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        self.inner.create_invitation(invitation, token).await
    }

    async fn invitation(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        self.inner.invitation(token).await
    }

    async fn accept_invitation(
        &self,
        token: &TokenHash,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Option<Invitation>, StoreError> {
        let result = self.inner.accept_invitation(token, account, now).await;
        self.after(result, Option::is_some).await
    }

    async fn change_role(
        &self,
        workspace: &str,
        account: &AccountId,
        role: Role,
    ) -> Result<MemberChange, StoreError> {
        let result = self.inner.change_role(workspace, account, role).await;
        self.after(result, |_| true).await
    }

    async fn remove_member(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<MemberChange, StoreError> {
        let result = self.inner.remove_member(workspace, account).await;
        self.after(result, |_| true).await
    }

    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.workspace_events(workspace, before, limit).await
    }

    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError> {
        self.inner.instance_policy().await
    }

    async fn set_instance_policy(&self, policy: &InstancePolicy) -> Result<(), StoreError> {
        let result = self.inner.set_instance_policy(policy).await;
        self.after(result, |_| true).await
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
        self.inner
            .create_reset_request(id, account, message, now, event, channels)
            .await
    }

    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError> {
        self.inner.open_reset_requests().await
    }

    async fn search_accounts(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        self.inner.search_accounts(query, after, limit).await
    }

    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.inner.events(filter, limit).await
    }

    async fn sealed_secrets(&self) -> Result<Vec<(SealedSlot, Sealed)>, StoreError> {
        self.inner.sealed_secrets().await
    }

    async fn reseal(
        &self,
        slot: &SealedSlot,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        self.inner.reseal(slot, old, new).await
    }
}

#[async_trait]
impl Outbox for CachedStore {
    async fn deliver_next(
        &self,
        channel: Channel,
        now: UnixTime,
        courier: &dyn Courier,
    ) -> Result<Option<Attempt>, StoreError> {
        self.inner.deliver_next(channel, now, courier).await
    }

    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.inner.deliveries(status, before, limit).await
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        self.inner.delivery_counts().await
    }

    async fn retry_delivery(&self, id: i64, now: UnixTime) -> Result<bool, StoreError> {
        self.inner.retry_delivery(id, now).await
    }
}
