//! Security events: what happened to an account, when, from where. Append-only; never a
//! secret, code or token in `details`.

use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A session was created.
    SignInSucceeded,
    /// A password sign-in failed.
    SignInFailed,
    /// A second factor was wrong at the challenge.
    ChallengeFailed,
    /// An already-used TOTP code was presented.
    CodeReused,
    /// The second factor was locked by too many failures.
    LockedOut,
    /// An enrolment (or a replacement) started.
    EnrollmentStarted,
    /// An enrolment was confirmed; two-factor is on (or moved to a new device).
    EnrollmentConfirmed,
    /// A recovery code was used.
    RecoveryCodeUsed,
    /// A fresh set of recovery codes replaced the old.
    RecoveryCodesRegenerated,
    /// Two-factor was turned off by its owner (or by a recovery sign-in).
    TwoFactorDisabled,
    /// A session was revoked by its owner.
    SessionRevoked,
    /// A workspace's two-factor enforcement changed.
    EnforcementChanged,
    /// The instance-wide two-factor requirement changed.
    InstancePolicyChanged,
    /// Someone joined a workspace.
    MemberJoined,
    /// A member's role changed.
    MemberRoleChanged,
    /// A member was removed.
    MemberRemoved,
    /// An invitation was sent.
    InvitationCreated,
    /// An instance admin reset the account's two-factor.
    TwoFactorReset,
    /// Someone with neither device nor recovery code asked for a reset.
    ResetRequested,
    /// A reset request was confirmed by the link e-mailed to the account's address.
    ResetRequestConfirmed,
    /// An owner of a workspace the person belongs to vouched for their reset request.
    ResetRequestVouched,
    /// A one-time link or code was e-mailed (`details.purpose`; never the token).
    EmailSent,
    /// A request named an address and got no message: no account has it, or the account
    /// may not receive one (an e-mail sign-in for an account with a password).
    EmailWithheld,
    /// The account's address was proven by a message sent to it.
    EmailVerified,
    /// The account moved to a new address, proven by a link sent to it (`details.from`,
    /// `details.to`); the address left is told.
    EmailChanged,
    /// The password was set or changed by its owner.
    PasswordChanged,
    /// A forgotten password was replaced through a link e-mailed to the account.
    PasswordReset,
    /// An instance admin suspended the account: it cannot sign in, its sessions ended.
    AccountSuspended,
    /// An instance admin lifted the account's suspension.
    AccountUnsuspended,
    /// The account was deleted, by its owner or an instance admin. The event keeps the id.
    AccountDeleted,
    /// An OpenID Connect client was granted an authorization code (`details.client_id`,
    /// `scope`, `acr`).
    OidcAuthorized,
    /// An authorization was refused (`details.client_id`, `error`: the person declined
    /// consent, or is not a member of the client's workspace).
    OidcAuthorizationDenied,
    /// The person consented to a client (`details.client_id`, `scope`).
    OidcConsentGranted,
    /// The person withdrew their consent to an application (`details.client_id`); its
    /// access tokens for them ended.
    OidcConsentRevoked,
    /// Tokens were issued: a code exchanged, or a refresh token used (`details.client_id`,
    /// `scope`, and `grant_type` for a refresh).
    OidcTokensIssued,
    /// A spent code was presented again; what it issued was revoked (`details.client_id`,
    /// `revoked`).
    OidcCodeReused,
    /// A spent refresh token was presented again; its whole family (every refresh and
    /// access token descended from the same code) was revoked (`details.client_id`,
    /// `revoked`).
    OidcRefreshReused,
    /// An instance admin registered a client (`details.client_id`).
    OidcClientCreated,
    /// An instance admin removed a client (`details.client_id`).
    OidcClientRemoved,
    /// The person created an API token (`details.token_id`, `name`, `expires_at`).
    ApiTokenCreated,
    /// An API token was used for the first time (`details.token_id`, `name`).
    ApiTokenFirstUsed,
    /// An API token was revoked (`details.token_id`, `name`, and `because`: the kind of
    /// the change that revoked it with the account's others, when not its owner alone).
    ApiTokenRevoked,
    /// A security key or passkey was registered (`details.credential`, `name`, `first`).
    WebAuthnAdded,
    /// A security key or passkey was removed (`details.credential`, `name`).
    WebAuthnRemoved,
    /// A security key or passkey answered a ceremony (`details.credential`, `purpose`,
    /// `user_verified`).
    WebAuthnUsed,
    /// A security key's signature counter did not move forward: it may have been cloned.
    /// The assertion was refused (`details.credential`, `stored`, `presented`).
    WebAuthnCounterAnomaly,
}

impl EventKind {
    /// The stable `snake_case` name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SignInSucceeded => "sign_in_succeeded",
            EventKind::SignInFailed => "sign_in_failed",
            EventKind::ChallengeFailed => "challenge_failed",
            EventKind::CodeReused => "code_reused",
            EventKind::LockedOut => "locked_out",
            EventKind::EnrollmentStarted => "enrollment_started",
            EventKind::EnrollmentConfirmed => "enrollment_confirmed",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
            EventKind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            EventKind::TwoFactorDisabled => "two_factor_disabled",
            EventKind::SessionRevoked => "session_revoked",
            EventKind::EnforcementChanged => "enforcement_changed",
            EventKind::InstancePolicyChanged => "instance_policy_changed",
            EventKind::MemberJoined => "member_joined",
            EventKind::MemberRoleChanged => "member_role_changed",
            EventKind::MemberRemoved => "member_removed",
            EventKind::InvitationCreated => "invitation_created",
            EventKind::TwoFactorReset => "two_factor_reset",
            EventKind::ResetRequested => "reset_requested",
            EventKind::ResetRequestConfirmed => "reset_request_confirmed",
            EventKind::ResetRequestVouched => "reset_request_vouched",
            EventKind::EmailSent => "email_sent",
            EventKind::EmailWithheld => "email_withheld",
            EventKind::EmailVerified => "email_verified",
            EventKind::EmailChanged => "email_changed",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordReset => "password_reset",
            EventKind::AccountSuspended => "account_suspended",
            EventKind::AccountUnsuspended => "account_unsuspended",
            EventKind::AccountDeleted => "account_deleted",
            EventKind::OidcAuthorized => "oidc_authorized",
            EventKind::OidcAuthorizationDenied => "oidc_authorization_denied",
            EventKind::OidcConsentGranted => "oidc_consent_granted",
            EventKind::OidcConsentRevoked => "oidc_consent_revoked",
            EventKind::OidcTokensIssued => "oidc_tokens_issued",
            EventKind::OidcCodeReused => "oidc_code_reused",
            EventKind::OidcRefreshReused => "oidc_refresh_reused",
            EventKind::OidcClientCreated => "oidc_client_created",
            EventKind::OidcClientRemoved => "oidc_client_removed",
            EventKind::ApiTokenCreated => "api_token_created",
            EventKind::ApiTokenFirstUsed => "api_token_first_used",
            EventKind::ApiTokenRevoked => "api_token_revoked",
            EventKind::WebAuthnAdded => "webauthn_added",
            EventKind::WebAuthnRemoved => "webauthn_removed",
            EventKind::WebAuthnUsed => "webauthn_used",
            EventKind::WebAuthnCounterAnomaly => "webauthn_counter_anomaly",
        }
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Whose account it concerns.
    pub account_id: Option<AccountId>,
    /// Who did it, when not the account itself (an admin).
    pub actor_id: Option<AccountId>,
    /// The workspace it concerns, if any.
    pub workspace_id: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: UnixTime,
    /// Client address.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Extra facts (never secrets), as a JSON object.
    pub details: serde_json::Value,
}

impl NewEvent {
    /// An event about `account`, done by its owner from `client`.
    pub fn by_owner(
        account: &AccountId,
        kind: EventKind,
        client: &ClientInfo,
        now: UnixTime,
        details: serde_json::Value,
    ) -> NewEvent {
        NewEvent {
            account_id: Some(account.clone()),
            actor_id: None,
            workspace_id: None,
            kind,
            at: now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details,
        }
    }
}

/// Who is calling: for throttling and the security log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client address: the peer, or, when the peer is a trusted proxy, the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub ip: Option<String>,
    /// The `User-Agent` header, cut to a sane length.
    pub user_agent: Option<String>,
}

/// Which events an instance admin asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this kind (`snake_case`).
    pub kind: Option<String>,
    /// Only about this account.
    pub account: Option<AccountId>,
    /// At or after.
    pub since: Option<UnixTime>,
    /// Before.
    pub until: Option<UnixTime>,
    /// Ids below this (the cursor).
    pub before: Option<i64>,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Increasing id (the pagination cursor).
    pub id: i64,
    /// Whose account.
    pub account_id: Option<AccountId>,
    /// Who did it.
    pub actor_id: Option<AccountId>,
    /// `snake_case` kind.
    pub kind: String,
    /// When.
    pub at: UnixTime,
    /// Client address.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Extra facts.
    pub details: serde_json::Value,
}
