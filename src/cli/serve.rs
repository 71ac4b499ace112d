//! `deadbolt serve`: open the store, print the first-start setup link when no account
//! exists, join the node cache, start the outbox workers and the purge of ended sessions,
//! and serve until SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use super::open_store;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::domain::ids::Token;
use crate::domain::time::UnixTime;
use crate::http::metrics::Metrics;
use crate::http::AppState;
use crate::keyring::Keyring;
use crate::notify::Dispatch;
use crate::password_pool::PasswordPool;
use crate::store::Store;

/// How long a first-start setup link works.
const SETUP_LINK_TTL: Duration = Duration::from_secs(60 * 60);
/// How often ended sessions are swept from the database.
const PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

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
pub(super) async fn serve(config: Config) -> anyhow::Result<()> {
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
    crate::oidc::sync_configured_clients(store.as_ref(), &config.oidc, &recovery_key, now)
        .await
        .context("cannot register the [[oidc.clients]]")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    let keys = Arc::new(keys);
    let dispatch = Dispatch::new(
        &config.notify,
        config.public_url.as_str(),
        Arc::clone(&clock),
        Arc::clone(&metrics),
        Arc::clone(&keys),
    )
    .map_err(|error| ConfigError::new("configuration", error.key, error.message))?;
    let (notifier, mut workers) =
        crate::notify::start(Arc::clone(&store), Arc::clone(&clock), dispatch);
    let state = AppState::new(
        Arc::new(config),
        Arc::clone(&store),
        Arc::clone(&clock),
        PasswordPool::for_this_machine()?,
        keys,
        metrics,
        Arc::new(recovery_key),
        notifier,
    );
    workers.also(crate::notify::backchannel::start(
        Arc::clone(&store),
        Arc::clone(&clock),
        state.oidc.clone(),
    ));
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
        match store.purge_expired_oidc(clock.now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "purged lapsed authorization codes and tokens"),
            Err(error) => tracing::warn!(%error, "authorization code purge failed"),
        }
        match store.purge_expired_email_tokens(clock.now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "purged lapsed e-mail tokens"),
            Err(error) => tracing::warn!(%error, "e-mail token purge failed"),
        }
        match store.purge_ceremonies(clock.now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "purged lapsed WebAuthn ceremonies"),
            Err(error) => tracing::warn!(%error, "WebAuthn ceremony purge failed"),
        }
    }
}
