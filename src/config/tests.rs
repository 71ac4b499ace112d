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
        reset_requires = []

        [policy]
        require_two_factor = "off"
        grace_period_days = 0
        required_factor = "phishing_resistant"

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
    assert_eq!(
        config.policy.required_factor,
        crate::domain::workspace::RequiredFactor::PhishingResistant
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
            "[policy]\nrequired_factor = \"strong\"",
            "policy.required_factor",
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
        (
            "[recovery]\nreset_requires = [\"email\", \"admin\"]",
            "recovery.reset_requires",
        ),
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

#[test]
fn reset_requires_takes_email_and_owner_and_defaults_to_nothing() {
    use crate::domain::reset_request::ResetRequirement;
    let config = parse("").unwrap().validate("t").unwrap();
    assert_eq!(config.recovery.reset_requires, ResetRequirement::default());
    let config = parse("[recovery]\nreset_requires = [\"owner\", \"email\"]")
        .unwrap()
        .validate("t")
        .unwrap();
    assert_eq!(
        config.recovery.reset_requires,
        ResetRequirement {
            email: true,
            owner: true
        }
    );
    let config = parse("[recovery]\nreset_requires = [\"email\"]")
        .unwrap()
        .validate("t")
        .unwrap();
    assert!(config.recovery.reset_requires.email && !config.recovery.reset_requires.owner);
    let error = parse("[recovery]\nreset_requires = \"email\"").unwrap_err();
    assert_eq!(error.key, "recovery.reset_requires");
}

#[test]
fn oidc_clients_parse_with_their_defaults() {
    let text = r#"
        [[oidc.clients]]
        client_id = "grafana"
        name = "Grafana"
        redirect_uris = ["https://grafana.example.com/login/generic_oauth"]
        client_secret_file = "grafana.secret"
        workspace = "w1"
        require_two_factor = true

        [[oidc.clients]]
        client_id = "cli"
        redirect_uris = ["http://127.0.0.1:8400/callback"]
        public = true
        trusted = true
    "#;
    let config = parse(text).unwrap().validate("test.toml").unwrap();
    let clients = &config.oidc.clients;
    assert_eq!(clients.len(), 2);
    assert_eq!(
        clients[0].auth,
        ClientAuthConfig::SecretFile(PathBuf::from("grafana.secret"))
    );
    assert_eq!(clients[0].workspace.as_deref(), Some("w1"));
    assert!(clients[0].require_two_factor && !clients[0].trusted);
    assert_eq!(clients[1].name, "cli");
    assert_eq!(clients[1].auth, ClientAuthConfig::Public);
    assert!(clients[1].trusted);
}

#[test]
fn oidc_client_errors_name_the_client_and_key() {
    let cases = [
        (
            r#"[[oidc.clients]]
               redirect_uris = ["https://a.example/cb"]
               public = true"#,
            "oidc.clients[0].client_id",
        ),
        (
            r#"[[oidc.clients]]
               client_id = "a"
               redirect_uris = ["https://a.example/cb#x"]
               public = true"#,
            "oidc.clients[0].redirect_uris",
        ),
        (
            r#"[[oidc.clients]]
               client_id = "a"
               redirect_uris = ["https://a.example/cb"]"#,
            "oidc.clients[0].client_secret_file",
        ),
        (
            r#"[[oidc.clients]]
               client_id = "a"
               redirect_uris = ["https://a.example/cb"]
               public = true
               client_secret_file = "x""#,
            "oidc.clients[0].public",
        ),
        (
            r#"[[oidc.clients]]
               client_id = "a"
               redirect_uris = ["https://a.example/cb"]
               public = true
               [[oidc.clients]]
               client_id = "a"
               redirect_uris = ["https://a.example/cb"]
               public = true"#,
            "oidc.clients[1].client_id",
        ),
        (
            r#"[[oidc.clients]]
               client_id = "a"
               redirect_uris = ["https://a.example/cb"]
               public = true
               id_token_signed_response_alg = "RS256""#,
            "oidc.clients[0].id_token_signed_response_alg",
        ),
        (
            r#"[[oidc.clients]]
               client_id = "a b"
               redirect_uris = ["https://a.example/cb"]
               public = true"#,
            "oidc.clients[0].client_id",
        ),
    ];
    for (text, key) in cases {
        let error = parse(text).unwrap().validate("test.toml").unwrap_err();
        assert_eq!(error.key, key, "{text}");
    }
    let unknown = parse("[[oidc.clients]]\nsecret = \"x\"").unwrap_err();
    assert!(unknown.key.starts_with("oidc.clients"), "{}", unknown.key);
}
