//! The file layer: [`FileConfig`] as written in TOML (unknown keys refused), with the
//! environment and flag layers applied on top.

use super::*;

/// The configuration file as written: every key optional, unknown keys refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address and port to listen on, e.g. `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// The URL people reach this server at; links and cookies are built from it.
    pub public_url: Option<String>,
    /// `sqlite://FILE` (embedded) or `postgres://user@host/db`.
    pub database: Option<String>,
    /// Connections held open to the database.
    pub database_pool_size: Option<u32>,
    /// The master key file; created with mode 0600 on first start if absent.
    pub master_key_file: Option<PathBuf>,
    /// `open` or `closed`.
    pub signup: Option<SignupMode>,
    /// Session lifetimes.
    pub session: Option<FileSession>,
    /// Authenticator settings.
    pub two_factor: Option<FileTwoFactor>,
    /// Recovery-code policy.
    pub recovery: Option<FileRecovery>,
    /// Instance-wide two-factor requirement.
    pub policy: Option<FilePolicy>,
    /// Notifications by e-mail and webhook.
    pub notify: Option<FileNotify>,
    /// Reverse proxies whose `X-Forwarded-For` is believed: addresses or CIDR ranges.
    pub trusted_proxies: Option<Vec<String>>,
    /// The OpenID Connect provider.
    pub oidc: Option<FileOidc>,
}

/// `[oidc]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOidc {
    /// `[[oidc.clients]]`: the relying parties.
    pub clients: Option<Vec<FileOidcClient>>,
}

/// `[[oidc.clients]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOidcClient {
    /// The client's id: letters, digits, `.`, `_`, `-`.
    pub client_id: Option<String>,
    /// Shown on the consent page.
    pub name: Option<String>,
    /// Where codes may be sent; matched exactly.
    pub redirect_uris: Option<Vec<String>>,
    /// A file holding a confidential client's secret (at least 32 characters).
    pub client_secret_file: Option<PathBuf>,
    /// A public client (no secret, PKCE required).
    pub public: Option<bool>,
    /// The id of the workspace whose members alone may sign in.
    pub workspace: Option<String>,
    /// Everyone signs in with two factors.
    pub require_two_factor: Option<bool>,
    /// Consent is not asked.
    pub trusted: Option<bool>,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Where back-channel logout tokens are sent.
    pub backchannel_logout_uri: Option<String>,
    /// How its ID tokens are signed: `ES256` (default) or `EdDSA`.
    pub id_token_signed_response_alg: Option<String>,
}

/// `[session]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSession {
    /// A session unused this long ends, e.g. `"7d"`.
    pub idle_timeout: Option<String>,
    /// A session ends this long after sign-in however active, e.g. `"30d"`.
    pub lifetime: Option<String>,
}

/// `[two_factor]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTwoFactor {
    /// Issuer shown in authenticator apps.
    pub issuer: Option<String>,
    /// 30-second steps accepted either side of now (0–10).
    pub skew_steps: Option<u32>,
    /// How long an unconfirmed enrolment lives, e.g. `"10m"`.
    pub pending_ttl: Option<String>,
    /// Proofs accepted for sensitive changes: `password`, `code`, `recovery_code`.
    pub confirm_with: Option<Vec<ProofKind>>,
}

/// `[recovery]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecovery {
    /// Codes in a set (1–16).
    pub count: Option<u32>,
    /// Replace a used code with a new one.
    pub rotate_on_use: Option<bool>,
    /// Signing in with a recovery code turns two-factor off.
    pub use_disables_two_factor: Option<bool>,
    /// Marks an admin reset of an account with an open reset request waits for (unless
    /// forced): any of `email` (confirmed from the mailbox) and `owner` (vouched for by a
    /// workspace owner). Default: none.
    pub reset_requires: Option<Vec<String>>,
}

/// `[policy]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePolicy {
    /// `off`, `everyone` or `admins`.
    pub require_two_factor: Option<RequireTwoFactor>,
    /// Days before the requirement blocks: 0, 3, 7, 14 or 30.
    pub grace_period_days: Option<u32>,
    /// `any` (default) or `phishing_resistant` (security keys and passkeys only).
    pub required_factor: Option<String>,
}

/// `[notify]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileNotify {
    /// `smtp://host:port` (or `smtps://`); absent: no e-mail.
    pub smtp_url: Option<String>,
    /// Sender, e.g. `Deadbolt <security@example.com>`.
    pub from: Option<String>,
    /// Where to POST signed events; absent: no webhook.
    pub webhook_url: Option<String>,
    /// File holding the webhook signing secret.
    pub webhook_secret_file: Option<PathBuf>,
}

/// Environment variables that override keys, and the key each sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("DEADBOLT_LISTEN", "listen"),
    ("DEADBOLT_PUBLIC_URL", "public_url"),
    ("DEADBOLT_DATABASE", "database"),
    ("DEADBOLT_DATABASE_POOL_SIZE", "database_pool_size"),
    ("DEADBOLT_MASTER_KEY_FILE", "master_key_file"),
    ("DEADBOLT_SIGNUP", "signup"),
    ("DEADBOLT_REQUIRE_TWO_FACTOR", "policy.require_two_factor"),
];

/// Values given as command-line flags (the highest layer).
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--database`.
    pub database: Option<String>,
}

impl FileConfig {
    /// Reads and parses a TOML file. Errors name the key and the line.
    pub fn from_path(path: &Path) -> Result<Self, ConfigError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&source_name, "(file)", e.to_string()))?;
        Self::from_toml(&text, &source_name)
    }

    /// Parses TOML text; `source_name` is used in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let key = error.path().to_string();
            let inner = error.inner();
            let line = inner
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let message = inner.message().replace('\n', " ");
            let message = match line {
                Some(line) => format!("{} (line {line})", message.trim()),
                None => message.trim().to_owned(),
            };
            let key = if key == "." {
                "(top level)".to_owned()
            } else {
                key
            };
            ConfigError::new(source_name, &key, message)
        })
    }

    /// Applies the [`ENV_OVERRIDES`] that `lookup` finds.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for (variable, key) in ENV_OVERRIDES {
            let Some(value) = lookup(variable) else {
                continue;
            };
            let bad = |message: &str| ConfigError::new(variable, key, message);
            match *key {
                "listen" => self.listen = Some(value),
                "public_url" => self.public_url = Some(value),
                "database" => self.database = Some(value),
                "database_pool_size" => {
                    let size = value.parse().map_err(|_| bad("expected a whole number"))?;
                    self.database_pool_size = Some(size);
                }
                "master_key_file" => self.master_key_file = Some(PathBuf::from(value)),
                "signup" => {
                    let mode = match value.as_str() {
                        "open" => SignupMode::Open,
                        "closed" => SignupMode::Closed,
                        _ => return Err(bad("expected `open` or `closed`")),
                    };
                    self.signup = Some(mode);
                }
                "policy.require_two_factor" => {
                    let require = match value.as_str() {
                        "off" => RequireTwoFactor::Off,
                        "everyone" => RequireTwoFactor::Everyone,
                        "admins" => RequireTwoFactor::Admins,
                        _ => return Err(bad("expected `off`, `everyone` or `admins`")),
                    };
                    self.policy
                        .get_or_insert_with(Default::default)
                        .require_two_factor = Some(require);
                }
                other => return Err(ConfigError::new(variable, other, "no such key")),
            }
        }
        Ok(())
    }

    /// Applies command-line flags.
    pub fn apply_flags(&mut self, flags: &FlagOverrides) {
        if let Some(listen) = &flags.listen {
            self.listen = Some(listen.clone());
        }
        if let Some(public_url) = &flags.public_url {
            self.public_url = Some(public_url.clone());
        }
        if let Some(database) = &flags.database {
            self.database = Some(database.clone());
        }
    }
}
