//! The token endpoint's code exchange as one change (SPEC §12): the code spent, what it was
//! granted for judged, and the access token, the refresh token (with `offline_access`) and
//! the `oidc_tokens_issued` event kept, all at once: one statement on PostgreSQL (shared by
//! the exchanges arriving on a node at about the same time, `postgres/exchange_codes.sql`),
//! one transaction on SQLite.
//!
//! Invariants:
//! - The code is spent first and whatever follows: a code presented with a wrong client,
//!   redirect URI or verifier is spent too, and cannot be tried again.
//! - Of any number of nodes exchanging one code, one spends it (one conditional update;
//!   rows affected decide). A code presented again is marked reused and what it issued is
//!   revoked ([`Exchange::Reused`]); on PostgreSQL that mark waits on the row lock the
//!   exchange holds until it commits, so no token it issued outlives the reuse.
//! - Tokens are issued only when [`Refusal::of`] finds nothing wrong: both backends decide
//!   by it (PostgreSQL's statement repeats its conditions, and the caller names the refusal
//!   with it from what the statement returns).

use async_trait::async_trait;

use super::{OidcGrant, StoreError};
use crate::domain::account::Account;
use crate::domain::ids::TokenHash;
use crate::domain::time::UnixTime;

/// The code exchange.
#[async_trait]
pub trait OidcExchanges: Send + Sync {
    /// Spends the code of `exchange` and, unless a [`Refusal`] applies, issues its tokens,
    /// in one change.
    async fn exchange_oidc_code(&self, exchange: &CodeExchange) -> Result<Exchange, StoreError>;
}

/// A token request for a code, as judged and kept.
#[derive(Debug, Clone)]
pub struct CodeExchange {
    /// The code's digest.
    pub code_hash: TokenHash,
    /// The authenticated client.
    pub client_id: String,
    /// The request's `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// The S256 challenge of the presented verifier (`domain::oidc::presented_challenge`).
    pub challenge: Option<String>,
    /// The access token's digest, and when it lapses.
    pub access_token: TokenHash,
    /// When the access token lapses.
    pub access_expires_at: UnixTime,
    /// The refresh token's digest, kept if the grant has `offline_access`.
    pub refresh_token: TokenHash,
    /// When the refresh token lapses.
    pub refresh_expires_at: UnixTime,
    /// The request's address, for the event.
    pub ip: Option<String>,
    /// The request's user agent, for the event.
    pub user_agent: Option<String>,
    /// Now.
    pub now: UnixTime,
}

/// The account a code was granted for, as the exchange found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Its address.
    pub email: String,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Its name.
    pub name: Option<String>,
    /// Whether it is suspended.
    pub suspended: bool,
}

impl From<&Account> for Subject {
    fn from(account: &Account) -> Self {
        Subject {
            email: account.email.as_str().to_owned(),
            email_verified: account.email_verified_at.is_some(),
            name: account.name.clone(),
            suspended: account.is_suspended(),
        }
    }
}

/// What an exchange did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// Spent now, and its tokens issued (a refresh token too when `refresh`).
    Issued {
        /// What the code was granted for.
        grant: Box<OidcGrant>,
        /// Its account.
        subject: Subject,
        /// Whether a refresh token was kept.
        refresh: bool,
    },
    /// Spent now, and nothing issued.
    Refused(Refusal),
    /// Spent before: what it issued was revoked (how many tokens).
    Reused {
        /// Tokens revoked.
        revoked: u64,
    },
    /// No such code, or lapsed.
    Unknown,
}

/// Why a spent code issues nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It was issued to another client.
    OtherClient,
    /// The `redirect_uri` differs from the authorization request's.
    RedirectUri,
    /// The PKCE verifier does not match (or was missing, or was not asked for).
    Verifier,
    /// The account is gone.
    AccountGone,
    /// The account is suspended.
    Suspended,
    /// The session it was granted under has ended.
    SessionEnded,
}

impl Refusal {
    /// Why `grant`, whose account is `subject` and whose session is `session_live`, issues
    /// nothing to `exchange`; `None` when it issues. (The challenge is compared in the clear:
    /// it was public in the authorization request, and the verifier's digest says nothing of
    /// the verifier.)
    pub fn of(
        grant: &OidcGrant,
        exchange: &CodeExchange,
        subject: Option<&Subject>,
        session_live: bool,
    ) -> Option<Refusal> {
        if grant.client_id != exchange.client_id {
            Some(Refusal::OtherClient)
        } else if exchange.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            Some(Refusal::RedirectUri)
        } else if grant.code_challenge != exchange.challenge {
            Some(Refusal::Verifier)
        } else {
            match subject {
                None => Some(Refusal::AccountGone),
                Some(subject) if subject.suspended => Some(Refusal::Suspended),
                Some(_) if !session_live => Some(Refusal::SessionEnded),
                Some(_) => None,
            }
        }
    }
}

/// Whether a grant's scopes hold `offline_access` (it is then issued a refresh token).
pub(super) fn offline(scope: &str) -> bool {
    scope.split(' ').any(|scope| scope == "offline_access")
}
