//! The OpenID Connect provider's state (SPEC §12): the [`Oidc`] aggregate (clients,
//! consents, authorization codes, access tokens) and what it takes and answers. Each
//! backend implements it in its `oidc.rs` (`migrations/*/0014_oidc_provider.sql`).
//!
//! Invariants: codes and tokens are kept only as SHA-256 digests of 256-bit random values,
//! and a client secret only as a keyed hash. A code is spent by one conditional update, so
//! of any number of nodes redeeming it only one gets it (`oidc_exchange.rs`). The node cache
//! remembers clients (read at every token request; their writes publish) and nothing else
//! here: userinfo reads the database.

use async_trait::async_trait;

use super::{Journal, StoreError};
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::oidc::SigningAlgorithm;
use crate::domain::time::UnixTime;

/// OpenID Connect clients, consents, codes and access tokens.
#[async_trait]
pub trait Oidc: Send + Sync {
    /// Adds a client (from the admin API or the CLI); `Conflict(OidcClientId)` when the id
    /// is taken.
    async fn create_oidc_client(&self, client: &OidcClient) -> Result<(), StoreError>;
    /// Makes the configured clients (source [`ClientSource::Config`]) exactly `clients`:
    /// each is inserted or replaced, and configured clients no longer listed are removed.
    /// `Conflict(OidcClientId)` when one has the id of a client added by an admin.
    async fn sync_configured_oidc_clients(&self, clients: &[OidcClient]) -> Result<(), StoreError>;
    /// The client with this id.
    async fn oidc_client(&self, client_id: &str) -> Result<Option<OidcClient>, StoreError>;
    /// Every client, by id.
    async fn list_oidc_clients(&self) -> Result<Vec<OidcClient>, StoreError>;
    /// Removes a client added by an admin, with its consents, codes and tokens; false when
    /// there is none of that id and source.
    async fn remove_oidc_client(&self, client_id: &str) -> Result<bool, StoreError>;
    /// The scopes `account` consented to for `client_id`, space-separated.
    async fn oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Remembers `account`'s consent to `client_id` for `scope` (replacing an earlier one).
    async fn grant_oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// The applications `account` consented to, by name.
    async fn oidc_consents(&self, account: &AccountId) -> Result<Vec<Consent>, StoreError>;
    /// Withdraws `account`'s consent to `client_id` and ends the access and refresh tokens the
    /// client holds for the account, with `journal`, in one transaction; false when there was
    /// none.
    async fn revoke_oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError>;
    /// How the session was signed in: its recorded methods (space-separated) and its start,
    /// which is its `auth_time`.
    async fn session_sign_in(
        &self,
        session: &SessionId,
    ) -> Result<Option<(String, UnixTime)>, StoreError>;
    /// Keeps an authorization code.
    async fn create_oidc_code(&self, code: &OidcGrant) -> Result<(), StoreError>;
    /// The live access token with this digest, with its account, while its session lives:
    /// one indexed read, remembered by the node (`Key::AccessToken`; every write that ends
    /// a token publishes) and judged against `now` at every call.
    async fn oidc_access_token(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<AccessTokenGrant>, StoreError>;
    /// Deletes expired access tokens, and codes whose tokens can no longer live; how many.
    async fn purge_expired_oidc(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// A consent an account gave an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The application's `client_id`.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// When.
    pub granted_at: UnixTime,
}

/// Where a client was registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSource {
    /// `[[oidc.clients]]`, synced at every start.
    Config,
    /// The admin API or `deadbolt oidc client add`.
    Admin,
}

impl ClientSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientSource::Config => "config",
            ClientSource::Admin => "admin",
        }
    }

    /// From the stored name (anything unknown is an admin's).
    pub fn parse(text: &str) -> ClientSource {
        match text {
            "config" => ClientSource::Config,
            _ => ClientSource::Admin,
        }
    }
}

/// A relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClient {
    /// Its `client_id`.
    pub client_id: String,
    /// Its name, shown on the consent page.
    pub name: String,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// A confidential client's secret, keyed hash; `None` for a public client.
    pub secret_hash: Option<Vec<u8>>,
    /// The workspace whose members alone it admits.
    pub workspace_id: Option<String>,
    /// Whether it requires a second factor of everyone.
    pub require_two_factor: bool,
    /// Whether consent is skipped.
    pub trusted: bool,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens go.
    pub backchannel_logout_uri: Option<String>,
    /// How its ID tokens are signed.
    pub id_token_alg: SigningAlgorithm,
    /// Where it was registered.
    pub source: ClientSource,
    /// When.
    pub created_at: UnixTime,
}

impl OidcClient {
    /// Whether it is public (no secret; PKCE required).
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

/// What an authorization granted, as a code keeps it and its access tokens copy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcGrant {
    /// The code's digest.
    pub code_hash: TokenHash,
    /// The client.
    pub client_id: String,
    /// The person.
    pub account_id: AccountId,
    /// The session it was granted under (logout ends what it issued).
    pub session_id: SessionId,
    /// The redirect URI of the request, which the exchange must repeat.
    pub redirect_uri: String,
    /// Scopes granted, space-separated.
    pub scope: String,
    /// The S256 challenge, when PKCE was used.
    pub code_challenge: Option<String>,
    /// The request's `nonce`.
    pub nonce: Option<String>,
    /// When the person signed in.
    pub auth_time: UnixTime,
    /// How (the session's methods, space-separated).
    pub amr: String,
    /// `ok` or `grace` (a workspace client), `ok` otherwise.
    pub access: String,
    /// When grace ends, in grace.
    pub deadline: Option<UnixTime>,
    /// The member's role, for a workspace client.
    pub workspace_role: Option<String>,
    /// When granted.
    pub created_at: UnixTime,
    /// When the code lapses.
    pub expires_at: UnixTime,
}

/// A live access token, with what userinfo answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The person.
    pub account_id: AccountId,
    /// Scopes, space-separated.
    pub scope: String,
    /// `ok` or `grace`.
    pub access: String,
    /// When grace ends, in grace.
    pub deadline: Option<UnixTime>,
    /// The member's role, for a workspace client.
    pub workspace_role: Option<String>,
    /// The account's address.
    pub email: String,
    /// Whether it is verified.
    pub email_verified: bool,
    /// The account's name.
    pub name: Option<String>,
    /// When it was issued.
    pub issued_at: UnixTime,
    /// When it lapses.
    pub expires_at: UnixTime,
    /// When the session it was issued under lapses.
    pub session_expires_at: UnixTime,
}

impl AccessTokenGrant {
    /// Whether it lives at `now`: neither it nor its session has lapsed. A node judges every
    /// answer with this, remembered or read (what ends a token otherwise publishes).
    pub fn live_at(&self, now: UnixTime) -> bool {
        self.expires_at > now && self.session_expires_at > now
    }
}

/// The columns of a client, as both backends read them.
pub(super) const CLIENT_COLUMNS: &str = "client_id, name, redirect_uris, secret_hash, \
     workspace_id, require_two_factor, trusted, post_logout_redirect_uris, \
     backchannel_logout_uri, id_token_alg, source, created_at";

/// A client row (lists of URIs as JSON arrays).
#[derive(sqlx::FromRow)]
pub(super) struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: String,
    pub secret_hash: Option<Vec<u8>>,
    pub workspace_id: Option<String>,
    pub require_two_factor: bool,
    pub trusted: bool,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    pub id_token_alg: String,
    pub source: String,
    pub created_at: i64,
}

/// A list of URIs as stored: a JSON array.
pub(super) fn uri_list(uris: &[String]) -> String {
    serde_json::Value::from(uris.to_vec()).to_string()
}

fn parse_uri_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl From<ClientRow> for OidcClient {
    fn from(row: ClientRow) -> Self {
        OidcClient {
            client_id: row.client_id,
            name: row.name,
            redirect_uris: parse_uri_list(&row.redirect_uris),
            secret_hash: row.secret_hash,
            workspace_id: row.workspace_id,
            require_two_factor: row.require_two_factor,
            trusted: row.trusted,
            post_logout_redirect_uris: parse_uri_list(&row.post_logout_redirect_uris),
            backchannel_logout_uri: row.backchannel_logout_uri,
            id_token_alg: SigningAlgorithm::parse(&row.id_token_alg)
                .unwrap_or(SigningAlgorithm::ES256),
            source: ClientSource::parse(&row.source),
            created_at: UnixTime(row.created_at),
        }
    }
}

/// The columns of a code, as both backends read them.
pub(super) const GRANT_COLUMNS: &str = "code_hash, client_id, account_id, session_id, \
     redirect_uri, scope, code_challenge, nonce, auth_time, amr, access, deadline, \
     workspace_role, created_at, expires_at";

/// A code row.
#[derive(sqlx::FromRow)]
pub(super) struct GrantRow {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub account_id: String,
    pub session_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub amr: String,
    pub access: String,
    pub deadline: Option<i64>,
    pub workspace_role: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<GrantRow> for OidcGrant {
    fn from(row: GrantRow) -> Self {
        OidcGrant {
            code_hash: TokenHash(row.code_hash),
            client_id: row.client_id,
            account_id: AccountId(row.account_id),
            session_id: SessionId(row.session_id),
            redirect_uri: row.redirect_uri,
            scope: row.scope,
            code_challenge: row.code_challenge,
            nonce: row.nonce,
            auth_time: UnixTime(row.auth_time),
            amr: row.amr,
            access: row.access,
            deadline: row.deadline.map(UnixTime),
            workspace_role: row.workspace_role,
            created_at: UnixTime(row.created_at),
            expires_at: UnixTime(row.expires_at),
        }
    }
}

/// The read of a live access token with its account, while its session lives (and has not
/// expired) (`1`: the
/// digest, `2`: now; each backend writes its own placeholders).
pub(super) const ACCESS_TOKEN_READ: &str = "SELECT t.client_id, t.account_id, t.scope, t.access, \
     t.deadline, t.workspace_role, a.email, a.email_verified_at IS NOT NULL AS email_verified, \
     a.name, t.created_at AS issued_at, t.expires_at, \
     s.expires_at AS session_expires_at \
     FROM oidc_access_tokens t \
     JOIN accounts a ON a.id = t.account_id \
     JOIN sessions s ON s.id = t.session_id \
     WHERE t.token_hash = {1} AND t.expires_at > {2} AND s.expires_at > {2} \
       AND a.suspended_at IS NULL";

/// An access token row.
#[derive(sqlx::FromRow)]
pub(super) struct AccessTokenRow {
    pub client_id: String,
    pub account_id: String,
    pub scope: String,
    pub access: String,
    pub deadline: Option<i64>,
    pub workspace_role: Option<String>,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub session_expires_at: i64,
}

impl From<AccessTokenRow> for AccessTokenGrant {
    fn from(row: AccessTokenRow) -> Self {
        AccessTokenGrant {
            client_id: row.client_id,
            account_id: AccountId(row.account_id),
            scope: row.scope,
            access: row.access,
            deadline: row.deadline.map(UnixTime),
            workspace_role: row.workspace_role,
            email: row.email,
            email_verified: row.email_verified,
            name: row.name,
            issued_at: UnixTime(row.issued_at),
            expires_at: UnixTime(row.expires_at),
            session_expires_at: UnixTime(row.session_expires_at),
        }
    }
}

/// How long a spent code is kept after it lapsed, so that its reuse is still recognised
/// (and revokes) while any token issued from it lives.
pub(super) const SPENT_CODE_KEPT_SECONDS: i64 = crate::domain::oidc::ACCESS_TOKEN_TTL_SECONDS;
