//! Deleting your own account (`DELETE /me`), after a proof of the same kinds that turning
//! two-factor off accepts. The last owner of a workspace with other members must hand it
//! over first. The deletion itself (what goes, what the audit trail keeps) is
//! `store/lifecycle.rs`.

use serde_json::json;

use super::{Accounts, Error};
use crate::domain::account::Account;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::time::UnixTime;
use crate::signin::proof::Proof;
use crate::store::Deletion;

impl Accounts {
    /// Deletes `account` after a `proof`; a wrong proof is refused and changes nothing.
    pub async fn delete_own_account(
        &self,
        account: &Account,
        proof: Proof,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        let record = self.store.two_factor(&account.id).await?;
        let unchanged = "Your account was not deleted.";
        self.signin
            .confirm(account, &record, proof, unchanged, client, now)
            .await?;
        let kind = EventKind::AccountDeleted;
        let event = NewEvent::by_owner(&account.id, kind, client, now, json!({"by": "owner"}));
        let channels = self.notifier.channels();
        match self
            .store
            .delete_account(&account.id, &event, channels)
            .await?
        {
            // Gone: deleted meanwhile (twice at once, say); either way it is gone.
            Deletion::Deleted { .. } | Deletion::Gone => {
                self.notifier.wake_for(std::slice::from_ref(&event));
                Ok(())
            }
            Deletion::LastOwner { .. } => Err(Error::LastOwner),
        }
    }
}
