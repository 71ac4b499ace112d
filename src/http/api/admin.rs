//! The instance-wide two-factor requirement: set in `[policy]`, overridable at run time by
//! instance admins through `/admin/security`. It lives in the database so every node agrees.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::config::{PolicyConfig, RequireTwoFactor};
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{valid_grace_period, InstancePolicy, InstanceScope, PolicySource};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, Authenticated, ClientInfo};
use crate::http::AppState;
use crate::store::{Store, StoreError};

fn scope_of(require: RequireTwoFactor) -> InstanceScope {
    match require {
        RequireTwoFactor::Off => InstanceScope::Off,
        RequireTwoFactor::Everyone => InstanceScope::Everyone,
        RequireTwoFactor::Admins => InstanceScope::Admins,
    }
}

/// At start: the configured policy replaces a stored one that also came from the
/// configuration (so editing `[policy]` takes effect); an admin's run-time choice stays.
pub async fn sync_instance_policy(
    store: &dyn Store,
    configured: PolicyConfig,
    now: UnixTime,
) -> Result<(), StoreError> {
    let current = store.instance_policy().await?;
    if current.is_some_and(|p| p.source == PolicySource::Admin) {
        return Ok(());
    }
    let scope = scope_of(configured.require_two_factor);
    let unchanged = current
        .is_some_and(|p| p.scope == scope && p.grace_period_days == configured.grace_period_days);
    if !unchanged {
        let policy = InstancePolicy::changed(
            current.as_ref(),
            scope,
            configured.grace_period_days,
            PolicySource::Config,
            now,
        );
        store.set_instance_policy(&policy).await?;
    }
    Ok(())
}

/// The instance requirement.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceSecurityView {
    /// `off`, `everyone` or `admins`.
    pub require_two_factor: &'static str,
    /// Days of grace.
    pub grace_period_days: u32,
    /// When it was turned on.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub enforced_since: Option<UnixTime>,
    /// `enforced_since + grace`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<UnixTime>,
    /// `config` or `admin`: where the setting in force came from.
    pub source: &'static str,
}

/// A new instance requirement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceSecurityRequest {
    /// `off`, `everyone` or `admins`.
    pub require_two_factor: String,
    /// 0, 3, 7, 14 or 30.
    pub grace_period_days: u32,
}

fn view(policy: Option<InstancePolicy>) -> InstanceSecurityView {
    let policy = policy.unwrap_or(InstancePolicy {
        scope: InstanceScope::Off,
        grace_period_days: 0,
        enforced_since: None,
        source: PolicySource::Config,
    });
    InstanceSecurityView {
        require_two_factor: policy.scope.as_str(),
        grace_period_days: policy.grace_period_days,
        enforced_since: policy.enforced_since,
        deadline: policy.requirement_for(true).map(|r| r.deadline()),
        source: match policy.source {
            PolicySource::Config => "config",
            PolicySource::Admin => "admin",
        },
    }
}

/// The instance requirement (instance admins).
#[utoipa::path(get, path = "/admin/security", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = InstanceSecurityView),
              (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn get_instance_security(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<InstanceSecurityView>, ApiError> {
    if !auth.account.is_admin {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(view(state.store.instance_policy().await?)))
}

/// Sets the instance requirement (instance admins, who need two-factor to turn it on).
#[utoipa::path(put, path = "/admin/security", tag = "admin",
    security(("bearer" = [])),
    request_body = InstanceSecurityRequest,
    responses((status = 200, body = InstanceSecurityView),
              (status = 403, description = "`forbidden`", body = ErrorBody),
              (status = 409, description = "`enable_two_factor_first`", body = ErrorBody),
              (status = 422, description = "`invalid_grace_period`, `invalid_body`", body = ErrorBody)))]
pub async fn put_instance_security(
    State(state): State<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    AppJson(request): AppJson<InstanceSecurityRequest>,
) -> Result<Json<InstanceSecurityView>, ApiError> {
    if !auth.account.is_admin {
        return Err(ApiError::Forbidden);
    }
    let scope = InstanceScope::parse(&request.require_two_factor).ok_or_else(|| {
        ApiError::InvalidBody("require_two_factor: one of off, everyone, admins".to_owned())
    })?;
    if !valid_grace_period(request.grace_period_days) {
        return Err(ApiError::InvalidGracePeriod);
    }
    if scope != InstanceScope::Off && !auth.has_two_factor {
        return Err(ApiError::EnableTwoFactorFirst);
    }
    let current = state.store.instance_policy().await?;
    let policy = InstancePolicy::changed(
        current.as_ref(),
        scope,
        request.grace_period_days,
        PolicySource::Admin,
        auth.now,
    );
    state.store.set_instance_policy(&policy).await?;
    state.policy.put(Some(policy));
    state
        .store
        .record_event(&NewEvent {
            account_id: Some(auth.account.id.clone()),
            actor_id: Some(auth.account.id.clone()),
            workspace_id: None,
            kind: EventKind::InstancePolicyChanged,
            at: auth.now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details: json!({"require_two_factor": scope.as_str(), "grace_period_days": request.grace_period_days}),
        })
        .await?;
    Ok(Json(view(Some(policy))))
}
