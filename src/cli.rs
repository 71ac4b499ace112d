//! The `deadbolt` command line (SPEC §8): one async function per subcommand. A bad
//! configuration exits with code 2 and a one-line message naming the key.
//!
//! Here: the clap types at the top, dispatching, and `migrate`. Each group of subcommands has
//! its file, with its clap type: `serve.rs`, `user.rs`, `keys.rs`, `oidc.rs`.

mod keys;
mod oidc;
mod serve;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, FlagOverrides};
use crate::domain::account::Role;
use crate::domain::reset_request::ResetMode;
use crate::store::{self, PoolSettings, Store};

pub use keys::KeysCommand;
pub use oidc::{ClientCommand, OidcCommand};
pub use serve::ServeArgs;
pub use user::UserCommand;

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
    /// The OpenID Connect provider.
    #[command(subcommand)]
    Oidc(OidcCommand),
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
                eprintln!("deadbolt: {}", describe(&error));
                ExitCode::FAILURE
            }
        },
    }
}

/// The error and its causes on one line, each cause once: a cause whose text its error's
/// message already ends with (`database error: {0}` over the driver's error, say) is not
/// repeated.
fn describe(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
    }
    line
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
        Command::Serve(_) => serve::serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::User(UserCommand::Create {
            email,
            name,
            admin,
            password_stdin,
        }) => {
            let role = if admin { Role::Admin } else { Role::User };
            user::create_user(&config, &email, name.as_deref(), role, password_stdin).await
        }
        Command::User(UserCommand::List { tokens: false }) => user::list_users(&config).await,
        Command::User(UserCommand::List { tokens: true }) => user::list_tokens(&config).await,
        Command::User(UserCommand::ResetTwoFactor {
            email,
            reason,
            force,
        }) => user::reset_two_factor(&config, &email, &reason, ResetMode::forced(force)).await,
        Command::Keys(KeysCommand::Rotate { signing_only }) => {
            keys::rotate_keys(&config, signing_only).await
        }
        Command::Oidc(command) => oidc::run(&config, command).await,
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

/// `deadbolt migrate`.
async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_store(config).await?;
    println!("Migrations applied to {:?}", config.database);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::describe;
    use crate::store::StoreError;
    use anyhow::Context;

    #[test]
    fn an_error_line_names_each_cause_once() {
        let missing = sqlx::migrate::MigrateError::VersionMissing(20);
        let error = Err::<(), _>(StoreError::from(missing))
            .context("cannot apply migrations")
            .unwrap_err();
        assert_eq!(
            describe(&error),
            "cannot apply migrations: migration error: migration 20 was previously applied \
             but is missing in the resolved migrations"
        );
        let plain = Err::<(), _>(std::io::Error::other("disk full"))
            .context("cannot write the key")
            .unwrap_err();
        assert_eq!(describe(&plain), "cannot write the key: disk full");
    }
}
