//! API tokens on PostgreSQL (`migrations/postgres/0017_api_tokens.sql`). The first use is
//! claimed by one conditional update whose rows affected decide, so of any number of nodes
//! seeing a token at once exactly one records `api_token_first_used`.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::journal::{append, append_all};
use super::PostgresStore;
use crate::domain::api_token::{revoked_with, ApiToken, ApiTokenId};
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::api_tokens::{
    lookup_in_workspace_sql, lookup_sql, ApiTokenRow, OwnedTokenRow, TokenAccountRow,
    WorkspaceTokenRow, TOKEN_COLUMNS,
};
use crate::store::cache::{Key, Write};
use crate::store::{
    ApiTokens, Journal, NewApiToken, StoreError, TokenLookup, WorkspaceTokenLookup,
};

/// Revokes every token of `account` inside the caller's transaction, recording an
/// `api_token_revoked` event for each, as part of the change `cause` records.
pub(super) async fn revoke_all(
    conn: &mut PgConnection,
    account: &str,
    cause: &NewEvent,
) -> Result<(), StoreError> {
    let revoked: Vec<(String, String)> =
        sqlx::query_as("DELETE FROM api_tokens WHERE account_id = $1 RETURNING id, name")
            .bind(account)
            .fetch_all(&mut *conn)
            .await?;
    for (id, name) in revoked {
        let event = revoked_with(cause, &ApiTokenId(id), &name);
        append(conn, &event, Channels::default()).await?;
    }
    Ok(())
}

#[async_trait]
impl ApiTokens for PostgresStore {
    async fn create_api_token(
        &self,
        new: &NewApiToken,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateApiToken, async {
                let token = &new.token;
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO api_tokens
                         (id, account_id, token_hash, name, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(token.id.as_str())
                .bind(token.account_id.as_str())
                .bind(&new.hash)
                .bind(&token.name)
                .bind(token.created_at.0)
                .bind(token.expires_at.0)
                .execute(&mut *tx)
                .await?;
                append_all(&mut tx, journal).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    async fn api_token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenLookup>, StoreError> {
        self.cache
            .remembered(Key::Token(hash.to_vec()), async {
                let row: Option<TokenAccountRow> = sqlx::query_as(&lookup_sql("$1"))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            })
            .await
    }

    async fn api_token_in_workspace(
        &self,
        hash: &[u8],
        workspace: &str,
    ) -> Result<Option<WorkspaceTokenLookup>, StoreError> {
        self.cache
            .remembered(
                Key::TokenInWorkspace(hash.to_vec(), workspace.to_owned()),
                async {
                    let row: Option<WorkspaceTokenRow> =
                        sqlx::query_as(&lookup_in_workspace_sql("$1", "$2"))
                            .bind(hash)
                            .bind(workspace)
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(row.map(Into::into))
                },
            )
            .await
    }

    async fn touch_api_token(
        &self,
        id: &ApiTokenId,
        now: UnixTime,
        first_use: &NewEvent,
    ) -> Result<bool, StoreError> {
        let first = self
            .cache
            .write(Write::TouchApiToken, async {
                let mut tx = self.pool.begin().await?;
                let first = sqlx::query(
                    "UPDATE api_tokens SET last_used_at = $1
                     WHERE id = $2 AND last_used_at IS NULL",
                )
                .bind(now.0)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if first {
                    append(&mut tx, first_use, Channels::default()).await?;
                } else {
                    sqlx::query(
                        "UPDATE api_tokens SET last_used_at = $1
                         WHERE id = $2 AND last_used_at < $1",
                    )
                    .bind(now.0)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(first)
            })
            .await?;
        self.cache.touched(id.as_str(), now);
        Ok(first)
    }

    async fn list_api_tokens(&self, account: &AccountId) -> Result<Vec<ApiToken>, StoreError> {
        let rows: Vec<ApiTokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens k
             WHERE k.account_id = $1 ORDER BY k.created_at DESC, k.id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn all_api_tokens(&self) -> Result<Vec<(String, ApiToken)>, StoreError> {
        let rows: Vec<OwnedTokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, a.email FROM api_tokens k
             JOIN accounts a ON a.id = k.account_id
             ORDER BY a.email, k.created_at DESC, k.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.email, row.token.into()))
            .collect())
    }

    async fn revoke_api_token(
        &self,
        account: &AccountId,
        id: &ApiTokenId,
        revoked: &NewEvent,
    ) -> Result<bool, StoreError> {
        // Publishes even when nothing was deleted, like `delete_session`: a retry after a
        // failed publish must publish again.
        self.cache
            .write(Write::RevokeApiToken, async {
                let mut tx = self.pool.begin().await?;
                let deleted =
                    sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND account_id = $2")
                        .bind(id.as_str())
                        .bind(account.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                if deleted {
                    append(&mut tx, revoked, Channels::default()).await?;
                }
                tx.commit().await?;
                Ok(deleted)
            })
            .await
    }
}
