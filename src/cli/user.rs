//! `deadbolt user …`: create an account, list accounts, and the audited lost-device reset.

use std::io::BufRead;

use anyhow::{bail, Context};
use clap::Subcommand;

use super::open_store;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::account::{validate_new_account, Role};
use crate::domain::ids::{AccountId, Token};
use crate::domain::password::{hash_password, Password};
use crate::domain::reset_request::ResetMode;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorState;
use crate::store::{Constraint, NewAccount, StoreError};

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
    List {
        /// List every account's API tokens instead: name, id, created, expires, last used
        /// (never the token).
        #[arg(long)]
        tokens: bool,
    },
    /// Reset an account's two-factor (lost device): deletes its authenticator and recovery
    /// codes and ends its sessions. Audited with the reason.
    ResetTwoFactor {
        /// The account's e-mail address.
        email: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
        /// Reset even when the account's open reset request lacks the marks
        /// `[recovery] reset_requires` asks for (recorded as forced).
        #[arg(long)]
        force: bool,
    },
}

/// `deadbolt user create`.
pub(super) async fn create_user(
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
        password_hash: Some(password_hash),
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

/// `deadbolt user list --tokens`.
pub(super) async fn list_tokens(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let tokens = store.all_api_tokens().await?;
    let now = SystemClock.now();
    println!(
        "{:<40} {:<24} {:<32} {:<21} {:<29} LAST USED",
        "EMAIL", "NAME", "ID", "CREATED", "EXPIRES"
    );
    for (email, token) in &tokens {
        let expires = token.expires_at.to_rfc3339();
        println!(
            "{:<40} {:<24} {:<32} {:<21} {:<29} {}",
            email,
            token.name,
            token.id.as_str(),
            token.created_at.to_rfc3339(),
            if token.is_live(now) {
                expires
            } else {
                format!("{expires} (expired)")
            },
            token
                .last_used_at
                .map_or_else(|| "never".to_owned(), UnixTime::to_rfc3339),
        );
    }
    println!("{} token(s)", tokens.len());
    Ok(())
}

/// `deadbolt user list`.
pub(super) async fn list_users(config: &Config) -> anyhow::Result<()> {
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
            summary
                .last_sign_in_at
                .map_or_else(|| "never".to_owned(), UnixTime::to_rfc3339),
        );
    }
    println!("{} account(s)", accounts.len());
    Ok(())
}

/// `deadbolt user reset-two-factor`.
pub(super) async fn reset_two_factor(
    config: &Config,
    email: &str,
    reason: &str,
    mode: ResetMode,
) -> anyhow::Result<()> {
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
    let ask = crate::admin::ResetAsk {
        actor: crate::admin::ResetActor::Cli {
            operator: operator.as_deref(),
        },
        reason,
        mode,
        origin: (None, Some("deadbolt-cli".to_owned())),
    };
    let outcome = crate::admin::reset_account_two_factor(
        store.as_ref(),
        &account,
        ask,
        config.recovery.reset_requires,
        SystemClock.now(),
        config.notify.channels(),
    )
    .await
    .map_err(|error| match error {
        crate::admin::Error::ResetNotConfirmed { missing } => anyhow::anyhow!(
            "the open reset request of {} lacks {}; pass --force to reset anyway",
            email.as_str(),
            crate::admin::names(&missing)
        ),
        other => other.into(),
    })?;
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
