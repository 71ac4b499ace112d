//! Lost-device resets for instance admins: the audited reset of an account's two-factor
//! (a reason is mandatory; with `[recovery] reset_requires`, an open request must carry its
//! marks unless forced) and the open requests people filed, with their marks. The reset
//! itself is [`crate::admin::reset`]'s, shared with `deadbolt user reset-two-factor`.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::reset_request::ResetMode;
use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{admin_only, ApiCaller, AppJson, ClientInfo};
use crate::http::AppState;

/// Why an admin resets an account's two-factor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    /// Mandatory, recorded in the audit trail (1–1000 characters).
    pub reason: Option<String>,
    /// Reset even though the account's open request lacks the marks
    /// `[recovery] reset_requires` asks for (recorded as forced). Default false.
    #[serde(default)]
    pub force: bool,
}

/// The reset's effect.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetView {
    /// The account.
    pub account_id: String,
    /// Always `not_configured` after a reset.
    pub two_factor: &'static str,
    /// Whether two-factor had been enabled.
    pub was_enabled: bool,
    /// Sessions ended.
    pub sessions_revoked: u64,
    /// Reset requests answered.
    pub requests_closed: u64,
}

/// Resets an account's two-factor (instance admins; a reason is mandatory).
#[utoipa::path(post, path = "/admin/accounts/{id}/two-factor/reset", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    request_body = ResetRequestBody,
    responses((status = 200, body = ResetView),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody),
              (status = 409, description = "`reset_not_confirmed`: the open request lacks a \
               mark `[recovery] reset_requires` asks for", body = ErrorBody),
              (status = 422, description = "`reason_required`", body = ErrorBody)))]
pub async fn reset_two_factor(
    State(state): State<AppState>,
    auth: ApiCaller,
    client: ClientInfo,
    Path(id): Path<String>,
    AppJson(body): AppJson<ResetRequestBody>,
) -> Result<Json<ResetView>, ApiError> {
    admin_only(&auth)?;
    let (account, outcome) = state
        .admin
        .reset_two_factor(
            auth.caller(),
            &client,
            &id,
            body.reason.as_deref(),
            ResetMode::forced(body.force),
        )
        .await?;
    Ok(Json(ResetView {
        account_id: account.id.0,
        two_factor: "not_configured",
        was_enabled: outcome.was_enabled,
        sessions_revoked: outcome.sessions_revoked,
        requests_closed: outcome.requests_closed,
    }))
}

/// An open reset request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetRequestView {
    /// Request id.
    pub id: String,
    /// The account.
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
    /// The owners who vouched for it.
    pub vouches: Vec<VouchView>,
}

/// An owner's vouch for a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct VouchView {
    /// The owner's account.
    pub account_id: String,
    /// The owner's e-mail.
    pub email: String,
    /// The workspace they own that the person belongs to.
    pub workspace_id: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: UnixTime,
}

/// Open reset requests.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetRequestList {
    /// Oldest first.
    pub requests: Vec<ResetRequestView>,
}

/// Open lost-device reset requests (instance admins).
#[utoipa::path(get, path = "/admin/reset-requests", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = ResetRequestList),
              (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_reset_requests(
    State(state): State<AppState>,
    auth: ApiCaller,
) -> Result<Json<ResetRequestList>, ApiError> {
    admin_only(&auth)?;
    let requests = state
        .admin
        .reset_requests()
        .await?
        .into_iter()
        .map(|r| ResetRequestView {
            id: r.id,
            account_id: r.account_id.0,
            email: r.email,
            message: r.message,
            created_at: r.created_at,
            email_confirmed_at: r.email_confirmed_at,
            vouches: r
                .vouches
                .into_iter()
                .map(|v| VouchView {
                    account_id: v.account_id.0,
                    email: v.email,
                    workspace_id: v.workspace_id,
                    at: v.at,
                })
                .collect(),
        })
        .collect();
    Ok(Json(ResetRequestList { requests }))
}
