//! The audited two-factor reset, for a person who lost their device: by an instance admin
//! (API or admin page) or by an operator (`deadbolt user reset-two-factor`).

use serde_json::json;

use super::{Admin, Error};
use crate::domain::account::{note, Account, Caller};
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;
use crate::store::{ResetOutcome, Store, StoreError};

/// Who asked for a reset.
#[derive(Debug, Clone, Copy)]
pub enum ResetActor<'a> {
    /// An instance admin, through the API or the admin page.
    Admin(&'a AccountId),
    /// An operator at the command line (the OS user, when known).
    Cli {
        /// `$SUDO_USER` or `$USER`.
        operator: Option<&'a str>,
    },
}

/// The audited reset, shared by the API and `deadbolt user reset-two-factor`: in one
/// transaction, deletes the secret, any pending enrolment and the recovery codes, ends every
/// session of the account, closes its reset requests, and records who did it and why (which
/// notifies the account).
pub async fn reset_account_two_factor(
    store: &dyn Store,
    account: &Account,
    actor: ResetActor<'_>,
    reason: &str,
    origin: (Option<String>, Option<String>),
    now: UnixTime,
    channels: Channels,
) -> Result<ResetOutcome, StoreError> {
    let (ip, user_agent) = origin;
    let record = |outcome: &ResetOutcome| {
        let (actor_id, by) = match actor {
            ResetActor::Admin(id) => (Some(id.clone()), json!("admin")),
            ResetActor::Cli { .. } => (None, json!("cli")),
        };
        let mut details = json!({
            "reason": reason,
            "by": by,
            "was_enabled": outcome.was_enabled,
            "sessions_revoked": outcome.sessions_revoked,
            "requests_closed": outcome.requests_closed,
        });
        if let ResetActor::Cli {
            operator: Some(operator),
        } = actor
        {
            details["operator"] = json!(operator);
        }
        NewEvent {
            account_id: Some(account.id.clone()),
            actor_id,
            workspace_id: None,
            kind: EventKind::TwoFactorReset,
            at: now,
            ip: ip.clone(),
            user_agent: user_agent.clone(),
            details,
        }
    };
    store
        .reset_two_factor(&account.id, now, &record, channels)
        .await
}

impl Admin {
    /// Resets the two-factor of the account `id` for the admin `caller`; the `reason`
    /// (1–1000 characters) is mandatory and recorded. Answers the account and what the
    /// reset did.
    pub async fn reset_two_factor(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        reason: Option<&str>,
    ) -> Result<(Account, ResetOutcome), Error> {
        let reason = note(reason.unwrap_or_default()).ok_or(Error::ReasonRequired)?;
        let account = self
            .store
            .account_by_id(&AccountId(id.to_owned()))
            .await?
            .ok_or(Error::NotFound)?;
        let origin = (client.ip.clone(), client.user_agent.clone());
        let outcome = reset_account_two_factor(
            self.store.as_ref(),
            &account,
            ResetActor::Admin(&caller.account.id),
            reason,
            origin,
            caller.now,
            self.notifier.channels(),
        )
        .await?;
        self.notifier.wake();
        Ok((account, outcome))
    }
}
