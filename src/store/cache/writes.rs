//! Every write method of the store, named, and the one list of writes that do not
//! publish. A write publishes unless it is on [`EXEMPT`]: a new write publishes until
//! someone shows, here, that it changes nothing a node remembers.
//!
//! What a node remembers (see `memory.rs`): a session with its account and two-factor
//! summary, that session's membership of one workspace, an account's workspaces (each with
//! its role and enforcement), the instance policy, and an API token with its account (and
//! membership) like a session's, an OpenID Connect client, the sealed signing keys, and an
//! OpenID Connect access token with its account and its session's expiry. Never anything
//! it did not find.

/// One write method of the store (of [`crate::store::Store`] or
/// [`crate::store::Outbox`]), named as the method is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    Migrate,
    CreateAccount,
    CreateSetupToken,
    CreateFirstAdmin,
    CreateSession,
    SettlePassword,
    TouchSession,
    DeleteSession,
    PurgeExpiredSessions,
    SwapCounter,
    RefundFailure,
    ClearFailures,
    StartEnrollment,
    AbandonEnrollment,
    ConfirmEnrollment,
    AcceptStep,
    DisableTwoFactor,
    ResetTwoFactor,
    ConsumeRecoveryCode,
    ReplaceRecoveryCodes,
    AddRecoveryCode,
    CreateChallenge,
    CountChallengeFailure,
    ConsumeChallenge,
    CompleteSignIn,
    RecordEvent,
    InsertInstanceSecret,
    CreateWorkspace,
    SetEnforcement,
    CreateInvitation,
    AcceptInvitation,
    ChangeRole,
    RemoveMember,
    SetInstancePolicy,
    CreateResetRequest,
    VouchResetRequest,
    Reseal,
    DeliverNext,
    RetryDelivery,
    IssueEmailToken,
    SpendEmailLink,
    SpendEmailCode,
    PurgeEmailTokens,
    SetPassword,
    SuspendAccount,
    UnsuspendAccount,
    DeleteAccount,
    CreateOidcClient,
    SyncOidcClients,
    RemoveOidcClient,
    GrantOidcConsent,
    RevokeOidcConsent,
    CreateOidcCode,
    ExchangeOidcCode,
    PurgeOidc,
    RotateOidcRefreshToken,
    RevokeOidcToken,
    DeliverOidcLogout,
    CreateApiToken,
    TouchApiToken,
    RevokeApiToken,
    OpenCeremony,
    TakeCeremony,
    PurgeCeremonies,
    AddCredential,
    RenameCredential,
    RemoveCredential,
    UseCredential,
}

/// The writes that do not publish, grouped by why they change nothing a node remembers.
/// Only a write whose every effect is outside what nodes remember belongs here; a write
/// that sometimes changes remembered data publishes, and may skip the publish only when
/// its own answer says it changed nothing (`NodeCache::write_if`).
pub(super) const EXEMPT: &[(&str, &[Write])] = &[
    (
        "a new account or session: nothing unknown is remembered, so no node remembers it \
         missing (settling a password may instead open a challenge, and clears counters)",
        &[
            Write::CreateAccount,
            Write::CreateFirstAdmin,
            Write::CreateSession,
            Write::SettlePassword,
        ],
    ),
    (
        "last_seen_at: no remembered decision uses it; each node records use itself and \
         updates its own memory (`touch_session`)",
        &[Write::TouchSession],
    ),
    (
        "throttle counters are never remembered",
        &[
            Write::SwapCounter,
            Write::RefundFailure,
            Write::ClearFailures,
        ],
    ),
    (
        "challenges and the last accepted TOTP step are never remembered",
        &[
            Write::CreateChallenge,
            Write::CountChallengeFailure,
            Write::ConsumeChallenge,
            Write::AcceptStep,
        ],
    ),
    (
        "events, reset requests (and owners' vouches for them) and outbox deliveries are \
         never remembered",
        &[
            Write::RecordEvent,
            Write::CreateResetRequest,
            Write::VouchResetRequest,
            Write::DeliverNext,
            Write::RetryDelivery,
        ],
    ),
    (
        "e-mail tokens are never remembered (spending one publishes: it verifies an address, \
         and a link may change the account's address or password and end its sessions)",
        &[Write::IssueEmailToken, Write::PurgeEmailTokens],
    ),
    (
        "setup links and invitations are never remembered (accepting an invitation \
         publishes), and a new instance secret was unknown, which is never remembered \
         (replacing one, `Reseal`, publishes: the signing keys are remembered)",
        &[
            Write::CreateSetupToken,
            Write::CreateInvitation,
            Write::InsertInstanceSecret,
        ],
    ),
    (
        "OpenID Connect consents and codes are never remembered, and a new access token is \
         unknown to every node (nothing unknown is remembered); access tokens are remembered \
         (userinfo, introspection), so what ends one publishes: revocation, a withdrawn \
         consent, the purge, and an exchange or refresh that finds its code or token reused \
         (`write_if`: a plain exchange or rotation only adds tokens)",
        &[Write::GrantOidcConsent, Write::CreateOidcCode],
    ),
    (
        "back-channel logout deliveries are never remembered",
        &[Write::DeliverOidcLogout],
    ),
    (
        "a new API token is unknown to every node (nothing unknown is remembered); a token's \
         last_used_at decides nothing but whether to record use again, which its conditional \
         updates settle in the database (revoking one publishes)",
        &[Write::CreateApiToken, Write::TouchApiToken],
    ),
    (
        "WebAuthn ceremonies, and credentials' names and signature counters, are never \
         remembered (adding or removing a credential publishes: it changes the account's \
         second factors)",
        &[
            Write::OpenCeremony,
            Write::TakeCeremony,
            Write::PurgeCeremonies,
            Write::RenameCredential,
            Write::UseCredential,
        ],
    ),
];

impl Write {
    /// Why this write does not publish, or `None` when it does.
    pub(super) fn exemption(self) -> Option<&'static str> {
        EXEMPT
            .iter()
            .find(|(_, writes)| writes.contains(&self))
            .map(|(why, _)| *why)
    }

    /// Whether this write publishes (everything not on [`EXEMPT`]).
    pub(super) fn publishes(self) -> bool {
        self.exemption().is_none()
    }
}
