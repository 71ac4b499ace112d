//! The OpenID Connect provider's state on SQLite (`migrations/sqlite/0014_oidc_provider.sql`):
//! clients, consents, codes spent by one conditional update, and access tokens.

use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::decode::{all, optional};
use super::SqliteStore;
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::time::UnixTime;
use crate::store::cache::{Key, Write};
use crate::store::oidc::{
    uri_list, AccessTokenRow, ClientRow, ACCESS_TOKEN_READ, CLIENT_COLUMNS, GRANT_COLUMNS,
    SPENT_CODE_KEPT_SECONDS,
};
use crate::store::rows::conflict_as;
use crate::store::{
    AccessTokenGrant, ClientSource, Consent, Constraint, Journal, Oidc, OidcClient, OidcGrant,
    StoreError,
};

const INSERT_CLIENT: &str = "INSERT INTO oidc_clients (client_id, name, redirect_uris, secret_hash,
         workspace_id, require_two_factor, trusted, post_logout_redirect_uris,
         backchannel_logout_uri, id_token_alg, source, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

fn insert_client(tx: &rusqlite::Connection, client: &OidcClient) -> rusqlite::Result<usize> {
    tx.prepare_cached(INSERT_CLIENT)?.execute(rusqlite::params![
        client.client_id,
        client.name,
        uri_list(&client.redirect_uris),
        client.secret_hash,
        client.workspace_id,
        client.require_two_factor,
        client.trusted,
        uri_list(&client.post_logout_redirect_uris),
        client.backchannel_logout_uri,
        client.id_token_alg.as_str(),
        client.source.as_str(),
        client.created_at.0,
    ])
}

#[async_trait]
impl Oidc for SqliteStore {
    async fn create_oidc_client(&self, client: &OidcClient) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateOidcClient, async {
                let client = client.clone();
                self.db
                    .write(move |tx| {
                        insert_client(tx, &client)
                            .map_err(|e| conflict_as(e, Constraint::OidcClientId))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn sync_configured_oidc_clients(&self, clients: &[OidcClient]) -> Result<(), StoreError> {
        self.cache
            .write(Write::SyncOidcClients, async {
                let clients = clients.to_vec();
                self.db
                    .write(move |tx| {
                        let listed: Vec<&str> =
                            clients.iter().map(|c| c.client_id.as_str()).collect();
                        let configured: Vec<String> = tx
                            .prepare_cached(
                                "SELECT client_id FROM oidc_clients WHERE source = 'config'",
                            )?
                            .query_map([], |row| row.get(0))?
                            .collect::<rusqlite::Result<_>>()?;
                        for gone in configured
                            .iter()
                            .filter(|id| !listed.contains(&id.as_str()))
                        {
                            tx.prepare_cached("DELETE FROM oidc_clients WHERE client_id = ?1")?
                                .execute([gone])?;
                        }
                        for client in &clients {
                            // Replacing keeps the row (and its consents): update in place.
                            let updated = tx
                                .prepare_cached(
                                    "UPDATE oidc_clients SET name = ?2, redirect_uris = ?3,
                                         secret_hash = ?4, workspace_id = ?5,
                                         require_two_factor = ?6, trusted = ?7,
                                         post_logout_redirect_uris = ?8,
                                         backchannel_logout_uri = ?9, id_token_alg = ?10
                                     WHERE client_id = ?1 AND source = 'config'",
                                )?
                                .execute(rusqlite::params![
                                    client.client_id,
                                    client.name,
                                    uri_list(&client.redirect_uris),
                                    client.secret_hash,
                                    client.workspace_id,
                                    client.require_two_factor,
                                    client.trusted,
                                    uri_list(&client.post_logout_redirect_uris),
                                    client.backchannel_logout_uri,
                                    client.id_token_alg.as_str(),
                                ])?;
                            if updated == 0 {
                                insert_client(tx, client)
                                    .map_err(|e| conflict_as(e, Constraint::OidcClientId))?;
                            }
                        }
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn oidc_client(&self, client_id: &str) -> Result<Option<OidcClient>, StoreError> {
        self.cache
            .remembered(Key::Client(client_id.to_owned()), async {
                let row: Option<ClientRow> = self.db.read(|conn| {
                    optional(
                        conn,
                        &format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE client_id = ?1"),
                        [client_id],
                    )
                })?;
                Ok(row.map(OidcClient::from))
            })
            .await
    }

    async fn list_oidc_clients(&self) -> Result<Vec<OidcClient>, StoreError> {
        let rows: Vec<ClientRow> = self.db.read(|conn| {
            all(
                conn,
                &format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients ORDER BY client_id"),
                [],
            )
        })?;
        Ok(rows.into_iter().map(OidcClient::from).collect())
    }

    async fn remove_oidc_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.cache
            .write(Write::RemoveOidcClient, async {
                let client_id = client_id.to_owned();
                self.db
                    .write(move |tx| {
                        let removed = tx
                            .prepare_cached(
                                "DELETE FROM oidc_clients WHERE client_id = ?1 AND source = ?2",
                            )?
                            .execute((&client_id, ClientSource::Admin.as_str()))?;
                        Ok(removed == 1)
                    })
                    .await
            })
            .await
    }

    async fn oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.db.read(|conn| {
            conn.prepare_cached(
                "SELECT scope FROM oidc_consents WHERE account_id = ?1 AND client_id = ?2",
            )?
            .query_row((account.as_str(), client_id), |row| row.get(0))
            .optional()
        })
    }

    async fn grant_oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::GrantOidcConsent, async {
                let params = (
                    account.as_str().to_owned(),
                    client_id.to_owned(),
                    scope.to_owned(),
                    now.0,
                );
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "INSERT INTO oidc_consents (account_id, client_id, scope, granted_at)
                             VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (account_id, client_id) DO UPDATE
                             SET scope = excluded.scope, granted_at = excluded.granted_at",
                        )?
                        .execute(params)?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn oidc_consents(&self, account: &AccountId) -> Result<Vec<Consent>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = self.db.read(|conn| {
            conn.prepare_cached(
                "SELECT c.client_id, k.name, c.scope, c.granted_at
                 FROM oidc_consents c JOIN oidc_clients k ON k.client_id = c.client_id
                 WHERE c.account_id = ?1 ORDER BY k.name, c.client_id",
            )?
            .query_map([account.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect()
        })?;
        Ok(rows
            .into_iter()
            .map(|(client_id, name, scope, granted_at)| Consent {
                client_id,
                name,
                scope,
                granted_at: UnixTime(granted_at),
            })
            .collect())
    }

    async fn revoke_oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError> {
        // Publishes even when nothing was withdrawn (a retry after a failed publish).
        self.cache
            .write(Write::RevokeOidcConsent, async {
                let (account, client) = (account.as_str().to_owned(), client_id.to_owned());
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        let withdrawn = tx
                            .prepare_cached(
                                "DELETE FROM oidc_consents WHERE account_id = ?1 AND client_id = ?2",
                            )?
                            .execute((&account, &client))?;
                        if withdrawn != 1 {
                            return Ok(false);
                        }
                        for end in [
                            "DELETE FROM oidc_access_tokens WHERE account_id = ?1 AND client_id = ?2",
                            "DELETE FROM oidc_refresh_tokens WHERE account_id = ?1 AND client_id = ?2",
                        ] {
                            tx.prepare_cached(end)?.execute((&account, &client))?;
                        }
                        super::journal::append_all(tx, Journal::new(&events, channels))?;
                        Ok(true)
                    })
                    .await
            })
            .await
    }

    async fn session_sign_in(
        &self,
        session: &SessionId,
    ) -> Result<Option<(String, UnixTime)>, StoreError> {
        let found: Option<(String, i64)> = self.db.read(|conn| {
            conn.prepare_cached("SELECT amr, created_at FROM sessions WHERE id = ?1")?
                .query_row([session.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })?;
        Ok(found.map(|(amr, at)| (amr, UnixTime(at))))
    }

    async fn create_oidc_code(&self, code: &OidcGrant) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateOidcCode, async {
                let code = code.clone();
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(&format!(
                            "INSERT INTO oidc_codes ({GRANT_COLUMNS})
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                                     ?14, ?15)"
                        ))?
                        .execute(rusqlite::params![
                            code.code_hash.0,
                            code.client_id,
                            code.account_id.as_str(),
                            code.session_id.as_str(),
                            code.redirect_uri,
                            code.scope,
                            code.code_challenge,
                            code.nonce,
                            code.auth_time.0,
                            code.amr,
                            code.access,
                            code.deadline.map(|d| d.0),
                            code.workspace_role,
                            code.created_at.0,
                            code.expires_at.0,
                        ])?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn oidc_access_token(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<AccessTokenGrant>, StoreError> {
        let found: Option<AccessTokenGrant> = self
            .cache
            .remembered(Key::AccessToken(token_hash.0.clone()), async {
                let sql = ACCESS_TOKEN_READ.replace("{1}", "?1").replace("{2}", "?2");
                let row: Option<AccessTokenRow> = self
                    .db
                    .read(|conn| optional(conn, &sql, (&token_hash.0, now.0)))?;
                Ok(row.map(AccessTokenGrant::from))
            })
            .await?;
        Ok(found.filter(|grant| grant.live_at(now)))
    }

    async fn purge_expired_oidc(&self, now: UnixTime) -> Result<u64, StoreError> {
        // Publishes when it deleted anything: a node judges its remembered tokens against its
        // own `now`, which need not be the purge's.
        self.cache
            .write_if(
                Write::PurgeOidc,
                async {
                    self.db
                        .write(move |tx| {
                            let tokens = tx
                                .prepare_cached(
                                    "DELETE FROM oidc_access_tokens WHERE expires_at <= ?1",
                                )?
                                .execute([now.0])?;
                            // Refresh tokens lapsed, or whose session ended; a code is kept
                            // while its family has one, so that its reuse still revokes.
                            let refresh = tx
                                .prepare_cached(
                                    "DELETE FROM oidc_refresh_tokens
                                 WHERE expires_at <= ?1
                                    OR NOT EXISTS (SELECT 1 FROM sessions s
                                                   WHERE s.id = oidc_refresh_tokens.session_id)",
                                )?
                                .execute([now.0])?;
                            let codes = tx
                                .prepare_cached(
                                    "DELETE FROM oidc_codes WHERE expires_at <= ?1
                                 AND NOT EXISTS (SELECT 1 FROM oidc_refresh_tokens r
                                                 WHERE r.code_hash = oidc_codes.code_hash)",
                                )?
                                .execute([now.0 - SPENT_CODE_KEPT_SECONDS])?;
                            Ok((tokens + refresh + codes) as u64)
                        })
                        .await
                },
                |purged| *purged > 0,
            )
            .await
    }
}
