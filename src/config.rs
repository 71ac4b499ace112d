//! Configuration: SPEC §8. Layers, lowest first: built-in defaults, the TOML file
//! ([`FileConfig`], unknown keys refused), `DEADBOLT_…` environment variables
//! ([`ENV_OVERRIDES`]), then command-line flags. The merged [`FileConfig`] is validated once
//! into a typed [`Config`]; every error names the key it is about.

use crate::domain::notification::Channels;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::domain::account::SessionLifetimes;

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

/// A kind of proof accepted to confirm a sensitive change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofKind {
    /// The account password.
    Password,
    /// A current authenticator code.
    Code,
    /// An unused recovery code.
    RecoveryCode,
}

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
}

/// `[policy]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePolicy {
    /// `off`, `everyone` or `admins`.
    pub require_two_factor: Option<RequireTwoFactor>,
    /// Days before the requirement blocks: 0, 3, 7, 14 or 30.
    pub grace_period_days: Option<u32>,
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
}

/// `[policy]`, validated.
#[derive(Debug, Clone, Copy)]
pub struct PolicyConfig {
    /// Who must have two-factor.
    pub require_two_factor: RequireTwoFactor,
    /// Grace period in days.
    pub grace_period_days: u32,
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

fn parse_duration(source: &str, key: &str, text: &str) -> Result<Duration, ConfigError> {
    let duration = humantime::parse_duration(text).map_err(|e| {
        ConfigError::new(source, key, format!("{e} (expected e.g. \"10m\", \"7d\")"))
    })?;
    if duration < Duration::from_secs(1) {
        return Err(ConfigError::new(source, key, "must be at least one second"));
    }
    Ok(duration)
}

impl FileConfig {
    /// Validates the merged layers into a [`Config`], filling defaults. `source` names
    /// where the values came from, for error messages.
    pub fn validate(self, source: &str) -> Result<Config, ConfigError> {
        let err = |key: &str, message: &str| ConfigError::new(source, key, message);

        let listen_text = self.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            err(
                "listen",
                "expected an address and port, e.g. \"127.0.0.1:8080\"",
            )
        })?;

        let public_url = self
            .public_url
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        let url_ok = ["http://", "https://"].iter().any(|scheme| {
            public_url
                .strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(['?', '#', ' ']))
        });
        if !url_ok {
            return Err(err("public_url", "expected an http:// or https:// URL"));
        }

        let database = self
            .database
            .unwrap_or_else(|| "sqlite://deadbolt.db".to_owned());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|prefix| database.starts_with(prefix))
        {
            return Err(err(
                "database",
                "expected sqlite://FILE or postgres://user@host/db",
            ));
        }
        let database_pool_size = self.database_pool_size.unwrap_or(16);
        if !(1..=512).contains(&database_pool_size) {
            return Err(err("database_pool_size", "must be between 1 and 512"));
        }

        let session = self.session.unwrap_or_default();
        let sessions = SessionLifetimes {
            idle: parse_duration(
                source,
                "session.idle_timeout",
                session.idle_timeout.as_deref().unwrap_or("7d"),
            )?,
            absolute: parse_duration(
                source,
                "session.lifetime",
                session.lifetime.as_deref().unwrap_or("30d"),
            )?,
        };

        let two_factor = self.two_factor.unwrap_or_default();
        let issuer = two_factor.issuer.unwrap_or_else(|| "Deadbolt".to_owned());
        if issuer.trim().is_empty() || issuer.contains(':') {
            return Err(err(
                "two_factor.issuer",
                "must be non-empty and contain no colon",
            ));
        }
        let skew_steps = two_factor.skew_steps.unwrap_or(1);
        if skew_steps > 10 {
            return Err(err("two_factor.skew_steps", "must be between 0 and 10"));
        }
        let pending_ttl = parse_duration(
            source,
            "two_factor.pending_ttl",
            two_factor.pending_ttl.as_deref().unwrap_or("10m"),
        )?;
        let confirm_with = two_factor.confirm_with.unwrap_or_else(|| {
            vec![
                ProofKind::Password,
                ProofKind::Code,
                ProofKind::RecoveryCode,
            ]
        });
        if confirm_with.is_empty() {
            return Err(err(
                "two_factor.confirm_with",
                "must list at least one of password, code, recovery_code",
            ));
        }

        let recovery = self.recovery.unwrap_or_default();
        let count = recovery.count.unwrap_or(8);
        if !(1..=16).contains(&count) {
            return Err(err("recovery.count", "must be between 1 and 16"));
        }

        let policy = self.policy.unwrap_or_default();
        let grace_period_days = policy.grace_period_days.unwrap_or(0);
        if !GRACE_PERIOD_DAYS.contains(&grace_period_days) {
            return Err(err(
                "policy.grace_period_days",
                "must be one of 0, 3, 7, 14, 30",
            ));
        }

        let notify = self.notify.unwrap_or_default();
        if let Some(smtp) = &notify.smtp_url {
            if !(smtp.starts_with("smtp://") || smtp.starts_with("smtps://")) {
                return Err(err(
                    "notify.smtp_url",
                    "expected smtp://host:port or smtps://…",
                ));
            }
        }
        if let Some(from) = &notify.from {
            if from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(err(
                    "notify.from",
                    "expected an address, e.g. \"Deadbolt <security@example.com>\"",
                ));
            }
        }
        if let Some(webhook) = &notify.webhook_url {
            if !(webhook.starts_with("http://") || webhook.starts_with("https://")) {
                return Err(err("notify.webhook_url", "expected an http(s) URL"));
            }
            if notify.webhook_secret_file.is_none() {
                return Err(err(
                    "notify.webhook_secret_file",
                    "is required when notify.webhook_url is set",
                ));
            }
        }

        let mut trusted_proxies = Vec::new();
        for entry in self.trusted_proxies.unwrap_or_default() {
            let parsed = entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    err(
                        "trusted_proxies",
                        &format!("{entry:?} is not an IP address or CIDR range"),
                    )
                })?;
            trusted_proxies.push(parsed);
        }

        Ok(Config {
            listen,
            public_url: PublicUrl(public_url),
            database: DatabaseUrl(database),
            database_pool_size,
            master_key_file: self
                .master_key_file
                .unwrap_or_else(|| PathBuf::from("deadbolt.key")),
            signup: self.signup.unwrap_or_default(),
            sessions,
            two_factor: TwoFactorConfig {
                issuer,
                skew_steps,
                pending_ttl,
                confirm_with,
            },
            recovery: RecoveryConfig {
                count,
                rotate_on_use: recovery.rotate_on_use.unwrap_or(false),
                use_disables_two_factor: recovery.use_disables_two_factor.unwrap_or(false),
            },
            policy: PolicyConfig {
                require_two_factor: policy.require_two_factor.unwrap_or_default(),
                grace_period_days,
            },
            notify: NotifyConfig {
                smtp_url: notify.smtp_url,
                from: notify
                    .from
                    .unwrap_or_else(|| "Deadbolt <deadbolt@localhost>".to_owned()),
                webhook_url: notify.webhook_url,
                webhook_secret_file: notify.webhook_secret_file,
            },
            trusted_proxies,
        })
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
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::from_toml(text, "test.toml")
    }

    #[test]
    fn defaults_match_the_spec() {
        let config = Config::load(None, no_env, &FlagOverrides::default()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080");
        assert_eq!(config.database.expose(), "sqlite://deadbolt.db");
        assert_eq!(config.master_key_file, PathBuf::from("deadbolt.key"));
        assert_eq!(config.signup, SignupMode::Open);
        assert_eq!(config.two_factor.issuer, "Deadbolt");
        assert_eq!(config.two_factor.skew_steps, 1);
        assert_eq!(config.two_factor.pending_ttl, Duration::from_secs(600));
        assert_eq!(config.two_factor.confirm_with.len(), 3);
        assert_eq!(config.recovery.count, 8);
        assert!(!config.recovery.rotate_on_use);
        assert!(!config.recovery.use_disables_two_factor);
        assert_eq!(config.policy.require_two_factor, RequireTwoFactor::Off);
        assert_eq!(config.policy.grace_period_days, 0);
        assert!(config.notify.smtp_url.is_none());
    }

    #[test]
    fn the_spec_example_file_parses() {
        let text = r#"
            listen = "127.0.0.1:8080"
            public_url = "http://127.0.0.1:8080"
            database = "sqlite://deadbolt.db"
            master_key_file = "deadbolt.key"
            signup = "open"

            [two_factor]
            issuer = "Deadbolt"
            skew_steps = 1
            pending_ttl = "10m"
            confirm_with = ["password", "code", "recovery_code"]

            [recovery]
            count = 8
            rotate_on_use = false
            use_disables_two_factor = false

            [policy]
            require_two_factor = "off"
            grace_period_days = 0

            [notify]
            smtp_url = "smtp://127.0.0.1:25"
            from = "Deadbolt <security@example.com>"
            webhook_url = "https://hooks.example.com/deadbolt"
            webhook_secret_file = "webhook.key"
        "#;
        let config = parse(text).unwrap().validate("test.toml").unwrap();
        assert_eq!(
            config.notify.smtp_url.as_deref(),
            Some("smtp://127.0.0.1:25")
        );
    }

    #[test]
    fn file_overrides_defaults_env_overrides_file_and_flags_override_env() {
        let mut file = parse("listen = \"127.0.0.1:9000\"\nsignup = \"closed\"\n").unwrap();
        let env: HashMap<&str, &str> = HashMap::from([
            ("DEADBOLT_LISTEN", "127.0.0.1:9100"),
            ("DEADBOLT_DATABASE", "postgres://db.internal/deadbolt"),
        ]);
        file.apply_env(|name| env.get(name).map(|v| v.to_string()))
            .unwrap();
        file.apply_flags(&FlagOverrides {
            database: Some("sqlite://flag.db".into()),
            ..FlagOverrides::default()
        });
        let config = file.validate("t").unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(config.database.expose(), "sqlite://flag.db");
        assert_eq!(config.signup, SignupMode::Closed);
        // public_url follows listen when not given.
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:9100");
    }

    #[test]
    fn unknown_key_is_named() {
        let error = parse("lisen = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(error.message.contains("lisen"), "{error}");
        assert!(error.message.contains("line 1"), "{error}");
    }

    #[test]
    fn wrong_type_names_the_dotted_key_and_line() {
        let error = parse("[two_factor]\nskew_steps = \"one\"\n").unwrap_err();
        assert_eq!(error.key, "two_factor.skew_steps");
        assert!(error.message.contains("line 2"), "{error}");
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn out_of_range_values_are_refused_with_their_key() {
        for (text, key) in [
            ("[two_factor]\nskew_steps = 11", "two_factor.skew_steps"),
            ("[recovery]\ncount = 0", "recovery.count"),
            ("[recovery]\ncount = 17", "recovery.count"),
            (
                "[policy]\ngrace_period_days = 5",
                "policy.grace_period_days",
            ),
            (
                "[two_factor]\npending_ttl = \"soon\"",
                "two_factor.pending_ttl",
            ),
            ("[two_factor]\nconfirm_with = []", "two_factor.confirm_with"),
            ("listen = \"nowhere\"", "listen"),
            ("public_url = \"ftp://x\"", "public_url"),
            ("database = \"mysql://x\"", "database"),
            (
                "[notify]\nwebhook_url = \"https://h\"",
                "notify.webhook_secret_file",
            ),
            ("[notify]\nfrom = \"not an address\"", "notify.from"),
        ] {
            let error = parse(text).and_then(|f| f.validate("t")).unwrap_err();
            assert_eq!(error.key, key, "{text}");
        }
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let mut file = FileConfig::default();
        let error = file
            .apply_env(|name| (name == "DEADBOLT_SIGNUP").then(|| "maybe".to_owned()))
            .unwrap_err();
        assert_eq!(error.source_name, "DEADBOLT_SIGNUP");
        assert_eq!(error.key, "signup");
    }

    #[test]
    fn env_sets_the_instance_policy() {
        let mut file = FileConfig::default();
        file.apply_env(|name| (name == "DEADBOLT_REQUIRE_TWO_FACTOR").then(|| "admins".to_owned()))
            .unwrap();
        let config = file.validate("t").unwrap();
        assert_eq!(config.policy.require_two_factor, RequireTwoFactor::Admins);
    }

    #[test]
    fn public_url_loses_its_trailing_slash_and_knows_https() {
        let config = parse("public_url = \"https://auth.example.com/\"")
            .unwrap()
            .validate("t")
            .unwrap();
        assert_eq!(config.public_url.as_str(), "https://auth.example.com");
        assert!(config.public_url.is_https());
        assert_eq!(
            config.public_url.join("/login"),
            "https://auth.example.com/login"
        );
    }

    #[test]
    fn database_password_is_redacted_in_debug() {
        let config = Config::with_database("postgres://ada:s3cret@db/deadbolt").unwrap();
        let shown = format!("{:?}", config.database);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("@db/deadbolt"), "{shown}");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        let config = parse("trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"::1\"]")
            .unwrap()
            .validate("t")
            .unwrap();
        assert_eq!(config.trusted_proxies.len(), 3);
        let error = parse("trusted_proxies = [\"nginx\"]")
            .and_then(|f| f.validate("t"))
            .unwrap_err();
        assert_eq!(error.key, "trusted_proxies");
    }

    #[test]
    fn session_lifetimes_are_configurable() {
        let config = parse("[session]\nidle_timeout = \"1h\"\nlifetime = \"2d\"")
            .unwrap()
            .validate("t")
            .unwrap();
        assert_eq!(config.sessions.idle, Duration::from_secs(3_600));
        assert_eq!(config.sessions.absolute, Duration::from_secs(172_800));
    }
}
