//! Configuration: SPEC §8. Layers, lowest first: built-in defaults, the TOML file
//! ([`FileConfig`], unknown keys refused), `DEADBOLT_…` environment variables
//! ([`ENV_OVERRIDES`]), then command-line flags. The merged [`FileConfig`] is validated once
//! into a typed [`Config`]; every error names the key it is about.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::domain::account::SessionLifetimes;
use crate::domain::notification::Channels;
use crate::domain::reset_request::{Mark, ResetRequirement};
use crate::domain::workspace::RequiredFactor;

mod file;
mod validate;

pub use file::{
    FileConfig, FileNotify, FileOidc, FileOidcClient, FilePolicy, FileRecovery, FileSession,
    FileTwoFactor, FlagOverrides, ENV_OVERRIDES,
};

/// A configuration problem, naming the key (e.g. `two_factor.skew_steps`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: `{key}`: {message}")]
pub struct ConfigError {
    /// Where the bad value came from: the file path, an environment variable or a flag.
    pub source_name: String,
    /// The dotted key.
    pub key: String,
    /// What is wrong, in one line.
    pub message: String,
}

impl ConfigError {
    /// An error about `key` from `source_name`.
    pub fn new(source_name: &str, key: &str, message: impl Into<String>) -> Self {
        Self {
            source_name: source_name.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Whether anyone may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignupMode {
    /// Anyone may sign up.
    #[default]
    Open,
    /// Only invitations and admins create accounts.
    Closed,
}

pub use crate::domain::sign_in::ProofKind;

/// Who an instance-wide two-factor requirement covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RequireTwoFactor {
    /// Nobody.
    #[default]
    Off,
    /// Every account.
    Everyone,
    /// Instance admins.
    Admins,
}

/// Grace periods a requirement may give, in days (SPEC §4).
pub const GRACE_PERIOD_DAYS: [u32; 5] = [0, 3, 7, 14, 30];

/// A secret-free, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Public base URL, without a trailing slash.
    pub public_url: PublicUrl,
    /// Database URL.
    pub database: DatabaseUrl,
    /// Database connections.
    pub database_pool_size: u32,
    /// Master key file.
    pub master_key_file: PathBuf,
    /// Signup mode.
    pub signup: SignupMode,
    /// Session lifetimes.
    pub sessions: SessionLifetimes,
    /// Authenticator settings.
    pub two_factor: TwoFactorConfig,
    /// Recovery-code policy.
    pub recovery: RecoveryConfig,
    /// Instance requirement as configured (admins may override it at run time).
    pub policy: PolicyConfig,
    /// Notifications.
    pub notify: NotifyConfig,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The OpenID Connect provider's configured clients (SPEC §12).
    pub oidc: OidcConfig,
}

/// `[oidc]`: the relying parties configured in the file, synced into the database at every
/// start (see `oidc::sync_configured_clients`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OidcConfig {
    /// `[[oidc.clients]]`, in file order.
    pub clients: Vec<OidcClientConfig>,
}

/// How a configured client authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthConfig {
    /// Confidential: the secret is the content of this file (read at start, trimmed).
    SecretFile(PathBuf),
    /// Public (`public = true`): no secret; PKCE is required.
    Public,
}

/// One `[[oidc.clients]]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClientConfig {
    /// `client_id`.
    pub client_id: String,
    /// `name`, shown on the consent page.
    pub name: String,
    /// `redirect_uris`, matched exactly.
    pub redirect_uris: Vec<String>,
    /// `client_secret_file` or `public = true`.
    pub auth: ClientAuthConfig,
    /// `workspace`: the id of the workspace whose members alone it admits.
    pub workspace: Option<String>,
    /// `require_two_factor`.
    pub require_two_factor: bool,
    /// `trusted`: no consent asked.
    pub trusted: bool,
    /// `post_logout_redirect_uris`.
    pub post_logout_redirect_uris: Vec<String>,
    /// `backchannel_logout_uri`.
    pub backchannel_logout_uri: Option<String>,
    /// `id_token_signed_response_alg`.
    pub id_token_alg: crate::domain::oidc::SigningAlgorithm,
}

/// The public base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// The URL without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether people reach the server over https (cookies are then `Secure`).
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `path` (starting with `/`) made absolute.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

/// A database URL; `Debug` hides any password in it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL, to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Security: `postgres://user:password@host/db` must not reach a log.
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                write!(f, "{}://<redacted>{}", &self.0[..scheme_end], &self.0[at..])
            }
            _ => write!(f, "{}", self.0),
        }
    }
}

/// `[two_factor]`, validated.
#[derive(Debug, Clone)]
pub struct TwoFactorConfig {
    /// Issuer label.
    pub issuer: String,
    /// Steps accepted either side.
    pub skew_steps: u32,
    /// Pending enrolment lifetime.
    pub pending_ttl: Duration,
    /// Accepted proofs (never empty).
    pub confirm_with: Vec<ProofKind>,
}

/// `[recovery]`, validated.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryConfig {
    /// Codes per set.
    pub count: u32,
    /// Replace a used code.
    pub rotate_on_use: bool,
    /// Recovery sign-in turns two-factor off.
    pub use_disables_two_factor: bool,
    /// What an admin reset of an account with an open request waits for.
    pub reset_requires: ResetRequirement,
}

impl RecoveryConfig {
    /// What follows the use of a recovery code, as the sign-in rules take it.
    pub fn scheme(&self) -> crate::domain::sign_in::RecoveryScheme {
        crate::domain::sign_in::RecoveryScheme {
            rotate_on_use: self.rotate_on_use,
            use_disables_two_factor: self.use_disables_two_factor,
        }
    }
}

/// `[policy]`, validated.
#[derive(Debug, Clone, Copy)]
pub struct PolicyConfig {
    /// Who must have two-factor.
    pub require_two_factor: RequireTwoFactor,
    /// Grace period in days.
    pub grace_period_days: u32,
    /// Which second factors meet it.
    pub required_factor: RequiredFactor,
}

/// `[notify]`, validated.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// SMTP server URL.
    pub smtp_url: Option<String>,
    /// Sender.
    pub from: String,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Webhook secret file.
    pub webhook_secret_file: Option<PathBuf>,
}

impl NotifyConfig {
    /// The channels configured.
    pub fn channels(&self) -> Channels {
        Channels {
            email: self.smtp_url.is_some(),
            webhook: self.webhook_url.is_some(),
        }
    }
}

impl Config {
    /// Builds the configuration from all layers: defaults, the file at `path` (if any),
    /// the environment as seen through `env`, then `flags`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &FlagOverrides,
    ) -> Result<Self, ConfigError> {
        let mut file = match path {
            Some(path) => FileConfig::from_path(path)?,
            None => FileConfig::default(),
        };
        file.apply_env(env)?;
        file.apply_flags(flags);
        let source = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "configuration".to_owned());
        file.validate(&source)
    }

    /// Defaults with a given database, for tests and tools.
    pub fn with_database(database: &str) -> Result<Self, ConfigError> {
        FileConfig {
            database: Some(database.to_owned()),
            ..FileConfig::default()
        }
        .validate("configuration")
    }
}

#[cfg(test)]
mod tests;
