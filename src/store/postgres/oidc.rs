//! The OpenID Connect provider's state on PostgreSQL
//! (`migrations/postgres/0014_oidc_provider.sql`): clients, consents, codes spent by one
//! conditional update (so of two nodes redeeming one code only one finds it unspent), and
//! access tokens.

use async_trait::async_trait;

use super::PostgresStore;
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
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

async fn insert_client(
    conn: &mut sqlx::PgConnection,
    client: &OidcClient,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_CLIENT)
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(uri_list(&client.redirect_uris))
        .bind(&client.secret_hash)
        .bind(&client.workspace_id)
        .bind(client.require_two_factor)
        .bind(client.trusted)
        .bind(uri_list(&client.post_logout_redirect_uris))
        .bind(&client.backchannel_logout_uri)
        .bind(client.id_token_alg.as_str())
        .bind(client.source.as_str())
        .bind(client.created_at.0)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_as(e, Constraint::OidcClientId))?;
    Ok(())
}

#[async_trait]
impl Oidc for PostgresStore {
    async fn create_oidc_client(&self, client: &OidcClient) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateOidcClient, async {
                let mut conn = self.pool.acquire().await?;
                insert_client(&mut conn, client).await
            })
            .await
    }

    async fn sync_configured_oidc_clients(&self, clients: &[OidcClient]) -> Result<(), StoreError> {
        self.cache
            .write(Write::SyncOidcClients, async {
                let mut tx = self.pool.begin().await?;
                let listed: Vec<String> = clients.iter().map(|c| c.client_id.clone()).collect();
                sqlx::query(
                    "DELETE FROM oidc_clients
                     WHERE source = 'config' AND NOT (client_id = ANY($1))",
                )
                .bind(&listed)
                .execute(&mut *tx)
                .await?;
                for client in clients {
                    // Replacing keeps the row (and its consents): update in place.
                    let updated = sqlx::query(
                        "UPDATE oidc_clients SET name = $2, redirect_uris = $3,
                             secret_hash = $4, workspace_id = $5, require_two_factor = $6,
                             trusted = $7, post_logout_redirect_uris = $8,
                             backchannel_logout_uri = $9, id_token_alg = $10
                         WHERE client_id = $1 AND source = 'config'",
                    )
                    .bind(&client.client_id)
                    .bind(&client.name)
                    .bind(uri_list(&client.redirect_uris))
                    .bind(&client.secret_hash)
                    .bind(&client.workspace_id)
                    .bind(client.require_two_factor)
                    .bind(client.trusted)
                    .bind(uri_list(&client.post_logout_redirect_uris))
                    .bind(&client.backchannel_logout_uri)
                    .bind(client.id_token_alg.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if updated == 0 {
                        insert_client(&mut tx, client).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    async fn oidc_client(&self, client_id: &str) -> Result<Option<OidcClient>, StoreError> {
        self.cache
            .remembered(Key::Client(client_id.to_owned()), async {
                let row: Option<ClientRow> = sqlx::query_as(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE client_id = $1"
                ))
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(OidcClient::from))
            })
            .await
    }

    async fn list_oidc_clients(&self) -> Result<Vec<OidcClient>, StoreError> {
        let rows: Vec<ClientRow> = sqlx::query_as(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oidc_clients ORDER BY client_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(OidcClient::from).collect())
    }

    async fn remove_oidc_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.cache
            .write(Write::RemoveOidcClient, async {
                let removed =
                    sqlx::query("DELETE FROM oidc_clients WHERE client_id = $1 AND source = $2")
                        .bind(client_id)
                        .bind(ClientSource::Admin.as_str())
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                Ok(removed == 1)
            })
            .await
    }

    async fn oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT scope FROM oidc_consents WHERE account_id = $1 AND client_id = $2",
        )
        .bind(account.as_str())
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|(scope,)| scope))
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
                sqlx::query(
                    "INSERT INTO oidc_consents (account_id, client_id, scope, granted_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (account_id, client_id) DO UPDATE
                     SET scope = EXCLUDED.scope, granted_at = EXCLUDED.granted_at",
                )
                .bind(account.as_str())
                .bind(client_id)
                .bind(scope)
                .bind(now.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            })
            .await
    }

    async fn oidc_consents(&self, account: &AccountId) -> Result<Vec<Consent>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT c.client_id, k.name, c.scope, c.granted_at
             FROM oidc_consents c JOIN oidc_clients k ON k.client_id = c.client_id
             WHERE c.account_id = $1 ORDER BY k.name, c.client_id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
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
                let mut tx = self.pool.begin().await?;
                let withdrawn = sqlx::query(
                    "DELETE FROM oidc_consents WHERE account_id = $1 AND client_id = $2",
                )
                .bind(account.as_str())
                .bind(client_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if withdrawn != 1 {
                    return Ok(false);
                }
                for end in [
                    "DELETE FROM oidc_access_tokens WHERE account_id = $1 AND client_id = $2",
                    "DELETE FROM oidc_refresh_tokens WHERE account_id = $1 AND client_id = $2",
                ] {
                    sqlx::query(end)
                        .bind(account.as_str())
                        .bind(client_id)
                        .execute(&mut *tx)
                        .await?;
                }
                super::journal::append_all(&mut tx, journal).await?;
                tx.commit().await?;
                Ok(true)
            })
            .await
    }

    async fn session_sign_in(
        &self,
        session: &SessionId,
    ) -> Result<Option<(String, UnixTime)>, StoreError> {
        let found: Option<(String, i64)> =
            sqlx::query_as("SELECT amr, created_at FROM sessions WHERE id = $1")
                .bind(session.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.map(|(amr, at)| (amr, UnixTime(at))))
    }

    async fn create_oidc_code(&self, code: &OidcGrant) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateOidcCode, async {
                sqlx::query(&format!(
                    "INSERT INTO oidc_codes ({GRANT_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                ))
                .bind(&code.code_hash.0)
                .bind(&code.client_id)
                .bind(code.account_id.as_str())
                .bind(code.session_id.as_str())
                .bind(&code.redirect_uri)
                .bind(&code.scope)
                .bind(&code.code_challenge)
                .bind(&code.nonce)
                .bind(code.auth_time.0)
                .bind(&code.amr)
                .bind(&code.access)
                .bind(code.deadline.map(|d| d.0))
                .bind(&code.workspace_role)
                .bind(code.created_at.0)
                .bind(code.expires_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
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
                let sql = ACCESS_TOKEN_READ.replace("{1}", "$1").replace("{2}", "$2");
                let row: Option<AccessTokenRow> = sqlx::query_as(&sql)
                    .bind(&token_hash.0)
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await?;
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
                    let (count,): (i64,) = sqlx::query_as(
                        "WITH tokens AS (
                         DELETE FROM oidc_access_tokens WHERE expires_at <= $1 RETURNING 1),
                     refresh AS (
                         DELETE FROM oidc_refresh_tokens r
                         WHERE r.expires_at <= $1
                            OR NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.session_id)
                         RETURNING 1),
                     codes AS (
                         DELETE FROM oidc_codes c WHERE c.expires_at <= $2
                         AND NOT EXISTS (SELECT 1 FROM oidc_refresh_tokens r
                                         WHERE r.code_hash = c.code_hash)
                         RETURNING 1)
                     SELECT (SELECT COUNT(*) FROM tokens) + (SELECT COUNT(*) FROM refresh)
                         + (SELECT COUNT(*) FROM codes)",
                    )
                    .bind(now.0)
                    .bind(now.0 - SPENT_CODE_KEPT_SECONDS)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(u64::try_from(count).unwrap_or(0))
                },
                |purged| *purged > 0,
            )
            .await
    }
}
