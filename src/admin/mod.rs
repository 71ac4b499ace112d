//! Instance administration, shared by the JSON API, the admin page and the CLI: the
//! instance-wide requirement ([`policy`]), the audited two-factor reset ([`reset`]),
//! suspending and deleting accounts ([`lifecycle`]), account search, the audit trail and notification deliveries ([`deliveries`]). No HTTP
//! and no SQL here. Who may call these (instance admins) is checked by the adapters.

pub mod deliveries;
pub mod lifecycle;
pub mod policy;
pub mod reset;

use std::sync::Arc;

pub use policy::sync_instance_policy;
pub use reset::{reset_account_two_factor, ResetActor, ResetAsk};

use crate::domain::event::{Event, EventFilter};
use crate::domain::paging::next_key;
use crate::domain::reset_request::{Mark, ResetRequirement};
use crate::domain::workspace::RequiredFactor;
use crate::notify::Notifier;
use crate::store::{AccountSummary, ResetRequest, Store, StoreError};

/// Why an admin operation refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not `off`, `everyone` or `admins`.
    #[error("invalid scope")]
    InvalidScope,
    /// A grace period other than 0, 3, 7, 14 or 30 days.
    #[error("invalid grace period")]
    InvalidGracePeriod,
    /// Not `any` or `phishing_resistant`.
    #[error("invalid required factor")]
    InvalidRequiredFactor,
    /// Turning the requirement on needs the factor it asks for on the admin's own account
    /// first.
    #[error("enable two-factor first")]
    EnableTwoFactorFirst(RequiredFactor),
    /// A reset, suspension or deletion needs a reason.
    #[error("reason required")]
    ReasonRequired,
    /// An admin cannot suspend or delete their own account here.
    #[error("own account")]
    OwnAccount,
    /// The account is suspended already.
    #[error("already suspended")]
    AlreadySuspended,
    /// The account is not suspended.
    #[error("not suspended")]
    NotSuspended,
    /// The account is the last owner of a workspace with other members.
    #[error("last owner")]
    LastOwner,
    /// The account's open reset request lacks marks `[recovery] reset_requires` asks for,
    /// and the reset was not forced.
    #[error(
        "the open reset request lacks {}; force the reset to go ahead anyway",
        names(missing)
    )]
    ResetNotConfirmed {
        /// What it lacks.
        missing: Vec<Mark>,
    },
    /// No such account or delivery.
    #[error("not found")]
    NotFound,
    /// Not `pending`, `retrying`, `delivered` or `abandoned`.
    #[error("invalid delivery status")]
    InvalidStatus,
    /// Only an abandoned delivery can be retried.
    #[error("not abandoned")]
    NotAbandoned,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the marks are, in words: "a confirmation from the mailbox and an owner's vouch".
pub fn names(marks: &[Mark]) -> String {
    let words: Vec<&str> = marks
        .iter()
        .map(|mark| match mark {
            Mark::Email => "a confirmation from the account's mailbox",
            Mark::Owner => "a workspace owner's vouch",
        })
        .collect();
    words.join(" and ")
}

/// The admin operations over these parts; cheap to clone.
#[derive(Clone)]
pub struct Admin {
    store: Arc<dyn Store>,
    notifier: Notifier,
    reset_requires: ResetRequirement,
}

/// A page of accounts.
#[derive(Debug, Clone)]
pub struct AccountPage {
    /// By e-mail.
    pub accounts: Vec<AccountSummary>,
    /// The e-mail to continue after, when more follow.
    pub next_after: Option<String>,
}

impl Admin {
    /// The operations over these parts; `reset_requires` is `[recovery] reset_requires`.
    pub fn new(
        store: Arc<dyn Store>,
        notifier: Notifier,
        reset_requires: ResetRequirement,
    ) -> Admin {
        Admin {
            store,
            notifier,
            reset_requires,
        }
    }

    /// What the reset of an account with an open request waits for.
    pub fn reset_requires(&self) -> ResetRequirement {
        self.reset_requires
    }

    /// Open lost-device reset requests, oldest first, each with its marks.
    pub async fn reset_requests(&self) -> Result<Vec<ResetRequest>, Error> {
        Ok(self.store.open_reset_requests().await?)
    }

    /// Up to `limit` accounts whose e-mail contains `search` (all when blank), by e-mail,
    /// after the e-mail `after`.
    pub async fn search_accounts(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AccountPage, Error> {
        let search = search.map(str::trim).filter(|q| !q.is_empty());
        let mut found = self.store.search_accounts(search, after, limit + 1).await?;
        let next_after = next_key(&mut found, limit, |s| s.account.email.as_str().to_owned());
        Ok(AccountPage {
            accounts: found,
            next_after,
        })
    }

    /// The audit trail, newest first, filtered: at most `limit + 1` events, the one past
    /// `limit` telling that more follow.
    pub async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, Error> {
        Ok(self.store.events(filter, limit + 1).await?)
    }
}
