//! The OpenID Connect clients on `/admin`: each with its kind, its source, its redirect URIs,
//! what it asks beyond a sign-in, and where its back-channel logouts stand.

use crate::http::error::ApiError;
use crate::http::AppState;
use crate::store::{ClientSource, LogoutQueue, OidcClient};

/// An OpenID Connect client row.
pub struct ClientRow {
    pub(super) client_id: String,
    pub(super) name: String,
    pub(super) kind: &'static str,
    pub(super) source: &'static str,
    pub(super) redirect_uris: String,
    /// What it asks beyond a sign-in: trusted, two factors, a workspace.
    pub(super) rules: Vec<String>,
    /// Where its back-channel logouts stand, when it was ever sent one.
    pub(super) logouts: Option<String>,
}

/// Every client's row, by id.
pub(super) async fn client_rows(state: &AppState) -> Result<Vec<ClientRow>, ApiError> {
    let clients = state.oidc.clients_with_logouts().await?;
    Ok(clients
        .into_iter()
        .map(|(client, queue)| row(client, queue.as_ref()))
        .collect())
}

fn row(client: OidcClient, queue: Option<&LogoutQueue>) -> ClientRow {
    let mut rules = Vec::new();
    if client.trusted {
        rules.push("trusted: no consent asked".to_owned());
    }
    if client.require_two_factor {
        rules.push("two factors required".to_owned());
    }
    if let Some(workspace) = &client.workspace_id {
        rules.push(format!("members of workspace {workspace} only"));
    }
    ClientRow {
        kind: if client.is_public() {
            "public"
        } else {
            "confidential"
        },
        source: match client.source {
            ClientSource::Config => "configuration",
            ClientSource::Admin => "admin",
        },
        redirect_uris: client.redirect_uris.join(", "),
        logouts: queue.map(logouts_line),
        client_id: client.client_id,
        name: client.name,
        rules,
    }
}

/// A client's back-channel logouts, in a line.
fn logouts_line(queue: &LogoutQueue) -> String {
    let mut line = format!(
        "back-channel logouts: {} delivered, {} waiting, {} given up",
        queue.delivered, queue.waiting, queue.abandoned
    );
    if let Some(error) = &queue.last_error {
        line.push_str(&format!(" (last failure: {error})"));
    }
    line
}
