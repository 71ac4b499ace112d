//! Workspaces on PostgreSQL: creation, members and their roles (never leaving a workspace
//! without an owner), invitations, and two-factor enforcement, the workspace's and the
//! instance-wide policy.

use async_trait::async_trait;

use super::PostgresStore;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{InstancePolicy, Invitation, Member, PolicySource, Role, Workspace};
use crate::store::cache::{Key, Write};
use crate::store::rows::{InvitationRow, MemberRow, PolicyRow, WorkspaceRoleRow};
use crate::store::{MemberChange, StoreError, Workspaces};

/// After a refused membership change: not a member, or the last owner.
async fn why_unchanged(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    workspace: &str,
    account: &AccountId,
) -> Result<MemberChange, StoreError> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM memberships WHERE workspace_id = $1 AND account_id = $2",
    )
    .bind(workspace)
    .bind(account.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match role {
        Some(_) => MemberChange::LastOwner,
        None => MemberChange::NotMember,
    })
}

#[async_trait]
impl Workspaces for PostgresStore {
    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &AccountId,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateWorkspace, async {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO workspaces (id, name, created_at, enforcement, grace_period_days,
                        enforced_since, required_factor)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&workspace.id)
                .bind(&workspace.name)
                .bind(workspace.created_at.0)
                .bind(workspace.enforcement.as_str())
                .bind(i64::from(workspace.grace_period_days))
                .bind(workspace.enforced_since.map(|t| t.0))
                .bind(workspace.required_factor.as_str())
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO memberships (workspace_id, account_id, role, joined_at)
                     VALUES ($1, $2, 'owner', $3)",
                )
                .bind(&workspace.id)
                .bind(owner.as_str())
                .bind(workspace.created_at.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    async fn account_workspaces(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        self.cache
            .remembered(Key::Workspaces(account.as_str().to_owned()), async {
                let rows: Vec<WorkspaceRoleRow> = sqlx::query_as(
                    "SELECT w.id, w.name, w.created_at, w.enforcement, w.grace_period_days,
                            w.enforced_since, w.required_factor, m.role
                     FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
                     WHERE m.account_id = $1 ORDER BY w.name, w.id",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            })
            .await
    }

    async fn membership(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<Option<(Workspace, Role)>, StoreError> {
        let row: Option<WorkspaceRoleRow> = sqlx::query_as(
            "SELECT w.id, w.name, w.created_at, w.enforcement, w.grace_period_days,
                    w.enforced_since, w.required_factor, m.role
             FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
             WHERE m.workspace_id = $1 AND m.account_id = $2",
        )
        .bind(workspace)
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError> {
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT m.account_id, a.email, m.role,
                    (t.secret IS NOT NULL) AS has_totp,
                    EXISTS (SELECT 1 FROM webauthn_credentials w
                            WHERE w.account_id = m.account_id) AS has_webauthn
             FROM memberships m
             JOIN accounts a ON a.id = m.account_id
             LEFT JOIN two_factor t ON t.account_id = m.account_id
             WHERE m.workspace_id = $1 ORDER BY a.email",
        )
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Member::from).collect())
    }

    async fn set_enforcement(&self, workspace: &Workspace) -> Result<(), StoreError> {
        self.cache
            .write(Write::SetEnforcement, async {
                sqlx::query(
            "UPDATE workspaces SET enforcement = $2, grace_period_days = $3, enforced_since = $4,
                 required_factor = $5
             WHERE id = $1",
        )
        .bind(&workspace.id)
        .bind(workspace.enforcement.as_str())
        .bind(i64::from(workspace.grace_period_days))
        .bind(workspace.enforced_since.map(|t| t.0))
        .bind(workspace.required_factor.as_str())
        .execute(&self.pool)
        .await?;
                Ok(())
            })
            .await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateInvitation, async {
                sqlx::query(
                    "INSERT INTO invitations
                         (id, workspace_id, email, role,
                             token_hash, invited_by, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&invitation.id)
                .bind(&invitation.workspace_id)
                .bind(&invitation.email)
                .bind(invitation.role.as_str())
                .bind(&token.0)
                .bind(invitation.invited_by.as_str())
                .bind(invitation.created_at.0)
                .bind(invitation.expires_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            })
            .await
    }

    async fn invitation(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        let row: Option<InvitationRow> = sqlx::query_as(
            "SELECT id, workspace_id, email, role, invited_by, created_at, expires_at
             FROM invitations WHERE token_hash = $1",
        )
        .bind(&token.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Invitation::from))
    }

    async fn accept_invitation(
        &self,
        token: &TokenHash,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Option<Invitation>, StoreError> {
        self.cache
            .write_if(
                Write::AcceptInvitation,
                async {
                    let mut tx = self.pool.begin().await?;
                    let row: Option<InvitationRow> = sqlx::query_as(
                        "DELETE FROM invitations WHERE token_hash = $1 AND expires_at > $2
                         RETURNING id, workspace_id, email, role,
                             invited_by, created_at, expires_at",
                    )
                    .bind(&token.0)
                    .bind(now.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let invitation = Invitation::from(row);
                    sqlx::query(
                        "INSERT INTO memberships (workspace_id, account_id, role, joined_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (workspace_id, account_id) DO NOTHING",
                    )
                    .bind(&invitation.workspace_id)
                    .bind(account.as_str())
                    .bind(invitation.role.as_str())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Some(invitation))
                },
                Option::is_some,
            )
            .await
    }

    async fn change_role(
        &self,
        workspace: &str,
        account: &AccountId,
        role: Role,
    ) -> Result<MemberChange, StoreError> {
        self.cache
            .write(Write::ChangeRole, async {
                let mut tx = self.pool.begin().await?;
                // Two demotions of different owners must not both see "another owner exists".
                sqlx::query("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
                    .bind(workspace)
                    .execute(&mut *tx)
                    .await?;
                // Demoting the last owner is refused inside the same statement.
                let changed = sqlx::query(
                    "UPDATE memberships SET role = $3
                     WHERE workspace_id = $1 AND account_id = $2
                       AND (role <> 'owner' OR $3 = 'owner'
                            OR (SELECT COUNT(*) FROM memberships
                                WHERE workspace_id = $1 AND role = 'owner') > 1)",
                )
                .bind(workspace)
                .bind(account.as_str())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let outcome = if changed == 1 {
                    MemberChange::Done
                } else {
                    why_unchanged(&mut tx, workspace, account).await?
                };
                tx.commit().await?;
                Ok(outcome)
            })
            .await
    }

    async fn remove_member(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<MemberChange, StoreError> {
        self.cache
            .write(Write::RemoveMember, async {
                let mut tx = self.pool.begin().await?;
                // Two demotions of different owners must not both see "another owner exists".
                sqlx::query("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
                    .bind(workspace)
                    .execute(&mut *tx)
                    .await?;
                let removed = sqlx::query(
                    "DELETE FROM memberships
                     WHERE workspace_id = $1 AND account_id = $2
                       AND (role <> 'owner'
                            OR (SELECT COUNT(*) FROM memberships
                                WHERE workspace_id = $1 AND role = 'owner') > 1)",
                )
                .bind(workspace)
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let outcome = if removed == 1 {
                    MemberChange::Done
                } else {
                    why_unchanged(&mut tx, workspace, account).await?
                };
                tx.commit().await?;
                Ok(outcome)
            })
            .await
    }

    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError> {
        self.cache
            .remembered(Key::Policy, async {
                let row: Option<PolicyRow> = sqlx::query_as(
                    "SELECT require_two_factor, grace_period_days, enforced_since, source,
                            required_factor
                     FROM instance_policy WHERE id = 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(InstancePolicy::from))
            })
            .await
    }

    async fn set_instance_policy(&self, policy: &InstancePolicy) -> Result<(), StoreError> {
        self.cache
            .write(Write::SetInstancePolicy, async {
                let source = match policy.source {
                    PolicySource::Config => "config",
                    PolicySource::Admin => "admin",
                };
                sqlx::query(
                    "INSERT INTO instance_policy
                         (id, require_two_factor, grace_period_days, enforced_since, source,
                          required_factor)
                     VALUES (1, $1, $2, $3, $4, $5)
                     ON CONFLICT (id) DO UPDATE SET
                         require_two_factor = excluded.require_two_factor,
                         grace_period_days = excluded.grace_period_days,
                         enforced_since = excluded.enforced_since,
                         source = excluded.source,
                         required_factor = excluded.required_factor",
                )
                .bind(policy.scope.as_str())
                .bind(i64::from(policy.grace_period_days))
                .bind(policy.enforced_since.map(|t| t.0))
                .bind(source)
                .bind(policy.required_factor.as_str())
                .execute(&self.pool)
                .await?;
                Ok(())
            })
            .await
    }
}
