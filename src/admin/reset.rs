//! The audited two-factor reset, for a person who lost their device: by an instance admin
//! (API or admin page) or by an operator (`deadbolt user reset-two-factor`).
//!
//! With `[recovery] reset_requires`, the reset of an account with an open request waits
//! for the marks it names (confirmed from the mailbox, vouched for by an owner) unless
//! forced; a forced reset records that it was, and what was missing. An account with no
//! open request is reset as before: the rule is about answering requests (SPEC §11, "an
//! account with an open request"). Marks are only ever added to an open request, and only
//! the reset closes one, so the check read before the reset's transaction still holds in it.

use serde_json::json;

use super::{Admin, Error};
use crate::domain::account::{note, Account, Caller};
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::reset_request::{ResetMode, ResetRequirement};
use crate::domain::time::UnixTime;
use crate::store::{ResetOutcome, Store};

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

/// What an admin or operator asks of a reset.
#[derive(Debug, Clone)]
pub struct ResetAsk<'a> {
    /// Who.
    pub actor: ResetActor<'a>,
    /// Why (recorded).
    pub reason: &'a str,
    /// Whether it waits for the marks the instance requires.
    pub mode: ResetMode,
    /// The client address and user agent, for the audit trail.
    pub origin: (Option<String>, Option<String>),
}

/// The audited reset, shared by the API and `deadbolt user reset-two-factor`: in one
/// transaction, deletes the secret, any pending enrolment and the recovery codes, ends every
/// session of the account, closes its reset requests, and records who did it and why (which
/// notifies the account). An open request missing a mark `requires` names refuses it with
/// [`Error::ResetNotConfirmed`], unless forced.
pub async fn reset_account_two_factor(
    store: &dyn Store,
    account: &Account,
    ask: ResetAsk<'_>,
    requires: ResetRequirement,
    now: UnixTime,
    channels: Channels,
) -> Result<ResetOutcome, Error> {
    let missing = match store.open_reset_request(&account.id).await? {
        Some(request) => requires.missing(
            request.email_confirmed_at.is_some(),
            !request.vouches.is_empty(),
        ),
        None => Vec::new(),
    };
    if !missing.is_empty() && ask.mode == ResetMode::AsConfigured {
        return Err(Error::ResetNotConfirmed { missing });
    }
    let ResetAsk {
        actor,
        reason,
        mode,
        origin: (ip, user_agent),
    } = ask;
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
        if mode == ResetMode::Force {
            details["forced"] = json!(true);
            let names: Vec<_> = missing.iter().map(|mark| mark.as_str()).collect();
            details["missing"] = json!(names);
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
    Ok(store
        .reset_two_factor(&account.id, now, &record, channels)
        .await?)
}

impl Admin {
    /// Resets the two-factor of the account `id` for the admin `caller`; the `reason`
    /// (1–1000 characters) is mandatory and recorded. With `[recovery] reset_requires`, an
    /// open request must carry its marks unless `mode` forces it. Answers the account and
    /// what the reset did.
    pub async fn reset_two_factor(
        &self,
        caller: Caller<'_>,
        client: &ClientInfo,
        id: &str,
        reason: Option<&str>,
        mode: ResetMode,
    ) -> Result<(Account, ResetOutcome), Error> {
        let reason = note(reason.unwrap_or_default()).ok_or(Error::ReasonRequired)?;
        let account = self
            .store
            .account_by_id(&AccountId(id.to_owned()))
            .await?
            .ok_or(Error::NotFound)?;
        let ask = ResetAsk {
            actor: ResetActor::Admin(&caller.account.id),
            reason,
            mode,
            origin: (client.ip.clone(), client.user_agent.clone()),
        };
        let outcome = reset_account_two_factor(
            self.store.as_ref(),
            &account,
            ask,
            self.reset_requires,
            caller.now,
            self.notifier.channels(),
        )
        .await?;
        self.notifier.wake();
        Ok((account, outcome))
    }
}
