//! OpenID Connect refresh tokens, revocation and introspection (SPEC §12,
//! `migrations/*/0015_oidc_refresh_tokens.sql`): the [`OidcRefresh`] aggregate.
//!
//! Invariants: a refresh token is kept only as the SHA-256 digest of 256 random bits. Its
//! family is the code it descends from (`code_hash`). It is spent by one conditional update
//! (rows affected decide), so of any number of nodes rotating it only one succeeds; a spent
//! one presented again marks the code reused (nothing more is issued from it) and deletes
//! the family's refresh and access tokens, in one transaction. A refresh token is used only
//! while its session lives and its account is not suspended, so every way a session ends
//! (sign-out, revocation, a password reset, an admin reset, suspension, deletion) ends it at
//! once. Every write is exempt from the node cache (`cache/writes.rs`).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::time::UnixTime;

/// Refresh tokens, and what revocation and introspection need.
#[async_trait]
pub trait OidcRefresh: Send + Sync {
    /// Rotates the refresh token `presented`, if `client_id` holds it: spends it (one conditional update, for exactly
    /// one caller on any node) and keeps `next` (a refresh token) and `access` (an access
    /// token) in its family, in one transaction. A spent token is [`Rotation::Reused`] and its
    /// family is revoked.
    async fn rotate_oidc_refresh_token(
        &self,
        presented: &TokenHash,
        client_id: &str,
        next: &IssuedTokens,
        now: UnixTime,
    ) -> Result<Rotation, StoreError>;
    /// Revokes the token with this digest if `client_id` holds it (RFC 7009): a refresh token
    /// with its family, an access token alone. How many tokens were deleted.
    async fn revoke_oidc_token(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// The live, unspent refresh token with this digest (its session living, its account not
    /// suspended), for introspection.
    async fn oidc_refresh_token(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshGrant>, StoreError>;
}

/// What a refresh token carries over from the sign-in it descends from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    /// The family: the digest of the code it descends from.
    pub code_hash: TokenHash,
    /// The client.
    pub client_id: String,
    /// The person.
    pub account_id: AccountId,
    /// The session it was granted under.
    pub session_id: SessionId,
    /// Scopes granted, space-separated.
    pub scope: String,
    /// When the person signed in (kept by every refreshed ID token).
    pub auth_time: UnixTime,
    /// How (the session's methods).
    pub amr: String,
    /// `ok` or `grace`.
    pub access: String,
    /// When grace ends, in grace.
    pub deadline: Option<UnixTime>,
    /// The member's role, for a workspace client.
    pub workspace_role: Option<String>,
    /// When this token was issued.
    pub created_at: UnixTime,
    /// When it lapses.
    pub expires_at: UnixTime,
}

/// The tokens a rotation issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// The next refresh token's digest.
    pub refresh_hash: TokenHash,
    /// When it lapses.
    pub refresh_expires_at: UnixTime,
    /// The access token's digest.
    pub access_hash: TokenHash,
    /// When it lapses.
    pub access_expires_at: UnixTime,
}

/// What rotating a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Spent now, by this caller; the new tokens are kept. What the spent one carried.
    Rotated(Box<RefreshGrant>),
    /// Spent before: its family was revoked.
    Reused {
        /// The client it was issued to.
        client_id: String,
        /// The person.
        account_id: AccountId,
        /// Tokens deleted.
        revoked: u64,
    },
    /// No such token, lapsed, its session ended, or its family revoked.
    Unknown,
}

/// The columns of a refresh token, as both backends read and write them.
pub(super) const REFRESH_COLUMNS: &str = "code_hash, client_id, account_id, session_id, scope, \
     auth_time, amr, access, deadline, workspace_role, created_at, expires_at";

/// The condition under which a refresh token may be used (`{now}`: the backend's
/// placeholder for now): its session lives and its account is not suspended.
pub(super) const REFRESH_USABLE: &str = "oidc_refresh_tokens.expires_at > {now} \
     AND EXISTS (SELECT 1 FROM sessions s \
                 WHERE s.id = oidc_refresh_tokens.session_id AND s.expires_at > {now}) \
     AND EXISTS (SELECT 1 FROM accounts a \
                 WHERE a.id = oidc_refresh_tokens.account_id AND a.suspended_at IS NULL)";

/// A refresh token row.
#[derive(sqlx::FromRow)]
pub(super) struct RefreshRow {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub account_id: String,
    pub session_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub amr: String,
    pub access: String,
    pub deadline: Option<i64>,
    pub workspace_role: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<RefreshRow> for RefreshGrant {
    fn from(row: RefreshRow) -> Self {
        RefreshGrant {
            code_hash: TokenHash(row.code_hash),
            client_id: row.client_id,
            account_id: AccountId(row.account_id),
            session_id: SessionId(row.session_id),
            scope: row.scope,
            auth_time: UnixTime(row.auth_time),
            amr: row.amr,
            access: row.access,
            deadline: row.deadline.map(UnixTime),
            workspace_role: row.workspace_role,
            created_at: UnixTime(row.created_at),
            expires_at: UnixTime(row.expires_at),
        }
    }
}

/// A spent token's family and owner, read to revoke it.
#[derive(sqlx::FromRow)]
pub(super) struct FamilyRow {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub account_id: String,
}
