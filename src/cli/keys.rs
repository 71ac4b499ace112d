//! `deadbolt keys rotate`: a new master key, and every sealed secret re-sealed under it.

use anyhow::Context;
use clap::Subcommand;

use super::open_store;
use crate::config::Config;

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new master key and re-seal every secret under it (resumes an interrupted
    /// rotation). Restart running servers afterwards.
    Rotate,
}

/// `deadbolt keys rotate`.
pub(super) async fn rotate_keys(config: &Config) -> anyhow::Result<()> {
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
