//! The JSON API under `/api/v1` (SPEC §6) and the operations endpoints, registered through
//! `utoipa-axum` so that every route is in the OpenAPI document by construction.
//!
//! Handlers only translate: they extract the request, call the operation
//! ([`crate::accounts`], [`crate::workspaces`], [`crate::admin`], [`crate::signin`]) and
//! shape its answer or error. Nothing imports from a handler module, not even another one.

pub mod accounts;
pub mod admin;
pub mod applications;
pub mod authz;
pub mod email;
pub mod lifecycle;
pub mod me;
pub mod members;
pub mod notifications;
pub mod oidc_clients;
pub mod ops;
pub mod password;
pub mod reset_requests;
pub mod resets;
pub mod sessions;
pub mod sign_in;
pub mod tokens;
pub mod two_factor;
pub mod webauthn;
pub mod webauthn_sign_in;
pub mod workspaces;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;

/// Prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Deadbolt",
        description = "Account and two-factor authentication server. Errors are \
                       `{\"error\": {\"code\": …, \"message\": …}}` with a stable `code`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Creating accounts"),
        (name = "sessions", description = "Signing in and out"),
        (name = "me", description = "The signed-in account"),
        (name = "two-factor", description = "Authenticator, recovery codes"),
        (name = "webauthn", description = "Security keys and passkeys"),
        (name = "workspaces", description = "Workspaces, members, enforcement"),
        (name = "authz", description = "Forward-auth for reverse proxies"),
        (name = "admin", description = "Instance administration"),
        (name = "operations", description = "Health, readiness, metrics")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every documented route.
pub fn router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(accounts::create_account))
        .routes(routes!(sign_in::create_session, sessions::list_sessions))
        .routes(routes!(sessions::delete_current_session))
        .routes(routes!(sessions::delete_session))
        .routes(routes!(
            sign_in::answer_challenge,
            sign_in::cancel_challenge
        ))
        .routes(routes!(me::get_me, lifecycle::delete_me))
        .routes(routes!(me::list_my_events))
        .routes(routes!(applications::list_applications))
        .routes(routes!(applications::revoke_application))
        .routes(routes!(
            two_factor::start_enrollment,
            two_factor::abandon_enrollment
        ))
        .routes(routes!(two_factor::enrollment_qr_png))
        .routes(routes!(two_factor::confirm_enrollment))
        .routes(routes!(two_factor::check_code))
        .routes(routes!(two_factor::regenerate_recovery_codes))
        .routes(routes!(two_factor::disable_two_factor))
        .routes(routes!(
            workspaces::create_workspace,
            workspaces::list_workspaces
        ))
        .routes(routes!(workspaces::get_workspace))
        .routes(routes!(members::list_members))
        .routes(routes!(members::create_invitation))
        .routes(routes!(members::accept_invitation))
        .routes(routes!(members::change_member_role, members::remove_member))
        .routes(routes!(workspaces::get_security, workspaces::put_security))
        .routes(routes!(workspaces::list_workspace_events))
        .routes(routes!(authz::authorize))
        .routes(routes!(
            admin::get_instance_security,
            admin::put_instance_security
        ))
        .routes(routes!(resets::reset_two_factor))
        .routes(routes!(lifecycle::suspend_account))
        .routes(routes!(lifecycle::unsuspend_account))
        .routes(routes!(lifecycle::delete_account))
        .routes(routes!(resets::list_reset_requests))
        .routes(routes!(reset_requests::confirm_reset_request))
        .routes(routes!(reset_requests::list_member_reset_requests))
        .routes(routes!(reset_requests::vouch_for_reset_request))
        .routes(routes!(admin::list_accounts))
        .routes(routes!(admin::list_events))
        .routes(routes!(notifications::list_notifications))
        .routes(routes!(notifications::retry_notification))
        .routes(routes!(
            oidc_clients::list_clients,
            oidc_clients::create_client
        ))
        .routes(routes!(oidc_clients::remove_client))
        .routes(routes!(sign_in::request_reset))
        .routes(routes!(sign_in::request_email_sign_in))
        .routes(routes!(sign_in::email_sign_in))
        .routes(routes!(email::send_verification))
        .routes(routes!(email::change_email))
        .routes(routes!(email::verify_email))
        .routes(routes!(email::send_email_proof))
        .routes(routes!(password::change_password))
        .routes(routes!(password::forgot_password))
        .routes(routes!(password::reset_password))
        .routes(routes!(ops::openapi_document))
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(webauthn::list_credentials))
        .routes(routes!(webauthn::start_registration))
        .routes(routes!(webauthn::finish_registration))
        .routes(routes!(
            webauthn::rename_credential,
            webauthn::remove_credential
        ))
        .routes(routes!(webauthn::start_proof))
        .routes(routes!(webauthn_sign_in::start_challenge_webauthn))
        .routes(routes!(webauthn_sign_in::start_passkey))
        .routes(routes!(webauthn_sign_in::finish_passkey));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(API_PREFIX, v1)
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
}
