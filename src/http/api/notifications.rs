//! The admin view of notification deliveries: what is pending, retrying, delivered or
//! abandoned, with the last failure, and a way to send an abandoned one again (the
//! operations are [`crate::admin::deliveries`]'s).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::time::UnixTime;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{admin_only, ApiCaller};
use crate::http::AppState;
use crate::store::outbox::{DeliveryCounts, DeliveryRecord, DeliveryStatus};

/// One delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Its id (receivers see it as `delivery_id`).
    pub id: i64,
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// The event reported.
    pub event_id: i64,
    /// Its kind.
    pub event_kind: String,
    /// The account the event is about.
    pub account_id: Option<String>,
    /// The e-mail recipient (absent for webhooks).
    pub recipient: Option<String>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued at.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// The next attempt, while one is scheduled.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<UnixTime>,
    /// Delivered at.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<UnixTime>,
    /// Given up at.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub abandoned_at: Option<UnixTime>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(record: DeliveryRecord) -> Self {
        DeliveryView {
            id: record.id,
            channel: record.channel.as_str(),
            event_id: record.event_id,
            event_kind: record.event_kind,
            account_id: record.account_id.map(|id| id.0),
            recipient: record.recipient_email,
            status: record.status,
            attempts: record.attempts,
            last_error: record.last_error,
            created_at: record.created_at,
            next_attempt_at: record.next_attempt_at,
            delivered_at: record.delivered_at,
            abandoned_at: record.abandoned_at,
        }
    }
}

/// A page of deliveries with the totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// How many stand where, over all deliveries.
    pub counts: DeliveryCounts,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// Filtering deliveries.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// `pending`, `retrying`, `delivered` or `abandoned`.
    pub status: Option<String>,
    /// The previous page's `next_before`.
    pub before: Option<i64>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<u32>,
}

/// Notification deliveries, newest first (instance admins).
#[utoipa::path(get, path = "/admin/notifications", tag = "admin",
    security(("bearer" = [])),
    params(DeliveriesQuery),
    responses((status = 200, body = DeliveryList),
              (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_notifications(
    State(state): State<AppState>,
    auth: ApiCaller,
    query: Result<axum::extract::Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    admin_only(&auth)?;
    let axum::extract::Query(query) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let page = state
        .admin
        .deliveries(query.status.as_deref(), query.before, limit)
        .await?;
    Ok(Json(DeliveryList {
        deliveries: page
            .deliveries
            .into_iter()
            .map(DeliveryView::from)
            .collect(),
        counts: page.counts,
        next_before: page.next_before,
    }))
}

/// Sends an abandoned delivery again, with a fresh set of attempts (instance admins).
#[utoipa::path(post, path = "/admin/notifications/{id}/retry", tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Delivery id")),
    responses((status = 202, description = "Scheduled now"),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 404, description = "`not_found`", body = ErrorBody),
              (status = 409, description = "`not_abandoned`", body = ErrorBody)))]
pub async fn retry_notification(
    State(state): State<AppState>,
    auth: ApiCaller,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    admin_only(&auth)?;
    state.admin.retry_delivery(&id, auth.now).await?;
    Ok(axum::http::StatusCode::ACCEPTED)
}
