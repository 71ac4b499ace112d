//! Validation: the merged [`FileConfig`] becomes a typed [`Config`], filling defaults;
//! every error names its key.

use super::*;

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

        let mut marks = Vec::new();
        for name in recovery.reset_requires.unwrap_or_default() {
            let mark = Mark::parse(&name).ok_or_else(|| {
                err(
                    "recovery.reset_requires",
                    &format!("{name:?} is not a mark; expected \"email\" and/or \"owner\""),
                )
            })?;
            marks.push(mark);
        }
        let reset_requires = ResetRequirement::of(&marks);

        let policy = self.policy.unwrap_or_default();
        let grace_period_days = policy.grace_period_days.unwrap_or(0);
        if !GRACE_PERIOD_DAYS.contains(&grace_period_days) {
            return Err(err(
                "policy.grace_period_days",
                "must be one of 0, 3, 7, 14, 30",
            ));
        }
        let required_factor = match &policy.required_factor {
            None => RequiredFactor::Any,
            Some(name) => RequiredFactor::parse(name).ok_or_else(|| {
                err(
                    "policy.required_factor",
                    "must be \"any\" or \"phishing_resistant\"",
                )
            })?,
        };

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

        let oidc = validate_oidc(source, self.oidc.unwrap_or_default())?;

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
                reset_requires,
            },
            policy: PolicyConfig {
                require_two_factor: policy.require_two_factor.unwrap_or_default(),
                grace_period_days,
                required_factor,
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
            oidc,
        })
    }
}

/// `[[oidc.clients]]`: each error names the client's index and key.
fn validate_oidc(source: &str, oidc: FileOidc) -> Result<OidcConfig, ConfigError> {
    use crate::domain::oidc::{valid_client_id, valid_redirect_uri, SigningAlgorithm};
    let mut clients: Vec<OidcClientConfig> = Vec::new();
    for (index, client) in oidc.clients.unwrap_or_default().into_iter().enumerate() {
        let err = |key: &str, message: &str| {
            ConfigError::new(source, &format!("oidc.clients[{index}].{key}"), message)
        };
        let client_id = client
            .client_id
            .ok_or_else(|| err("client_id", "is required"))?;
        if !valid_client_id(&client_id) {
            return Err(err(
                "client_id",
                "must be 1 to 100 letters, digits, `.`, `_` or `-`",
            ));
        }
        if clients.iter().any(|c| c.client_id == client_id) {
            return Err(err("client_id", &format!("{client_id:?} is listed twice")));
        }
        let name = client.name.unwrap_or_else(|| client_id.clone());
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(err("name", "must be 1 to 100 characters"));
        }
        let redirect_uris = client.redirect_uris.unwrap_or_default();
        if redirect_uris.is_empty() {
            return Err(err("redirect_uris", "must list at least one URI"));
        }
        if let Some(bad) = redirect_uris.iter().find(|uri| !valid_redirect_uri(uri)) {
            return Err(err(
                "redirect_uris",
                &format!("{bad:?} is not an absolute http(s) URL without a fragment"),
            ));
        }
        let auth = match (client.client_secret_file, client.public.unwrap_or(false)) {
            (Some(path), false) => ClientAuthConfig::SecretFile(path),
            (None, true) => ClientAuthConfig::Public,
            (Some(_), true) => {
                return Err(err("public", "a public client has no client_secret_file"))
            }
            (None, false) => {
                return Err(err(
                    "client_secret_file",
                    "is required unless public = true",
                ))
            }
        };
        let post_logout_redirect_uris = client.post_logout_redirect_uris.unwrap_or_default();
        if let Some(bad) = post_logout_redirect_uris
            .iter()
            .find(|uri| !valid_redirect_uri(uri))
        {
            return Err(err(
                "post_logout_redirect_uris",
                &format!("{bad:?} is not an absolute http(s) URL without a fragment"),
            ));
        }
        if let Some(uri) = &client.backchannel_logout_uri {
            if !valid_redirect_uri(uri) {
                return Err(err(
                    "backchannel_logout_uri",
                    "expected an absolute http(s) URL without a fragment",
                ));
            }
        }
        let id_token_alg = match client.id_token_signed_response_alg.as_deref() {
            None => SigningAlgorithm::ES256,
            Some(name) => SigningAlgorithm::parse(name)
                .ok_or_else(|| err("id_token_signed_response_alg", "expected ES256 or EdDSA"))?,
        };
        if client
            .workspace
            .as_deref()
            .is_some_and(|w| w.trim().is_empty())
        {
            return Err(err("workspace", "expected a workspace id"));
        }
        clients.push(OidcClientConfig {
            client_id,
            name,
            redirect_uris,
            auth,
            workspace: client.workspace,
            require_two_factor: client.require_two_factor.unwrap_or(false),
            trusted: client.trusted.unwrap_or(false),
            post_logout_redirect_uris,
            backchannel_logout_uri: client.backchannel_logout_uri,
            id_token_alg,
        });
    }
    Ok(OidcConfig { clients })
}
