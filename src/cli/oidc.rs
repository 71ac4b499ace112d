//! `deadbolt oidc client add|list|remove`: the OpenID Connect clients an admin registers
//! from the command line, through the same operations as the admin API
//! ([`crate::oidc::Provider`]). Clients of `[[oidc.clients]]` are listed too, and removed
//! from the file.

use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;

use super::open_store;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::event::ClientInfo;
use crate::keyring::Keyring;
use crate::notify::Notifier;
use crate::oidc::{ClientRegistration, Provider};

/// `oidc` subcommands.
#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Manage the applications that sign people in through Deadbolt.
    #[command(subcommand)]
    Client(ClientCommand),
}

/// `oidc client` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is generated and printed once.
    Add {
        /// The client id: letters, digits, `.`, `_`, `-`.
        client_id: String,
        /// Shown on the consent page.
        #[arg(long)]
        name: Option<String>,
        /// A redirect URI (repeat for several); matched exactly.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A public client: no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Admit only the members of this workspace (its id).
        #[arg(long)]
        workspace: Option<String>,
        /// Everyone signs in with two factors.
        #[arg(long)]
        require_two_factor: bool,
        /// Do not ask consent.
        #[arg(long)]
        trusted: bool,
        /// Sign its ID tokens with `ES256` (default) or `EdDSA`.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
    },
    /// List every client.
    List,
    /// Remove a client registered by an admin, with its consents, codes and tokens.
    Remove {
        /// The client id.
        client_id: String,
    },
}

async fn provider(config: &Config) -> anyhow::Result<Provider> {
    let store = open_store(config).await?;
    let (keys, _) = Keyring::load_or_create(&config.master_key_file)?;
    let secret_key = crate::secrets::recovery_code_key(store.as_ref(), &keys).await?;
    Ok(Provider::new(
        Arc::new(config.clone()),
        store,
        Arc::new(keys),
        Arc::new(secret_key),
        Notifier::default(),
    ))
}

/// `deadbolt oidc client …`.
pub(super) async fn run(config: &Config, command: OidcCommand) -> anyhow::Result<()> {
    let OidcCommand::Client(command) = command;
    let provider = provider(config).await?;
    let now = SystemClock.now();
    let cli = ClientInfo {
        ip: None,
        user_agent: Some("deadbolt-cli".to_owned()),
    };
    match command {
        ClientCommand::Add {
            client_id,
            name,
            redirect_uris,
            public,
            workspace,
            require_two_factor,
            trusted,
            id_token_alg,
        } => {
            let registration = ClientRegistration {
                client_id,
                name,
                redirect_uris,
                public,
                workspace,
                require_two_factor,
                trusted,
                id_token_signed_response_alg: id_token_alg,
                ..ClientRegistration::default()
            };
            let registered = provider
                .register_client(None, &registration, &cli, now)
                .await
                .context("cannot register the client")?;
            println!("Registered client {}", registered.client.client_id);
            match registered.secret {
                Some(secret) => println!("client_secret (shown once, store it now): {secret}"),
                None => println!("public client: no secret; PKCE (S256) is required"),
            }
        }
        ClientCommand::List => {
            for client in provider.clients().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    client.client_id,
                    client.name,
                    if client.is_public() {
                        "public"
                    } else {
                        "confidential"
                    },
                    client.source.as_str(),
                    client.redirect_uris.join(" ")
                );
            }
        }
        ClientCommand::Remove { client_id } => {
            provider
                .remove_client(None, &client_id, &cli, now)
                .await
                .with_context(|| format!("cannot remove client {client_id}"))?;
            println!("Removed client {client_id}");
        }
    }
    Ok(())
}
