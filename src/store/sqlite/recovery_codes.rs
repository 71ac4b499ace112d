//! Recovery codes on SQLite, stored only as keyed digests: each is used by one
//! conditional delete whose rows affected decide, and a new set replaces the old at once.

use super::{journal, SqliteStore};
use crate::domain::ids::AccountId;
use crate::store::{Journal, StoreError};

pub(super) async fn recovery_codes_remaining(
    store: &SqliteStore,
    account: &AccountId,
) -> Result<u32, StoreError> {
    let count: i64 = store.db.read(|conn| {
        conn.prepare_cached("SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?1")?
            .query_row([account.as_str()], |row| row.get(0))
    })?;
    Ok(u32::try_from(count).unwrap_or(0))
}

pub(super) async fn consume_recovery_code(
    store: &SqliteStore,
    account: &AccountId,
    code_hash: &[u8],
) -> Result<bool, StoreError> {
    let params = (account.as_str().to_owned(), code_hash.to_vec());
    let deleted = store
        .db
        .write(move |tx| {
            Ok(tx
                .prepare_cached(
                    "DELETE FROM recovery_codes WHERE account_id = ?1 AND code_hash = ?2",
                )?
                .execute(params)?)
        })
        .await?;
    Ok(deleted == 1)
}

pub(super) async fn replace_recovery_codes(
    store: &SqliteStore,
    account: &AccountId,
    code_hashes: &[Vec<u8>],
    journal: Journal<'_>,
) -> Result<(), StoreError> {
    let (account, hashes) = (account.as_str().to_owned(), code_hashes.to_vec());
    let (events, channels) = (journal.events.to_vec(), journal.channels);
    store
        .db
        .write(move |tx| {
            tx.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")?
                .execute([&account])?;
            for hash in &hashes {
                tx.prepare_cached(
                    "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)",
                )?
                .execute((&account, hash))?;
            }
            journal::append_all(tx, Journal::new(&events, channels))?;
            Ok(())
        })
        .await
}

pub(super) async fn add_recovery_code(
    store: &SqliteStore,
    account: &AccountId,
    code_hash: &[u8],
) -> Result<(), StoreError> {
    let params = (account.as_str().to_owned(), code_hash.to_vec());
    store
        .db
        .write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)",
            )?
            .execute(params)?;
            Ok(())
        })
        .await
}
