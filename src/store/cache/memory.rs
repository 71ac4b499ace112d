//! What one node remembers: the answers of the reads every authenticated request makes,
//! by key, each for at most [`ENTRY_TTL`], at most [`CAPACITY`] of them, and never an
//! answer read before the last [`Memory::clear`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use super::{CAPACITY, ENTRY_TTL};
use crate::domain::sealed::Sealed;
use crate::domain::time::UnixTime;
use crate::domain::workspace::{InstancePolicy, Role, Workspace};
use crate::store::{
    AccessTokenGrant, OidcClient, SessionLookup, TokenLookup, WorkspaceSessionLookup,
    WorkspaceTokenLookup,
};

/// What a remembered read was asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// `session_by_token`.
    Session(Vec<u8>),
    /// `session_in_workspace`.
    InWorkspace(Vec<u8>, String),
    /// `account_workspaces`.
    Workspaces(String),
    /// `instance_policy`.
    Policy,
    /// `api_token_by_hash`.
    Token(Vec<u8>),
    /// `api_token_in_workspace`.
    TokenInWorkspace(Vec<u8>, String),
    /// `instance_secret` (the sealed ID-token signing keys, read at every signature).
    Secret(String),
    /// `oidc_client` (read at every token request).
    Client(String),
    /// `oidc_access_token` (read at every userinfo and introspection request), by digest;
    /// the answer is judged against the caller's `now` each time it is used.
    AccessToken(Vec<u8>),
}

/// What a remembered read answered.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Session(SessionLookup),
    InWorkspace(WorkspaceSessionLookup),
    Workspaces(Vec<(Workspace, Role)>),
    Policy(InstancePolicy),
    Token(TokenLookup),
    TokenInWorkspace(WorkspaceTokenLookup),
    Secret(Sealed),
    Client(Box<OidcClient>),
    AccessToken(Box<AccessTokenGrant>),
}

impl Value {
    /// The session or API token this answer is about, whose use [`Memory::touched`] records.
    fn credential_id(&self) -> Option<&str> {
        match self {
            Value::Session(found) => Some(found.session.id.as_str()),
            Value::InWorkspace(found) => Some(found.found.session.id.as_str()),
            Value::Token(found) => Some(found.token.id.as_str()),
            Value::TokenInWorkspace(found) => Some(found.found.token.id.as_str()),
            Value::Workspaces(_)
            | Value::Policy(_)
            | Value::Secret(_)
            | Value::Client(_)
            | Value::AccessToken(_) => None,
        }
    }

    fn touch(&mut self, now: UnixTime) {
        let session = match self {
            Value::Session(found) => &mut found.session,
            Value::InWorkspace(found) => &mut found.found.session,
            Value::Token(found) => return touch_token(&mut found.token.last_used_at, now),
            Value::TokenInWorkspace(found) => {
                return touch_token(&mut found.found.token.last_used_at, now)
            }
            Value::Workspaces(_)
            | Value::Policy(_)
            | Value::Secret(_)
            | Value::Client(_)
            | Value::AccessToken(_) => return,
        };
        session.last_seen_at = session.last_seen_at.max(now);
    }
}

fn touch_token(last_used_at: &mut Option<UnixTime>, now: UnixTime) {
    *last_used_at = Some(last_used_at.map_or(now, |last| last.max(now)));
}

/// The answer of a read that a node may remember.
pub(crate) trait Remembered: Sized {
    /// What to keep of this answer; `None` when it found nothing (nothing unknown is
    /// remembered).
    fn kept(&self) -> Option<Value>;
    /// The answer again, from what was kept under the same key.
    fn recalled(value: Value) -> Option<Self>;
}

impl Remembered for Option<SessionLookup> {
    fn kept(&self) -> Option<Value> {
        self.clone().map(Value::Session)
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::Session(found) => Some(Some(found)),
            _ => None,
        }
    }
}

impl Remembered for Option<WorkspaceSessionLookup> {
    fn kept(&self) -> Option<Value> {
        self.clone().map(Value::InWorkspace)
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::InWorkspace(found) => Some(Some(found)),
            _ => None,
        }
    }
}

impl Remembered for Option<TokenLookup> {
    fn kept(&self) -> Option<Value> {
        self.clone().map(Value::Token)
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::Token(found) => Some(Some(found)),
            _ => None,
        }
    }
}

impl Remembered for Option<WorkspaceTokenLookup> {
    fn kept(&self) -> Option<Value> {
        self.clone().map(Value::TokenInWorkspace)
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::TokenInWorkspace(found) => Some(Some(found)),
            _ => None,
        }
    }
}

impl Remembered for Vec<(Workspace, Role)> {
    fn kept(&self) -> Option<Value> {
        Some(Value::Workspaces(self.clone()))
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::Workspaces(found) => Some(found),
            _ => None,
        }
    }
}

impl Remembered for Option<InstancePolicy> {
    fn kept(&self) -> Option<Value> {
        self.map(Value::Policy)
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::Policy(policy) => Some(Some(policy)),
            _ => None,
        }
    }
}

impl Remembered for Option<Sealed> {
    fn kept(&self) -> Option<Value> {
        self.clone().map(Value::Secret)
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::Secret(sealed) => Some(Some(sealed)),
            _ => None,
        }
    }
}

impl Remembered for Option<OidcClient> {
    fn kept(&self) -> Option<Value> {
        self.clone().map(|client| Value::Client(Box::new(client)))
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::Client(client) => Some(Some(*client)),
            _ => None,
        }
    }
}

impl Remembered for Option<AccessTokenGrant> {
    fn kept(&self) -> Option<Value> {
        self.clone()
            .map(|grant| Value::AccessToken(Box::new(grant)))
    }

    fn recalled(value: Value) -> Option<Self> {
        match value {
            Value::AccessToken(grant) => Some(Some(*grant)),
            _ => None,
        }
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

    pub(super) fn get(&self, key: &Key) -> Option<Value> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let (at, value) = entries.values.get(key)?;
        (at.elapsed() < ENTRY_TTL).then(|| value.clone())
    }

    pub(super) fn remember(&self, read_at: u64, key: Key, value: Value) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.epoch.load(Ordering::Acquire) != read_at {
            return;
        }
        if entries.values.len() >= CAPACITY {
            entries.values.clear();
            entries.by_session.clear();
        }
        if let Some(id) = value.credential_id() {
            let keys = entries.by_session.entry(id.to_owned()).or_default();
            if !keys.contains(&key) {
                keys.push(key.clone());
            }
        }
        entries.values.insert(key, (Instant::now(), value));
    }

    /// The session or API token `session` was used at `now` (what it remembers of it says
    /// so too).
    pub(super) fn touched(&self, session: &str, now: UnixTime) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let Entries { values, by_session } = &mut *entries;
        for key in by_session.get(session).into_iter().flatten() {
            if let Some((_, value)) = values.get_mut(key) {
                value.touch(now);
            }
        }
    }
}
