//! The `deadbolt` command line (SPEC §8): one async function per subcommand. A bad
//! configuration exits with code 2 and a one-line message naming the key.

use crate::notify::Dispatch;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError, FlagOverrides};
use crate::domain::account::{validate_new_account, Role};
use crate::domain::ids::{AccountId, Token};
use crate::domain::password::{hash_password, Password};
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorState;
use crate::http::metrics::Metrics;
use crate::http::AppState;
use crate::keyring::Keyring;
use crate::password_pool::PasswordPool;
use crate::store::{self, Constraint, NewAccount, PoolSettings, Store, StoreError};

/// How long a first-start setup link works.
const SETUP_LINK_TTL: Duration = Duration::from_secs(60 * 60);
/// How often ended sessions are swept from the database.
const PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Deadbolt: accounts and two-factor authentication.
#[derive(Debug, Parser)]
#[command(name = "deadbolt", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML); accepted before or after the subcommand.
    #[arg(long, global = true, value_name = "FILE", env = "DEADBOLT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL (sqlite://FILE or postgres://…), overriding the configuration.
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies migrations first).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the master key.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new master key and re-seal every secret under it (resumes an interrupted
    /// rotation). Restart running servers afterwards.
    Rotate,
}

/// `serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The URL people reach this server at.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. Without --password-stdin a strong password is generated and
    /// printed once.
    Create {
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Make the account an instance administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts with their two-factor state and last sign-in.
    List,
    /// Reset an account's two-factor (lost device): deletes its authenticator and recovery
    /// codes and ends its sessions. Audited with the reason.
    ResetTwoFactor {
        /// The account's e-mail address.
        email: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
}

/// Runs the command and turns its outcome into an exit code.
pub fn main(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("deadbolt: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<ConfigError>() {
            Some(config_error) => {
                eprintln!("deadbolt: invalid configuration: {config_error}");
                ExitCode::from(2)
            }
            None => {
                eprintln!("deadbolt: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Dispatches a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut flags = FlagOverrides {
        database: cli.database.clone(),
        ..FlagOverrides::default()
    };
    if let Command::Serve(args) = &cli.command {
        flags.listen.clone_from(&args.listen);
        flags.public_url.clone_from(&args.public_url);
    }
    let config = Config::load(
        cli.config.as_deref(),
        |name| std::env::var(name).ok(),
        &flags,
    )?;
    match cli.command {
        Command::Serve(_) => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::User(UserCommand::Create {
            email,
            name,
            admin,
            password_stdin,
        }) => {
            let role = if admin { Role::Admin } else { Role::User };
            create_user(&config, &email, name.as_deref(), role, password_stdin).await
        }
        Command::User(UserCommand::List) => list_users(&config).await,
        Command::User(UserCommand::ResetTwoFactor { email, reason }) => {
            reset_two_factor(&config, &email, &reason).await
        }
        Command::Keys(KeysCommand::Rotate) => rotate_keys(&config).await,
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let settings = PoolSettings {
        max_connections: config.database_pool_size,
        ..PoolSettings::default()
    };
    let store = store::connect(config.database.expose(), settings)
        .await
        .with_context(|| format!("cannot open the database {:?}", config.database))?;
    store.migrate().await.context("cannot apply migrations")?;
    Ok(store)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEADBOLT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = if std::env::var("DEADBOLT_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests in one process) keeps the first subscriber.
    drop(result);
}

/// Resolves when SIGTERM or Ctrl-C arrives. The handlers are installed here, before the
/// server says it is listening, so an early SIGTERM still shuts down gracefully.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

/// `deadbolt serve`.
async fn serve(config: Config) -> anyhow::Result<()> {
    init_tracing();
    let store = open_store(&config).await?;
    let (keys, created) = Keyring::load_or_create(&config.master_key_file)?;
    if created {
        tracing::info!(path = %config.master_key_file.display(), "created the master key file");
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    if store.count_accounts().await? == 0 {
        print_setup_link(store.as_ref(), &config, now).await?;
    }
    let recovery_key = crate::secrets::recovery_code_key(store.as_ref(), &keys).await?;
    crate::admin::sync_instance_policy(store.as_ref(), config.policy, now).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    let dispatch = Dispatch::new(
        &config.notify,
        config.public_url.as_str(),
        Arc::clone(&clock),
        Arc::clone(&metrics),
    )
    .map_err(|error| ConfigError::new("configuration", error.key, error.message))?;
    let (notifier, _workers) =
        crate::notify::start(Arc::clone(&store), Arc::clone(&clock), dispatch);
    let state = AppState::new(
        Arc::new(config),
        Arc::clone(&store),
        Arc::clone(&clock),
        PasswordPool::for_this_machine()?,
        Arc::new(keys),
        metrics,
        Arc::new(recovery_key),
        notifier,
    );
    // Session lookups are answered from memory from here on (kept coherent with every other
    // node; see store/cache.rs).
    store
        .join_cache()
        .await
        .context("cannot join the session cache")?;
    tokio::spawn(purge_sessions(Arc::clone(&store), clock));
    let shutdown = shutdown_signal()?;
    tracing::info!(%address, "listening");
    println!("Deadbolt listening on http://{address}");
    let served = crate::http::serve(listener, state, shutdown).await;
    store.leave_cache().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

async fn print_setup_link(store: &dyn Store, config: &Config, now: UnixTime) -> anyhow::Result<()> {
    let token = Token::generate();
    store
        .create_setup_token(&token.hash(), now.plus(SETUP_LINK_TTL))
        .await?;
    // The link is printed to standard output, once, and never logged.
    println!(
        "No account exists yet. Create the first administrator here (works once, for one hour):\n  {}",
        config.public_url.join(&format!("/setup/{}", token.expose()))
    );
    Ok(())
}

async fn purge_sessions(store: Arc<dyn Store>, clock: Arc<dyn Clock>) {
    let mut interval = tokio::time::interval(PURGE_INTERVAL);
    loop {
        interval.tick().await;
        match store.purge_expired_sessions(clock.now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "purged ended sessions"),
            Err(error) => tracing::warn!(%error, "session purge failed"),
        }
    }
}

/// `deadbolt migrate`.
async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_store(config).await?;
    println!("Migrations applied to {:?}", config.database);
    Ok(())
}

/// `deadbolt user create`.
async fn create_user(
    config: &Config,
    email: &str,
    name: Option<&str>,
    role: Role,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            bail!("no password on standard input");
        }
        (Password::new(line), false)
    } else {
        (Password::new(Token::generate().expose().to_owned()), true)
    };
    let valid =
        validate_new_account(email, name, &password).map_err(|error| anyhow::anyhow!("{error}"))?;
    let store = open_store(config).await?;
    let hashing_input = password.clone();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&hashing_input))
        .await
        .context("hashing worker failed")??;
    let account = NewAccount {
        id: AccountId::generate(),
        email: valid.email,
        name: valid.name,
        password_hash,
        is_admin: role == Role::Admin,
        created_at: SystemClock.now(),
    };
    match store.create_account(&account).await {
        Ok(()) => {}
        Err(StoreError::Conflict(Constraint::AccountEmail)) => {
            bail!(
                "an account with the e-mail address {} already exists",
                account.email.as_str()
            )
        }
        Err(other) => return Err(other.into()),
    }
    let kind = if account.is_admin {
        "administrator"
    } else {
        "account"
    };
    println!("Created {kind} {} ({})", account.email.as_str(), account.id);
    if generated {
        println!("Password (shown once): {}", password.expose());
    }
    Ok(())
}

/// `deadbolt keys rotate`.
async fn rotate_keys(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let rotation = crate::secrets::rotate_master_key(store.as_ref(), &config.master_key_file)
        .await
        .context("key rotation failed; run it again to resume")?;
    let verb = if rotation.resumed {
        "Resumed and completed"
    } else {
        "Completed"
    };
    println!(
        "{verb} the rotation: {} secret(s) re-sealed under key {}. Restart running servers.",
        rotation.resealed, rotation.key_id.0
    );
    Ok(())
}

/// `deadbolt user list`.
async fn list_users(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let accounts = store.search_accounts(None, None, u32::MAX).await?;
    let now = SystemClock.now();
    println!(
        "{:<40} {:<6} {:<15} {:<21} LAST SIGN-IN",
        "EMAIL", "ADMIN", "TWO-FACTOR", "CREATED"
    );
    for summary in &accounts {
        let account = &summary.account;
        println!(
            "{:<40} {:<6} {:<15} {:<21} {}",
            account.email.as_str(),
            if account.is_admin { "yes" } else { "no" },
            TwoFactorState::of(summary.two_factor_enabled, summary.pending_until, now).as_str(),
            account.created_at.to_rfc3339(),
            account
                .last_sign_in_at
                .map_or_else(|| "never".to_owned(), UnixTime::to_rfc3339),
        );
    }
    println!("{} account(s)", accounts.len());
    Ok(())
}

/// `deadbolt user reset-two-factor`.
async fn reset_two_factor(config: &Config, email: &str, reason: &str) -> anyhow::Result<()> {
    let reason = reason.trim();
    if reason.is_empty() {
        bail!("a reason is required (--reason), for the audit trail");
    }
    let email = crate::domain::email::Email::parse(email)
        .map_err(|_| anyhow::anyhow!("not a valid e-mail address: {email}"))?;
    // Who ran the command, for the audit trail (the sudo caller first).
    let operator = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .ok()
        .filter(|name| !name.is_empty());
    let store = open_store(config).await?;
    let account = store
        .account_by_email(&email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account with the e-mail address {}", email.as_str()))?;
    let outcome = crate::admin::reset_account_two_factor(
        store.as_ref(),
        &account,
        crate::admin::ResetActor::Cli {
            operator: operator.as_deref(),
        },
        reason,
        (None, Some("deadbolt-cli".to_owned())),
        SystemClock.now(),
        config.notify.channels(),
    )
    .await?;
    println!(
        "Reset two-factor of {} (was {}); {} session(s) ended, {} request(s) closed.",
        email.as_str(),
        if outcome.was_enabled {
            "enabled"
        } else {
            "not enabled"
        },
        outcome.sessions_revoked,
        outcome.requests_closed
    );
    Ok(())
}
