//! Lost-device reset requests as others than the instance admins meet them (SPEC §11, "Lost
//! everything, confirmed"): the link e-mailed to the account's address confirms its open
//! request, and owners of a workspace the person belongs to list their members' open
//! requests and vouch for one. The operations are [`crate::signin::reset_confirm`] and
//! [`crate::workspaces::resets`]; the admins' side is `resets.rs`.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiCaller, AppJson, ClientInfo};
use crate::http::AppState;

/// The token of a link `/reset-requests/confirm/TOKEN`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The token.
    pub token: String,
}

/// The request is confirmed from the mailbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct Confirmed {
    /// The address it was confirmed from (now verified).
    pub email: String,
    /// Always true.
    pub email_confirmed: bool,
}

/// Confirms the open reset request of the account a link was e-mailed to (its
/// `email_confirmed_at`); the link works once, for 24 hours.
#[utoipa::path(post, path = "/reset-requests/confirm", tag = "sessions",
    request_body = ConfirmRequest,
    responses(
        (status = 200, body = Confirmed),
        (status = 422, description = "`invalid_token`: unknown, used, expired or replaced \
         link, or the request is no longer open", body = ErrorBody)))]
pub async fn confirm_reset_request(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(request): AppJson<ConfirmRequest>,
) -> Result<Json<Confirmed>, ApiError> {
    let now = state.clock.now();
    let spent = state
        .signin
        .confirm_reset_request(&request.token, &client, now)
        .await?;
    Ok(Json(Confirmed {
        email: spent.email.as_str().to_owned(),
        email_confirmed: true,
    }))
}

/// A member's open reset request, as an owner of the workspace sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRequestView {
    /// Request id.
    pub id: String,
    /// The member's account.
    pub account_id: String,
    /// Its e-mail.
    pub email: String,
    /// What the person wrote.
    pub message: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When the link e-mailed to the account's address confirmed it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub email_confirmed_at: Option<UnixTime>,
    /// Whether an owner of this workspace vouched for it.
    pub vouched: bool,
    /// Whether the caller did.
    pub vouched_by_you: bool,
}

/// The open requests of a workspace's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRequestList {
    /// Oldest first; never the caller's own.
    pub requests: Vec<MemberRequestView>,
}

/// The open lost-device reset requests of the workspace's members (owners only).
#[utoipa::path(get, path = "/workspaces/{id}/reset-requests", tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, body = MemberRequestList),
        (status = 403, description = "`forbidden` (not an owner), `two_factor_required`",
         body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn list_member_reset_requests(
    State(state): State<AppState>,
    auth: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<MemberRequestList>, ApiError> {
    let requests = state
        .workspaces
        .reset_requests(auth.caller(), &id)
        .await?
        .into_iter()
        .map(|member| MemberRequestView {
            id: member.request.id,
            account_id: member.request.account_id.0,
            email: member.request.email,
            message: member.request.message,
            created_at: member.request.created_at,
            email_confirmed_at: member.request.email_confirmed_at,
            vouched: member.vouched,
            vouched_by_you: member.vouched_by_caller,
        })
        .collect();
    Ok(Json(MemberRequestList { requests }))
}

/// An owner's vouch.
#[derive(Debug, Serialize, ToSchema)]
pub struct VouchedView {
    /// The request.
    pub request_id: String,
    /// Whose.
    pub account_id: String,
    /// When the caller vouched (the first time, for a repeat).
    #[schema(value_type = String, format = DateTime)]
    pub vouched_at: UnixTime,
    /// False when the caller had vouched already (nothing changed).
    pub recorded: bool,
}

/// Vouches, as an owner, that a member's open reset request is legitimate. Once per owner
/// and request: a repeat answers 200 with the first vouch and `recorded: false`.
#[utoipa::path(post, path = "/workspaces/{id}/reset-requests/{request_id}/vouch",
    tag = "workspaces",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"),
           ("request_id" = String, Path, description = "Reset request id")),
    responses(
        (status = 200, body = VouchedView),
        (status = 403, description = "`forbidden` (not an owner, or your own request), \
         `two_factor_required`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such workspace, or no open request of \
         its members with that id", body = ErrorBody)))]
pub async fn vouch_for_reset_request(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    Path((id, request_id)): Path<(String, String)>,
) -> Result<Json<VouchedView>, ApiError> {
    let vouched = state
        .workspaces
        .vouch(auth.caller(), &client, &id, &request_id)
        .await?;
    Ok(Json(VouchedView {
        request_id: vouched.request_id,
        account_id: vouched.account_id,
        vouched_at: vouched.at,
        recorded: vouched.recorded,
    }))
}
