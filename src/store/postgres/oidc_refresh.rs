//! OpenID Connect refresh tokens, revocation and introspection on PostgreSQL
//! (`migrations/postgres/0015_oidc_refresh_tokens.sql`). A rotation's conditional update
//! takes the token's row lock, so of two nodes rotating one token the second waits, then
//! finds it spent (and revokes the family). Inserts into a family hold its code's row shared,
//! and a revocation marks the code first, so no token outlives a revocation, whichever
//! commits first.

use async_trait::async_trait;

use super::PostgresStore;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::store::cache::Write;
use crate::store::oidc_refresh::{FamilyRow, RefreshRow, REFRESH_COLUMNS, REFRESH_USABLE};
use crate::store::{IssuedTokens, OidcRefresh, RefreshGrant, Rotation, StoreError};

/// A PostgreSQL statement with its arguments.
type TokenQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds a token of `grant`'s family: its digest `token`, then [`REFRESH_COLUMNS`] in order.
fn bind_token<'q>(
    query: TokenQuery<'q>,
    token: &'q [u8],
    grant: &'q RefreshGrant,
    created_at: i64,
    expires_at: i64,
) -> TokenQuery<'q> {
    query
        .bind(token)
        .bind(&grant.code_hash.0)
        .bind(&grant.client_id)
        .bind(grant.account_id.as_str())
        .bind(grant.session_id.as_str())
        .bind(&grant.scope)
        .bind(grant.auth_time.0)
        .bind(&grant.amr)
        .bind(&grant.access)
        .bind(grant.deadline.map(|d| d.0))
        .bind(&grant.workspace_role)
        .bind(created_at)
        .bind(expires_at)
}

/// Inserts a refresh token in `grant`'s family unless its code was reused or its session
/// ended; whether it was kept.
async fn insert_refresh(
    conn: &mut sqlx::PgConnection,
    token: &[u8],
    grant: &RefreshGrant,
    created_at: i64,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let sql = format!(
        "INSERT INTO oidc_refresh_tokens (token_hash, {REFRESH_COLUMNS})
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13
         FROM oidc_codes c
         WHERE c.code_hash = $2 AND c.reused_at IS NULL
           AND EXISTS (SELECT 1 FROM sessions WHERE id = $5)
         FOR SHARE OF c"
    );
    let query = sqlx::query(&sql);
    let inserted = bind_token(query, token, grant, created_at, expires_at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

/// Revokes the family of `code_hash`: marks the code reused (waiting for any insert into
/// the family to commit; later ones find the mark), then deletes its refresh and access
/// tokens; how many tokens.
pub(super) async fn revoke_family(
    conn: &mut sqlx::PgConnection,
    code_hash: &[u8],
    now: i64,
) -> Result<u64, StoreError> {
    sqlx::query("UPDATE oidc_codes SET reused_at = COALESCE(reused_at, $2) WHERE code_hash = $1")
        .bind(code_hash)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let refresh = sqlx::query("DELETE FROM oidc_refresh_tokens WHERE code_hash = $1")
        .bind(code_hash)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let access = sqlx::query("DELETE FROM oidc_access_tokens WHERE code_hash = $1")
        .bind(code_hash)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(refresh + access)
}

#[async_trait]
impl OidcRefresh for PostgresStore {
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
                    let mut tx = self.pool.begin().await?;
                    // Security: one conditional update spends the token; of two nodes rotating
                    // it, the row lock makes the second see `spent_at` set and update nothing.
                    let usable = REFRESH_USABLE.replace("{now}", "$2");
                    let spent: Option<RefreshRow> = sqlx::query_as(&format!(
                        "UPDATE oidc_refresh_tokens SET spent_at = $2
                     WHERE token_hash = $1 AND client_id = $3 AND spent_at IS NULL
                       AND {usable}
                     RETURNING {REFRESH_COLUMNS}"
                    ))
                    .bind(&presented.0)
                    .bind(now.0)
                    .bind(client_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = spent {
                        let grant = RefreshGrant::from(row);
                        let kept = insert_refresh(
                            &mut tx,
                            &next.refresh_hash.0,
                            &grant,
                            now.0,
                            next.refresh_expires_at.0,
                        )
                        .await?;
                        if !kept {
                            tx.commit().await?;
                            return Ok(Rotation::Unknown);
                        }
                        let sql = format!(
                            "INSERT INTO oidc_access_tokens (token_hash, {REFRESH_COLUMNS})
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                        );
                        let access = &next.access_hash.0;
                        let expires = next.access_expires_at.0;
                        bind_token(sqlx::query(&sql), access, &grant, now.0, expires)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        return Ok(Rotation::Rotated(Box::new(grant)));
                    }
                    let family: Option<FamilyRow> = sqlx::query_as(
                        "SELECT code_hash, client_id, account_id FROM oidc_refresh_tokens
                     WHERE token_hash = $1 AND client_id = $2 AND spent_at IS NOT NULL",
                    )
                    .bind(&presented.0)
                    .bind(client_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(family) = family else {
                        tx.commit().await?;
                        return Ok(Rotation::Unknown);
                    };
                    let revoked = revoke_family(&mut tx, &family.code_hash, now.0).await?;
                    tx.commit().await?;
                    Ok(Rotation::Reused {
                        client_id: family.client_id,
                        account_id: AccountId(family.account_id),
                        revoked,
                    })
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
                let mut tx = self.pool.begin().await?;
                let family: Option<FamilyRow> = sqlx::query_as(
                    "SELECT code_hash, client_id, account_id FROM oidc_refresh_tokens
                     WHERE token_hash = $1 AND client_id = $2",
                )
                .bind(&token_hash.0)
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await?;
                let deleted = match family {
                    Some(family) => revoke_family(&mut tx, &family.code_hash, now.0).await?,
                    None => sqlx::query(
                        "DELETE FROM oidc_access_tokens WHERE token_hash = $1 AND client_id = $2",
                    )
                    .bind(&token_hash.0)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected(),
                };
                tx.commit().await?;
                Ok(deleted)
            })
            .await
    }

    async fn oidc_refresh_token(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshGrant>, StoreError> {
        let usable = REFRESH_USABLE.replace("{now}", "$2");
        let row: Option<RefreshRow> = sqlx::query_as(&format!(
            "SELECT {REFRESH_COLUMNS} FROM oidc_refresh_tokens
             WHERE token_hash = $1 AND spent_at IS NULL AND {usable}"
        ))
        .bind(&token_hash.0)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(RefreshGrant::from))
    }
}
