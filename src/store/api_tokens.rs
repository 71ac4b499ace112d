//! API tokens (SPEC §14, `migrations/*/0017_api_tokens.sql`): the [`ApiTokens`] aggregate.
//!
//! Invariants: a token is kept only as its keyed hash. The two per-request lookups (the
//! token with its owner, and with the owner's membership of one workspace for forward-auth)
//! are remembered by the node cache like a session's, so revoking (deleting) a token
//! publishes: once the revocation answers, no node honours the token. Its first use is
//! claimed by one conditional update (`last_used_at IS NULL`), which records the
//! `api_token_first_used` event in the same transaction, so it is recorded once however many
//! nodes see the token at once. An admin reset, a password reset, two-factor turned off and
//! a suspension delete the account's tokens in their own transaction ([`revoke_all`] in
//! each backend), each with an `api_token_revoked` event.

use async_trait::async_trait;

use super::rows::{MembershipRow, OwnerRow};
use super::{Journal, StoreError};
use crate::domain::account::Account;
use crate::domain::api_token::{ApiToken, ApiTokenId};
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorSummary;
use crate::domain::workspace::{Role, SecondFactors, Workspace};

/// API tokens: creating, the per-request lookups, use, listing and revoking.
#[async_trait]
pub trait ApiTokens: Send + Sync {
    /// Keeps a new token, with `journal` (its `api_token_created` event), in one transaction.
    async fn create_api_token(
        &self,
        token: &NewApiToken,
        journal: Journal<'_>,
    ) -> Result<(), StoreError>;
    /// The token with this keyed hash, with its account and two-factor state, in one query.
    async fn api_token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenLookup>, StoreError>;
    /// [`ApiTokens::api_token_by_hash`] with the account's membership of `workspace`, in
    /// one query (forward-auth).
    async fn api_token_in_workspace(
        &self,
        hash: &[u8],
        workspace: &str,
    ) -> Result<Option<WorkspaceTokenLookup>, StoreError>;
    /// Records use of a token at `now`. Its first use is claimed by one conditional update
    /// and records `first_use` in the same transaction: true for that one caller.
    async fn touch_api_token(
        &self,
        id: &ApiTokenId,
        now: UnixTime,
        first_use: &NewEvent,
    ) -> Result<bool, StoreError>;
    /// The account's tokens, newest first (expired ones included).
    async fn list_api_tokens(&self, account: &AccountId) -> Result<Vec<ApiToken>, StoreError>;
    /// Every token of every account, with its owner's address, by address then newest
    /// first (for `deadbolt user list --tokens`).
    async fn all_api_tokens(&self) -> Result<Vec<(String, ApiToken)>, StoreError>;
    /// Revokes (deletes) one of the account's tokens, recording `revoked` in the same
    /// transaction; false when there was none.
    async fn revoke_api_token(
        &self,
        account: &AccountId,
        id: &ApiTokenId,
        revoked: &NewEvent,
    ) -> Result<bool, StoreError>;
}

/// A token to keep: the token and its keyed hash.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// The token as listed.
    pub token: ApiToken,
    /// HMAC-SHA256 of the secret under the instance key.
    pub hash: Vec<u8>,
}

/// A token with its account, for the per-request lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLookup {
    /// The token.
    pub token: ApiToken,
    /// Its account.
    pub account: Account,
    /// The account's second factors.
    pub factors: SecondFactors,
    /// The account's authenticator, as `/me` shows it.
    pub two_factor: TwoFactorSummary,
}

/// A token lookup with the account's membership of one workspace, for forward-auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceTokenLookup {
    /// The token and its account.
    pub found: TokenLookup,
    /// The workspace and the account's role in it, when it is a member.
    pub membership: Option<(Workspace, Role)>,
}

/// The columns of an [`ApiToken`] (decoded by [`ApiTokenRow`]) from `api_tokens k`.
pub(super) const TOKEN_COLUMNS: &str =
    "k.id, k.account_id, k.name, k.created_at, k.expires_at, k.last_used_at";

#[derive(sqlx::FromRow)]
pub(super) struct ApiTokenRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<ApiTokenRow> for ApiToken {
    fn from(row: ApiTokenRow) -> Self {
        ApiToken {
            id: ApiTokenId(row.id),
            account_id: AccountId(row.account_id),
            name: row.name,
            created_at: UnixTime(row.created_at),
            expires_at: UnixTime(row.expires_at),
            last_used_at: row.last_used_at.map(UnixTime),
        }
    }
}

/// A token joined with its account.
#[derive(sqlx::FromRow)]
pub(super) struct TokenAccountRow {
    #[sqlx(flatten)]
    pub token: ApiTokenRow,
    #[sqlx(flatten)]
    pub owner: OwnerRow,
}

impl From<TokenAccountRow> for TokenLookup {
    fn from(row: TokenAccountRow) -> Self {
        let (account, factors, two_factor) = row.owner.into_parts();
        TokenLookup {
            token: row.token.into(),
            account,
            factors,
            two_factor,
        }
    }
}

/// A token lookup with a membership.
#[derive(sqlx::FromRow)]
pub(super) struct WorkspaceTokenRow {
    #[sqlx(flatten)]
    pub found: TokenAccountRow,
    #[sqlx(flatten)]
    pub membership: MembershipRow,
}

impl From<WorkspaceTokenRow> for WorkspaceTokenLookup {
    fn from(row: WorkspaceTokenRow) -> Self {
        WorkspaceTokenLookup {
            found: row.found.into(),
            membership: row.membership.into(),
        }
    }
}

/// A token owned by an account with this address (for the CLI's listing).
#[derive(sqlx::FromRow)]
pub(super) struct OwnedTokenRow {
    #[sqlx(flatten)]
    pub token: ApiTokenRow,
    pub email: String,
}

/// The `SELECT` of a token lookup by keyed hash (`{hash}`, a placeholder), with the
/// account's recovery codes counted.
pub(super) fn lookup_sql(hash: &str) -> String {
    use super::{OWNER_COLUMNS, RECOVERY_COUNT_COLUMN};
    format!(
        "SELECT {TOKEN_COLUMNS}, {OWNER_COLUMNS}, {RECOVERY_COUNT_COLUMN}
         FROM api_tokens k JOIN accounts a ON a.id = k.account_id
         LEFT JOIN two_factor t ON t.account_id = k.account_id
         WHERE k.token_hash = {hash}"
    )
}

/// The `SELECT` of a forward-auth token lookup by keyed hash (`{hash}`) and workspace
/// (`{workspace}`), placeholders.
pub(super) fn lookup_in_workspace_sql(hash: &str, workspace: &str) -> String {
    use super::{MEMBERSHIP_COLUMNS, OWNER_COLUMNS};
    format!(
        "SELECT {TOKEN_COLUMNS}, {OWNER_COLUMNS}, CAST(NULL AS BIGINT) AS t_recovery_codes,
                {MEMBERSHIP_COLUMNS}
         FROM api_tokens k JOIN accounts a ON a.id = k.account_id
         LEFT JOIN two_factor t ON t.account_id = k.account_id
         LEFT JOIN memberships m
             ON m.account_id = k.account_id AND m.workspace_id = {workspace}
         LEFT JOIN workspaces w ON w.id = m.workspace_id
         WHERE k.token_hash = {hash}"
    )
}
