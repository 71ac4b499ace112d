//! `deadbolt keys rotate`: a new master key, and every sealed secret re-sealed under it; and
//! new ID-token signing keys, the old ones published while what they signed lives.

use anyhow::Context;
use clap::Subcommand;

use super::open_store;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::keyring::Keyring;

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new master key and re-seal every secret under it (resumes an interrupted
    /// rotation), then roll the ID-token signing keys. Restart running servers afterwards.
    Rotate {
        /// Roll only the ID-token signing keys, under the current master key. Running
        /// servers sign with the new keys at once; no restart.
        #[arg(long)]
        signing_only: bool,
    },
}

/// `deadbolt keys rotate [--signing-only]`.
pub(super) async fn rotate_keys(config: &Config, signing_only: bool) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    if !signing_only {
        let rotation = crate::secrets::rotate_master_key(store.as_ref(), &config.master_key_file)
            .await
            .context("key rotation failed; run it again to resume")?;
        let verb = if rotation.resumed {
            "Resumed and completed"
        } else {
            "Completed"
        };
        println!(
            "{verb} the master key rotation: {} secret(s) re-sealed under key {}.",
            rotation.resealed, rotation.key_id.0
        );
    }
    let (keys, _) = Keyring::load_or_create(&config.master_key_file)?;
    let roll = crate::oidc::keys::roll(store.as_ref(), &keys, SystemClock.now())
        .await
        .context("rolling the signing keys failed; run it again")?;
    println!(
        "ID tokens are signed by key(s) {}; {} retired key(s) stay published for {} hours.",
        roll.signing.join(", "),
        roll.retired,
        crate::oidc::keys::RETIRED_KEY_SECONDS / 3600
    );
    if !signing_only {
        println!("Restart running servers.");
    }
    Ok(())
}
