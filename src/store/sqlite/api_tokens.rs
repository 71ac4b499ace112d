//! API tokens on SQLite (`migrations/sqlite/0017_api_tokens.sql`): one writer at a time, so
//! the first-use claim and its event, and a revocation and its event, are each one write.

use async_trait::async_trait;
use rusqlite::Connection;

use super::decode::{all, optional};
use super::{journal, SqliteStore};
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
pub(super) fn revoke_all(tx: &Connection, account: &str, cause: &NewEvent) -> rusqlite::Result<()> {
    let revoked: Vec<(String, String)> = tx
        .prepare_cached("DELETE FROM api_tokens WHERE account_id = ?1 RETURNING id, name")?
        .query_map([account], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, name) in revoked {
        let event = revoked_with(cause, &ApiTokenId(id), &name);
        journal::append(tx, &event, Channels::default())?;
    }
    Ok(())
}

#[async_trait]
impl ApiTokens for SqliteStore {
    async fn create_api_token(
        &self,
        new: &NewApiToken,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateApiToken, async {
                let new = new.clone();
                let (events, channels) = (journal.events.to_vec(), journal.channels);
                self.db
                    .write(move |tx| {
                        let token = &new.token;
                        tx.prepare_cached(
                            "INSERT INTO api_tokens
                                 (id, account_id, token_hash, name, created_at, expires_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute((
                            token.id.as_str(),
                            token.account_id.as_str(),
                            &new.hash,
                            &token.name,
                            token.created_at.0,
                            token.expires_at.0,
                        ))?;
                        journal::append_all(tx, Journal::new(&events, channels))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn api_token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenLookup>, StoreError> {
        self.cache
            .remembered(Key::Token(hash.to_vec()), async {
                let sql = lookup_sql("?1");
                let row: Option<TokenAccountRow> =
                    self.db.read(|conn| optional(conn, &sql, [hash]))?;
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
                    let sql = lookup_in_workspace_sql("?1", "?2");
                    let row: Option<WorkspaceTokenRow> = self
                        .db
                        .read(|conn| optional(conn, &sql, (hash, workspace)))?;
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
                let id = id.as_str().to_owned();
                let first_use = first_use.clone();
                self.db
                    .write(move |tx| {
                        let first = tx
                            .prepare_cached(
                                "UPDATE api_tokens SET last_used_at = ?1
                                 WHERE id = ?2 AND last_used_at IS NULL",
                            )?
                            .execute((now.0, &id))?
                            == 1;
                        if first {
                            journal::append(tx, &first_use, Channels::default())?;
                        } else {
                            tx.prepare_cached(
                                "UPDATE api_tokens SET last_used_at = ?1
                                 WHERE id = ?2 AND last_used_at < ?1",
                            )?
                            .execute((now.0, &id))?;
                        }
                        Ok(first)
                    })
                    .await
            })
            .await?;
        self.cache.touched(id.as_str(), now);
        Ok(first)
    }

    async fn list_api_tokens(&self, account: &AccountId) -> Result<Vec<ApiToken>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens k
             WHERE k.account_id = ?1 ORDER BY k.created_at DESC, k.id"
        );
        let rows: Vec<ApiTokenRow> = self.db.read(|conn| all(conn, &sql, [account.as_str()]))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn all_api_tokens(&self) -> Result<Vec<(String, ApiToken)>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS}, a.email FROM api_tokens k
             JOIN accounts a ON a.id = k.account_id
             ORDER BY a.email, k.created_at DESC, k.id"
        );
        let rows: Vec<OwnedTokenRow> = self.db.read(|conn| all(conn, &sql, []))?;
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
                let params = (id.as_str().to_owned(), account.as_str().to_owned());
                let revoked = revoked.clone();
                self.db
                    .write(move |tx| {
                        let deleted = tx
                            .prepare_cached(
                                "DELETE FROM api_tokens WHERE id = ?1 AND account_id = ?2",
                            )?
                            .execute(params)?
                            == 1;
                        if deleted {
                            journal::append(tx, &revoked, Channels::default())?;
                        }
                        Ok(deleted)
                    })
                    .await
            })
            .await
    }
}
