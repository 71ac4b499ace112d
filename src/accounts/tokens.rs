//! A person's API tokens (SPEC §14): creating one behind a proof, listing and revoking them,
//! and recording a token's use. Which routes a token may call is the extractor's rule
//! (`http/extract.rs`), not this module's.

use serde_json::json;

use super::{Accounts, Error};
use crate::domain::account::Account;
use crate::domain::api_token::{check_request, ApiToken, ApiTokenId, ApiTokenSecret};
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::time::UnixTime;
use crate::signin::proof::Proof;
use crate::store::NewApiToken;

/// A token just created, with its secret: shown to its owner once.
#[derive(Debug)]
pub struct CreatedToken {
    /// The token as listed.
    pub token: ApiToken,
    /// The secret, never shown again.
    pub secret: ApiTokenSecret,
}

impl Accounts {
    /// Creates an API token named `name` for `account`, living `expires_in_days`, after a
    /// proof. The owner is told; the event says which token, never its secret.
    pub async fn create_token(
        &self,
        account: &Account,
        name: &str,
        expires_in_days: u32,
        proof: Proof,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<CreatedToken, Error> {
        let (name, expires_at) = check_request(name, expires_in_days, now)?;
        let record = self.store.two_factor(&account.id).await?;
        let unchanged = "No token was created.";
        self.signin
            .confirm(account, &record, proof, unchanged, client, now)
            .await?;
        let secret = ApiTokenSecret::generate();
        let token = ApiToken {
            id: ApiTokenId::generate(),
            account_id: account.id.clone(),
            name,
            created_at: now,
            expires_at,
            last_used_at: None,
        };
        let details = json!({
            "token_id": token.id.as_str(),
            "name": token.name,
            "expires_at": expires_at.to_rfc3339(),
        });
        let events = [NewEvent::by_owner(
            &account.id,
            EventKind::ApiTokenCreated,
            client,
            now,
            details,
        )];
        let new = NewApiToken {
            hash: secret.hash(&self.recovery_key),
            token: token.clone(),
        };
        self.store
            .create_api_token(&new, self.notifier.journal(&events))
            .await?;
        self.notifier.wake_for(&events);
        Ok(CreatedToken { token, secret })
    }

    /// The account's tokens, newest first, expired ones included.
    pub async fn tokens(&self, account: &AccountId) -> Result<Vec<ApiToken>, Error> {
        Ok(self.store.list_api_tokens(account).await?)
    }

    /// Revokes one of the account's tokens; [`Error::NoSuchToken`] when it has none with
    /// this id. Once this answers, no node honours the token.
    pub async fn revoke_token(
        &self,
        account: &AccountId,
        id: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let details = json!({"token_id": id});
        let event = NewEvent::by_owner(account, EventKind::ApiTokenRevoked, client, now, details);
        let id = ApiTokenId(id.to_owned());
        if !self.store.revoke_api_token(account, &id, &event).await? {
            return Err(Error::NoSuchToken);
        }
        Ok(())
    }

    /// Records that `token` was used at `now` (at most once a minute; its first use is an
    /// event, recorded once however many nodes see it first).
    pub async fn token_used(
        &self,
        token: &ApiToken,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        if !token.needs_touch(now) {
            return Ok(());
        }
        let details = json!({"token_id": token.id.as_str(), "name": token.name});
        let kind = EventKind::ApiTokenFirstUsed;
        let first_use = NewEvent::by_owner(&token.account_id, kind, client, now, details);
        self.store
            .touch_api_token(&token.id, now, &first_use)
            .await?;
        Ok(())
    }
}
