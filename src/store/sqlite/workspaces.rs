//! Workspaces on SQLite: creation, members and their roles (never leaving a workspace
//! without an owner), invitations, and two-factor enforcement, the workspace's and the
//! instance-wide policy.

use async_trait::async_trait;

use rusqlite::{Connection, OptionalExtension};

use super::decode::{all, optional};
use super::SqliteStore;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::time::UnixTime;
use crate::domain::workspace::{InstancePolicy, Invitation, Member, PolicySource, Role, Workspace};
use crate::store::cache::{Key, Write};
use crate::store::rows::{InvitationRow, MemberRow, PolicyRow, WorkspaceRoleRow};
use crate::store::{MemberChange, StoreError, Workspaces};

/// After a refused membership change: not a member, or the last owner.
fn why_unchanged(
    tx: &Connection,
    workspace: &str,
    account: &str,
) -> Result<MemberChange, StoreError> {
    let role: Option<String> = tx
        .prepare_cached("SELECT role FROM memberships WHERE workspace_id = ?1 AND account_id = ?2")?
        .query_row((workspace, account), |row| row.get(0))
        .optional()?;
    Ok(match role {
        Some(_) => MemberChange::LastOwner,
        None => MemberChange::NotMember,
    })
}

#[async_trait]
impl Workspaces for SqliteStore {
    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &AccountId,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::CreateWorkspace, async {
                let (workspace, owner) = (workspace.clone(), owner.as_str().to_owned());
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "INSERT INTO workspaces
                                 (id, name, created_at, enforcement,
                                     grace_period_days, enforced_since, required_factor)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?
                        .execute((
                            &workspace.id,
                            &workspace.name,
                            workspace.created_at.0,
                            workspace.enforcement.as_str(),
                            i64::from(workspace.grace_period_days),
                            workspace.enforced_since.map(|t| t.0),
                            workspace.required_factor.as_str(),
                        ))?;
                        tx.prepare_cached(
                            "INSERT INTO memberships (workspace_id, account_id, role, joined_at)
                             VALUES (?1, ?2, 'owner', ?3)",
                        )?
                        .execute((
                            &workspace.id,
                            &owner,
                            workspace.created_at.0,
                        ))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn account_workspaces(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        self.cache
            .remembered(Key::Workspaces(account.as_str().to_owned()), async {
                let rows: Vec<WorkspaceRoleRow> = self.db.read(|conn| {
                    all(
                        conn,
                        "SELECT w.id, w.name, w.created_at, w.enforcement, w.grace_period_days,
                                w.enforced_since, w.required_factor, m.role
                         FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
                         WHERE m.account_id = ?1 ORDER BY w.name, w.id",
                        [account.as_str()],
                    )
                })?;
                Ok(rows.into_iter().map(Into::into).collect())
            })
            .await
    }

    async fn membership(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<Option<(Workspace, Role)>, StoreError> {
        let row: Option<WorkspaceRoleRow> = self.db.read(|conn| {
            optional(
                conn,
                "SELECT w.id, w.name, w.created_at, w.enforcement, w.grace_period_days,
                        w.enforced_since, w.required_factor, m.role
                 FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
                 WHERE m.workspace_id = ?1 AND m.account_id = ?2",
                (workspace, account.as_str()),
            )
        })?;
        Ok(row.map(Into::into))
    }

    async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError> {
        let rows: Vec<MemberRow> = self.db.read(|conn| {
            all(
                conn,
                "SELECT m.account_id, a.email, m.role,
                        (t.secret IS NOT NULL) AS has_totp,
                    EXISTS (SELECT 1 FROM webauthn_credentials w
                            WHERE w.account_id = m.account_id) AS has_webauthn
                 FROM memberships m
                 JOIN accounts a ON a.id = m.account_id
                 LEFT JOIN two_factor t ON t.account_id = m.account_id
                 WHERE m.workspace_id = ?1 ORDER BY a.email",
                [workspace],
            )
        })?;
        Ok(rows.into_iter().map(Member::from).collect())
    }

    async fn set_enforcement(&self, workspace: &Workspace) -> Result<(), StoreError> {
        self.cache
            .write(Write::SetEnforcement, async {
                let params = (
                    workspace.id.clone(),
                    workspace.enforcement.as_str(),
                    i64::from(workspace.grace_period_days),
                    workspace.enforced_since.map(|t| t.0),
                    workspace.required_factor.as_str(),
                );
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "UPDATE workspaces SET enforcement = ?2, grace_period_days = ?3,
                                enforced_since = ?4, required_factor = ?5
                             WHERE id = ?1",
                        )?
                        .execute(params)?;
                        Ok(())
                    })
                    .await
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
                let (invitation, token) = (invitation.clone(), token.0.clone());
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "INSERT INTO invitations
                                 (id, workspace_id, email, role, token_hash, invited_by,
                                     created_at, expires_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        )?
                        .execute((
                            &invitation.id,
                            &invitation.workspace_id,
                            &invitation.email,
                            invitation.role.as_str(),
                            &token,
                            invitation.invited_by.as_str(),
                            invitation.created_at.0,
                            invitation.expires_at.0,
                        ))?;
                        Ok(())
                    })
                    .await
            })
            .await
    }

    async fn invitation(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        let row: Option<InvitationRow> = self.db.read(|conn| {
            optional(
                conn,
                "SELECT id, workspace_id, email, role, invited_by, created_at, expires_at
                 FROM invitations WHERE token_hash = ?1",
                [&token.0],
            )
        })?;
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
                    let (token, account) = (token.0.clone(), account.as_str().to_owned());
                    self.db
                        .write(move |tx| {
                            let row: Option<InvitationRow> = optional(
                                tx,
                                "DELETE FROM invitations WHERE token_hash = ?1 AND expires_at > ?2
                                 RETURNING id, workspace_id, email, role,
                                     invited_by, created_at, expires_at",
                                (&token, now.0),
                            )?;
                            let Some(row) = row else {
                                return Ok(None);
                            };
                            let invitation = Invitation::from(row);
                            tx.prepare_cached(
                    "INSERT INTO memberships (workspace_id, account_id, role, joined_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (workspace_id, account_id) DO NOTHING",
                )?
                .execute((
                    &invitation.workspace_id,
                    &account,
                    invitation.role.as_str(),
                    now.0,
                ))?;
                            Ok(Some(invitation))
                        })
                        .await
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
                let (workspace, account) = (workspace.to_owned(), account.as_str().to_owned());
                self.db
                    .write(move |tx| {
                        // Demoting the last owner is refused inside the same statement.
                        let changed = tx
                            .prepare_cached(
                                "UPDATE memberships SET role = ?3
                                 WHERE workspace_id = ?1 AND account_id = ?2
                                   AND (role <> 'owner' OR ?3 = 'owner'
                                        OR (SELECT COUNT(*) FROM memberships
                                            WHERE workspace_id = ?1 AND role = 'owner') > 1)",
                            )?
                            .execute((&workspace, &account, role.as_str()))?;
                        if changed == 1 {
                            Ok(MemberChange::Done)
                        } else {
                            why_unchanged(tx, &workspace, &account)
                        }
                    })
                    .await
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
                let (workspace, account) = (workspace.to_owned(), account.as_str().to_owned());
                self.db
                    .write(move |tx| {
                        let removed = tx
                            .prepare_cached(
                                "DELETE FROM memberships
                                 WHERE workspace_id = ?1 AND account_id = ?2
                                   AND (role <> 'owner'
                                        OR (SELECT COUNT(*) FROM memberships
                                            WHERE workspace_id = ?1 AND role = 'owner') > 1)",
                            )?
                            .execute((&workspace, &account))?;
                        if removed == 1 {
                            Ok(MemberChange::Done)
                        } else {
                            why_unchanged(tx, &workspace, &account)
                        }
                    })
                    .await
            })
            .await
    }

    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError> {
        self.cache
            .remembered(Key::Policy, async {
                let row: Option<PolicyRow> = self.db.read(|conn| {
                    optional(
                        conn,
                        "SELECT require_two_factor, grace_period_days, enforced_since, source,
                            required_factor
                         FROM instance_policy WHERE id = 1",
                        [],
                    )
                })?;
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
                let params = (
                    policy.scope.as_str(),
                    i64::from(policy.grace_period_days),
                    policy.enforced_since.map(|t| t.0),
                    source,
                    policy.required_factor.as_str(),
                );
                self.db
                    .write(move |tx| {
                        tx.prepare_cached(
                            "INSERT INTO instance_policy
                                 (id, require_two_factor, grace_period_days, enforced_since, source,
                          required_factor)
                             VALUES (1, ?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT (id) DO UPDATE SET
                                 require_two_factor = excluded.require_two_factor,
                                 grace_period_days = excluded.grace_period_days,
                                 enforced_since = excluded.enforced_since,
                                 source = excluded.source,
                         required_factor = excluded.required_factor",
                        )?
                        .execute(params)?;
                        Ok(())
                    })
                    .await
            })
            .await
    }
}
