//! A person's own sessions: the live ones, signing out, and revoking another device.
//! Signing in is [`crate::signin`].

use serde_json::json;

use super::{Accounts, Error};
use crate::domain::account::Session;
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::time::UnixTime;

/// A live session and when it ends if unused.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The session.
    pub session: Session,
    /// When it ends if unused.
    pub ends_at: UnixTime,
}

impl Accounts {
    /// The account's live sessions, newest first.
    pub async fn live_sessions(
        &self,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Vec<LiveSession>, Error> {
        let lifetimes = self.config.sessions;
        Ok(self
            .store
            .list_sessions(account)
            .await?
            .into_iter()
            .filter(|session| lifetimes.is_live(session, now))
            .map(|session| LiveSession {
                ends_at: lifetimes.ends_at(&session),
                session,
            })
            .collect())
    }

    /// Signs out: ends `session` (the one in use), whether or not it was still there.
    pub async fn end_session(&self, account: &AccountId, session: &SessionId) -> Result<(), Error> {
        self.store.delete_session(account, session).await?;
        Ok(())
    }

    /// Revokes one of the account's sessions, recording it; [`Error::NoSuchSession`] when
    /// it has none with this id.
    pub async fn revoke_session(
        &self,
        account: &AccountId,
        id: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        if !self
            .store
            .delete_session(account, &SessionId(id.to_owned()))
            .await?
        {
            return Err(Error::NoSuchSession);
        }
        let details = json!({"session_id": id});
        let kind = EventKind::SessionRevoked;
        self.record(account, kind, client, now, details).await
    }
}
