//! Reading rusqlite rows into the row shapes both backends share (`store/rows/`,
//! `store/outbox.rs`): one [`FromRow`] decoder per shape, by column name (each field reads
//! the column of its own name, as PostgreSQL's derived decoders do), so both backends'
//! `SELECT`s name their columns alike.
//! Besides, [`optional`] and [`all`], the fetches every aggregate file uses.

use rusqlite::{Connection, OptionalExtension, Params, Row};

use crate::store::api_tokens::{ApiTokenRow, OwnedTokenRow, TokenAccountRow, WorkspaceTokenRow};
use crate::store::oidc::{AccessTokenRow, ClientRow, GrantRow};
use crate::store::oidc_logout::{LogoutQueue, LogoutRow};
use crate::store::oidc_refresh::{FamilyRow, RefreshRow};
use crate::store::outbox::{CountsRow, DueRow, RecordRow};
use crate::store::rows::{
    AccountRow, AccountSummaryRow, ChallengeContextRow, ChallengeRow, CounterRow, EventRow,
    InvitationRow, MemberRow, MembershipRow, OwnerRow, PolicyRow, ResetRequestRow, SealedRow,
    SessionAccountRow, SessionRow, TwoFactorRow, VouchRow, WorkspaceRoleRow, WorkspaceRow,
    WorkspaceSessionRow,
};

/// A row shape read from a rusqlite row by column name.
pub(super) trait FromRow: Sized {
    /// Reads the shape's columns from `row`.
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

/// The one row `sql` finds, if any (a cached statement on `conn`).
pub(super) fn optional<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> rusqlite::Result<Option<T>> {
    conn.prepare_cached(sql)?
        .query_row(params, T::from_row)
        .optional()
}

/// Every row `sql` finds, in order (a cached statement on `conn`).
pub(super) fn all<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> rusqlite::Result<Vec<T>> {
    conn.prepare_cached(sql)?
        .query_map(params, T::from_row)?
        .collect()
}

/// Implements [`FromRow`] for each shape: a field named alone is read from the column of
/// the same name; `field: Shape` is a whole shape read from the same row.
macro_rules! from_rows {
    ($($shape:ident { $($field:ident $(: $nested:ident)?),* $(,)? },)*) => {$(
        impl FromRow for $shape {
            fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
                Ok(Self { $($field: from_rows!(@field row, $field $(, $nested)?),)* })
            }
        }
    )*};
    (@field $row:ident, $field:ident) => {
        $row.get(stringify!($field))?
    };
    (@field $row:ident, $field:ident, $nested:ident) => {
        $nested::from_row($row)?
    };
}

from_rows! {
    AccountRow {
        id, email, name, password_hash, is_admin, created_at, email_verified_at, suspended_at,
    },
    AccountSummaryRow { account: AccountRow, has_two_factor, pending_until, last_sign_in_at },
    ChallengeRow { account_id, expires_at, failures },
    ChallengeContextRow {
        challenge: ChallengeRow, account: AccountRow, two_factor: TwoFactorRow, k_failures,
        k_window_start, k_locked_until, recovery_codes_remaining,
    },
    EventRow { id, account_id, actor_id, kind, at, ip, user_agent, details },
    SealedRow { slot, owner, key_id, blob },
    SessionRow { id, account_id, created_at, last_seen_at, expires_at, ip, user_agent },
    OwnerRow {
        a_id, a_email, a_name, a_password_hash, a_is_admin, a_created_at, a_email_verified_at,
        a_suspended_at, a_has_totp, a_has_webauthn, t_enabled_at,
        t_pending_until, t_recovery_codes,
    },
    SessionAccountRow { session: SessionRow, owner: OwnerRow },
    MembershipRow {
        w_id, w_name, w_created_at, w_enforcement, w_grace_period_days, w_enforced_since,
        w_required_factor, m_role,
    },
    WorkspaceSessionRow { found: SessionAccountRow, membership: MembershipRow },
    ApiTokenRow { id, account_id, name, created_at, expires_at, last_used_at },
    TokenAccountRow { token: ApiTokenRow, owner: OwnerRow },
    WorkspaceTokenRow { found: TokenAccountRow, membership: MembershipRow },
    OwnedTokenRow { token: ApiTokenRow, email },
    CounterRow { failures, window_start, locked_until },
    TwoFactorRow {
        key_id, secret, enabled_at, last_step, pending_key_id, pending_secret,
        pending_expires_at, webauthn_keys,
    },
    ResetRequestRow { id, account_id, email, message, created_at, email_confirmed_at },
    VouchRow { request_id, account_id, email, workspace_id, at },
    WorkspaceRow {
        id, name, created_at, enforcement, grace_period_days, enforced_since, required_factor,
    },
    WorkspaceRoleRow { workspace: WorkspaceRow, role },
    MemberRow { account_id, email, role, has_totp, has_webauthn },
    InvitationRow { id, workspace_id, email, role, invited_by, created_at, expires_at },
    PolicyRow { require_two_factor, grace_period_days, enforced_since, source, required_factor },
    CountsRow { pending, retrying, delivered, abandoned },
    DueRow {
        id, channel, attempts, event_id, account_id, actor_id, kind, at, ip, user_agent,
        details, account_email, recipient_email, message_key, message,
    },
    RecordRow {
        id, channel, event_id, kind, account_id, recipient_email, attempts, last_error,
        created_at, next_attempt_at, delivered_at, abandoned_at,
    },
    ClientRow {
        client_id, name, redirect_uris, secret_hash, workspace_id, require_two_factor, trusted,
        post_logout_redirect_uris, backchannel_logout_uri, id_token_alg, source, created_at,
    },
    GrantRow {
        code_hash, client_id, account_id, session_id, redirect_uri, scope, code_challenge,
        nonce, auth_time, amr, access, deadline, workspace_role, created_at, expires_at,
    },
    AccessTokenRow {
        client_id, account_id, scope, access, deadline, workspace_role, email, email_verified,
        name, issued_at, expires_at, session_expires_at,
    },
    RefreshRow {
        code_hash, client_id, account_id, session_id, scope, auth_time, amr, access, deadline,
        workspace_role, created_at, expires_at,
    },
    FamilyRow { code_hash, client_id, account_id },
    LogoutRow { id, client_id, uri, account_id, session_id, attempts },
    LogoutQueue { client_id, waiting, abandoned, delivered, last_error },
}
