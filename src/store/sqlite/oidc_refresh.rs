//! OpenID Connect refresh tokens, revocation and introspection on SQLite
//! (`migrations/sqlite/0015_oidc_refresh_tokens.sql`). One writer at a time: a rotation's
//! conditional update and the inserts it makes are one transaction.

use async_trait::async_trait;

use super::decode::optional;
use super::SqliteStore;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::oidc_refresh::{FamilyRow, RefreshRow, REFRESH_COLUMNS, REFRESH_USABLE};
use crate::store::{IssuedTokens, OidcRefresh, RefreshGrant, Rotation, StoreError};

/// Inserts a refresh token in `grant`'s family unless its code was reused or its session
/// ended; whether it was kept.
fn insert_refresh(
    tx: &rusqlite::Connection,
    token: &[u8],
    grant: &RefreshGrant,
    created_at: i64,
    expires_at: i64,
) -> rusqlite::Result<bool> {
    let inserted = tx
        .prepare_cached(&format!(
            "INSERT INTO oidc_refresh_tokens (token_hash, {REFRESH_COLUMNS})
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13
             WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?5)
               AND EXISTS (SELECT 1 FROM oidc_codes
                           WHERE code_hash = ?2 AND reused_at IS NULL)"
        ))?
        .execute(token_params(token, grant, created_at, expires_at))?;
    Ok(inserted == 1)
}

/// The parameters of a token of `grant`'s family: its digest `token` (`?1`), then
/// [`REFRESH_COLUMNS`] in order (`?2`–`?13`).
fn token_params<'a>(
    token: &'a [u8],
    grant: &'a RefreshGrant,
    created_at: i64,
    expires_at: i64,
) -> impl rusqlite::Params + 'a {
    (
        token,
        &grant.code_hash.0,
        &grant.client_id,
        grant.account_id.as_str(),
        grant.session_id.as_str(),
        &grant.scope,
        grant.auth_time.0,
        &grant.amr,
        &grant.access,
        grant.deadline.map(|d| d.0),
        &grant.workspace_role,
        created_at,
        expires_at,
    )
}

/// Revokes the family of `code_hash`: marks the code reused (nothing more is issued from
/// it), then deletes its refresh and access tokens; how many tokens.
pub(super) fn revoke_family(
    tx: &rusqlite::Connection,
    code_hash: &[u8],
    now: i64,
) -> rusqlite::Result<u64> {
    tx.prepare_cached(
        "UPDATE oidc_codes SET reused_at = COALESCE(reused_at, ?2) WHERE code_hash = ?1",
    )?
    .execute((code_hash, now))?;
    let refresh = tx
        .prepare_cached("DELETE FROM oidc_refresh_tokens WHERE code_hash = ?1")?
        .execute([code_hash])?;
    let access = tx
        .prepare_cached("DELETE FROM oidc_access_tokens WHERE code_hash = ?1")?
        .execute([code_hash])?;
    Ok((refresh + access) as u64)
}

#[async_trait]
impl OidcRefresh for SqliteStore {
    async fn rotate_oidc_refresh_token(
        &self,
        presented: &TokenHash,
        client_id: &str,
        next: &IssuedTokens,
        now: UnixTime,
    ) -> Result<Rotation, StoreError> {
        // Publishes only a reuse (it revokes the family's access tokens, which nodes may
        // remember; a retry is a reuse again); a plain rotation adds tokens no node knows yet.
        self.cache
            .write_if(
                Write::RotateOidcRefreshToken,
                async {
                    let (presented, next) = (presented.0.clone(), next.clone());
                    let client_id = client_id.to_owned();
                    self.db
                        .write(move |tx| {
                            // Security: one conditional update spends the token; rows affected
                            // decide, so of two rotations only one gets it.
                            let usable = REFRESH_USABLE.replace("{now}", "?2");
                            let spent: Option<RefreshRow> = optional(
                                tx,
                                &format!(
                                    "UPDATE oidc_refresh_tokens SET spent_at = ?2
                                 WHERE token_hash = ?1 AND client_id = ?3 AND spent_at IS NULL
                       AND {usable}
                                 RETURNING {REFRESH_COLUMNS}"
                                ),
                                (&presented, now.0, &client_id),
                            )?;
                            if let Some(row) = spent {
                                let grant = RefreshGrant::from(row);
                                let kept = insert_refresh(
                                    tx,
                                    &next.refresh_hash.0,
                                    &grant,
                                    now.0,
                                    next.refresh_expires_at.0,
                                )?;
                                if !kept {
                                    return Ok(Rotation::Unknown);
                                }
                                let access = &next.access_hash.0;
                                let expires = next.access_expires_at.0;
                                tx.prepare_cached(&format!(
                                    "INSERT INTO oidc_access_tokens (token_hash, {REFRESH_COLUMNS})
                                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                                             ?13)"
                                ))?
                                .execute(token_params(access, &grant, now.0, expires))?;
                                return Ok(Rotation::Rotated(Box::new(grant)));
                            }
                            let family: Option<FamilyRow> = optional(
                                tx,
                                "SELECT code_hash, client_id, account_id FROM oidc_refresh_tokens
                             WHERE token_hash = ?1 AND client_id = ?2 AND spent_at IS NOT NULL",
                                (&presented, &client_id),
                            )?;
                            let Some(family) = family else {
                                return Ok(Rotation::Unknown);
                            };
                            let revoked = revoke_family(tx, &family.code_hash, now.0)?;
                            Ok(Rotation::Reused {
                                client_id: family.client_id,
                                account_id: AccountId(family.account_id),
                                revoked,
                            })
                        })
                        .await
                },
                |done| matches!(done, Rotation::Reused { .. }),
            )
            .await
    }

    async fn revoke_oidc_token(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        // Publishes even when nothing was deleted: a retry after a publish that failed must
        // publish again, and finds nothing left to delete.
        self.cache
            .write(Write::RevokeOidcToken, async {
                let (token, client_id) = (token_hash.0.clone(), client_id.to_owned());
                self.db
                    .write(move |tx| {
                        let family: Option<FamilyRow> = optional(
                            tx,
                            "SELECT code_hash, client_id, account_id FROM oidc_refresh_tokens
                             WHERE token_hash = ?1 AND client_id = ?2",
                            (&token, &client_id),
                        )?;
                        if let Some(family) = family {
                            return Ok(revoke_family(tx, &family.code_hash, now.0)?);
                        }
                        let deleted = tx
                            .prepare_cached(
                                "DELETE FROM oidc_access_tokens
                                 WHERE token_hash = ?1 AND client_id = ?2",
                            )?
                            .execute((&token, &client_id))?;
                        Ok(deleted as u64)
                    })
                    .await
            })
            .await
    }

    async fn oidc_refresh_token(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshGrant>, StoreError> {
        let usable = REFRESH_USABLE.replace("{now}", "?2");
        let sql = format!(
            "SELECT {REFRESH_COLUMNS} FROM oidc_refresh_tokens
             WHERE token_hash = ?1 AND spent_at IS NULL AND {usable}"
        );
        let row: Option<RefreshRow> = self
            .db
            .read(|conn| optional(conn, &sql, (&token_hash.0, now.0)))?;
        Ok(row.map(RefreshGrant::from))
    }
}
