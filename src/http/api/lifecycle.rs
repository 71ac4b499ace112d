//! The end of an account's life (SPEC §11): instance admins suspend, unsuspend and delete
//! accounts (a reason is mandatory), and a person deletes their own account after a proof.
//! The operations are [`crate::admin::lifecycle`]'s and [`crate::accounts::lifecycle`]'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{admin_only, ApiCaller, AppJson, Authenticated, ClientInfo};
use crate::http::AppState;
use crate::signin::proof::Proof;

/// Why an admin suspends, unsuspends or deletes an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Mandatory, recorded in the audit trail (1–1000 characters).
    pub reason: Option<String>,
}

/// An account's suspension, after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuspensionView {
    /// The account.
    pub account_id: String,
    /// Whether it is suspended now.
    pub suspended: bool,
    /// Since when, while suspended.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub suspended_at: Option<UnixTime>,
    /// Sessions the suspension ended.
    pub sessions_ended: u64,
}

/// What an admin's deletion did.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletionView {
    /// The deleted account's id, which the audit trail keeps.
    pub account_id: String,
    /// Sessions ended.
    pub sessions_ended: u64,
    /// Workspaces it was the only member of, deleted with it.
    pub workspaces_deleted: u64,
}

/// Suspends an account (instance admins; a reason is mandatory): it cannot sign in, and
/// its sessions end at once.
#[utoipa::path(post, path = "/admin/accounts/{id}/suspend", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    request_body = ReasonBody,
    responses((status = 200, body = SuspensionView),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody),
              (status = 409, description = "`own_account`, `already_suspended`", body = ErrorBody),
              (status = 422, description = "`reason_required`", body = ErrorBody)))]
pub async fn suspend_account(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    Path(id): Path<String>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<SuspensionView>, ApiError> {
    admin_only(&auth)?;
    let (account, sessions_ended) = state
        .admin
        .suspend(auth.caller(), &client, &id, body.reason.as_deref())
        .await?;
    Ok(Json(SuspensionView {
        account_id: account.id.0,
        suspended: true,
        suspended_at: Some(auth.now),
        sessions_ended,
    }))
}

/// Lifts an account's suspension (instance admins; a reason is mandatory).
#[utoipa::path(post, path = "/admin/accounts/{id}/unsuspend", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    request_body = ReasonBody,
    responses((status = 200, body = SuspensionView),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody),
              (status = 409, description = "`own_account`, `not_suspended`", body = ErrorBody),
              (status = 422, description = "`reason_required`", body = ErrorBody)))]
pub async fn unsuspend_account(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    Path(id): Path<String>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<SuspensionView>, ApiError> {
    admin_only(&auth)?;
    let account = state
        .admin
        .unsuspend(auth.caller(), &client, &id, body.reason.as_deref())
        .await?;
    Ok(Json(SuspensionView {
        account_id: account.id.0,
        suspended: false,
        suspended_at: None,
        sessions_ended: 0,
    }))
}

/// Deletes an account (instance admins; a reason is mandatory). The audit trail keeps its
/// id and the `account_deleted` event; its address is free again.
#[utoipa::path(delete, path = "/admin/accounts/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    request_body = ReasonBody,
    responses((status = 200, body = DeletionView),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody),
              (status = 409, description = "`own_account`, `last_owner`", body = ErrorBody),
              (status = 422, description = "`reason_required`", body = ErrorBody)))]
pub async fn delete_account(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    Path(id): Path<String>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<DeletionView>, ApiError> {
    admin_only(&auth)?;
    let deleted = state
        .admin
        .delete_account(auth.caller(), &client, &id, body.reason.as_deref())
        .await?;
    Ok(Json(DeletionView {
        account_id: deleted.account_id.0,
        sessions_ended: deleted.sessions_ended,
        workspaces_deleted: deleted.workspaces_deleted,
    }))
}

/// Deletes the signed-in account, after a proof. The last owner of a workspace with other
/// members must hand it over first.
#[utoipa::path(delete, path = "/me", tag = "me",
    security(("bearer" = [])),
    request_body = Proof,
    responses((status = 204, description = "Deleted; every session ended"),
              (status = 401, description = "`unauthenticated`", body = ErrorBody),
              (status = 403, description = "`confirmation_failed`", body = ErrorBody),
              (status = 409, description = "`last_owner`", body = ErrorBody)))]
pub async fn delete_me(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(proof): AppJson<Proof>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_own_account(&auth.account, proof, &client, auth.now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
