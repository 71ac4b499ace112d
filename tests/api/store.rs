//! Store conformance: the same checks, written once against `&dyn Store`, on SQLite and on
//! PostgreSQL.

use std::sync::Arc;

use crate::helpers::*;
use deadbolt::domain::account::Session;
use deadbolt::domain::email::Email;
use deadbolt::domain::email_token::{EmailCode, LinkToken, Purpose};
use deadbolt::domain::event::{ClientInfo, EventFilter};
use deadbolt::domain::ids::{AccountId, SessionId, Token};
use deadbolt::domain::notification::Channels;
use deadbolt::domain::sealed::{KeyId, Sealed};
use deadbolt::domain::throttle::Counter;
use deadbolt::domain::time::UnixTime;
use deadbolt::store::{
    self, Constraint, FirstAdmin, LinkEffect, NewAccount, NewEmailToken, NewSession, PoolSettings,
    SpentEmailToken, Store, StoreError, TokenOwner,
};
use futures::future::join_all;

pub(crate) async fn open(backend: Backend) -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, &dir).await;
    let store = store::connect(&url, PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    // Migrating twice is harmless.
    store.migrate().await.unwrap();
    (store, dir)
}

pub(crate) fn account(email: &str, is_admin: bool) -> NewAccount {
    NewAccount {
        id: AccountId::generate(),
        email: Email::parse(email).unwrap(),
        name: Some("Ada".into()),
        password_hash: Some("$argon2id$stand-in".into()),
        is_admin,
        created_at: START,
    }
}

async fn accounts_round_trip_and_emails_are_unique(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let ada = account("ada@example.com", true);
    store.create_account(&ada).await.unwrap();
    let by_id = store.account_by_id(&ada.id).await.unwrap().unwrap();
    assert_eq!(by_id.email, ada.email);
    assert_eq!(by_id.name.as_deref(), Some("Ada"));
    assert!(by_id.is_admin);
    assert_eq!(by_id.created_at, START);
    let by_email = store.account_by_email(&ada.email).await.unwrap().unwrap();
    assert_eq!(by_email.id, ada.id);
    match store
        .create_account(&account("ada@example.com", false))
        .await
    {
        Err(StoreError::Conflict(Constraint::AccountEmail)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.count_accounts().await.unwrap(), 1);
    assert!(store
        .account_by_id(&AccountId::generate())
        .await
        .unwrap()
        .is_none());
}

async fn sessions_join_their_account_and_delete_only_for_their_owner(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let ada = account("ada@example.com", false);
    let bob = account("bob@example.com", false);
    store.create_account(&ada).await.unwrap();
    store.create_account(&bob).await.unwrap();
    let token = Token::generate();
    let session = Session {
        id: SessionId::generate(),
        account_id: ada.id.clone(),
        created_at: START,
        last_seen_at: START,
        expires_at: START.plus_seconds(100),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("test".into()),
    };
    store
        .create_session(
            &NewSession {
                session: session.clone(),
                token_hash: token.hash(),
                amr: "pwd".to_owned(),
            },
            no_events(),
        )
        .await
        .unwrap();
    let found = store
        .session_by_token(&token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.session, session);
    assert_eq!(found.account.id, ada.id);
    assert!(!found.factors.any());

    store
        .touch_session(&session.id, START.plus_seconds(70))
        .await
        .unwrap();
    // Touching never moves last_seen backwards.
    store
        .touch_session(&session.id, START.plus_seconds(10))
        .await
        .unwrap();
    let listed = store.list_sessions(&ada.id).await.unwrap();
    assert_eq!(listed[0].last_seen_at, START.plus_seconds(70));

    assert!(!store.delete_session(&bob.id, &session.id).await.unwrap());
    assert!(store.delete_session(&ada.id, &session.id).await.unwrap());
    assert!(store
        .session_by_token(&token.hash())
        .await
        .unwrap()
        .is_none());
}

async fn counters_swap_only_from_the_expected_value(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let first = Counter {
        failures: 1,
        window_start: START,
        locked_until: UnixTime(0),
    };
    assert!(store.swap_counter("k", None, &first).await.unwrap());
    // A second insert from "nothing" loses: the counter exists now.
    assert!(!store.swap_counter("k", None, &first).await.unwrap());
    let second = Counter {
        failures: 2,
        ..first
    };
    assert!(store
        .swap_counter("k", Some(&first), &second)
        .await
        .unwrap());
    // A stale expectation loses.
    assert!(!store
        .swap_counter("k", Some(&first), &second)
        .await
        .unwrap());
    assert_eq!(store.throttle_counter("k").await.unwrap(), Some(second));
    store.refund_failure("k").await.unwrap();
    assert_eq!(
        store.throttle_counter("k").await.unwrap().unwrap().failures,
        1
    );
    store.clear_failures("k").await.unwrap();
    assert_eq!(store.throttle_counter("k").await.unwrap(), None);
}

async fn a_password_attempt_reads_both_counters_and_the_account_as_separate_reads_would(
    backend: Backend,
) {
    let (store, _dir) = open(backend).await;
    let ada = account("ada@example.com", false);
    store.create_account(&ada).await.unwrap();
    let counter = |failures| Counter {
        failures,
        window_start: START,
        locked_until: UnixTime(0),
    };
    let email = Email::parse("ada@example.com").unwrap();
    let unknown = Email::parse("nobody@example.com").unwrap();
    // Nothing counted yet, then each counter alone, then both.
    let read = store
        .password_attempt("ip:1", "pw:ada", Some(&email))
        .await
        .unwrap();
    assert_eq!((read.address, read.account_counter), (None, None));
    assert_eq!(read.account.map(|a| a.id), Some(ada.id.clone()));
    assert!(store.swap_counter("ip:1", None, &counter(3)).await.unwrap());
    let read = store
        .password_attempt("ip:1", "pw:ada", Some(&unknown))
        .await
        .unwrap();
    assert_eq!(
        (read.address, read.account_counter),
        (Some(counter(3)), None)
    );
    assert_eq!(read.account, None);
    assert!(store
        .swap_counter("pw:ada", None, &counter(7))
        .await
        .unwrap());
    let read = store
        .password_attempt("ip:2", "pw:ada", None)
        .await
        .unwrap();
    assert_eq!(
        (read.address, read.account_counter),
        (None, Some(counter(7)))
    );
    assert_eq!(read.account, None);
    let read = store
        .password_attempt("ip:1", "pw:ada", Some(&email))
        .await
        .unwrap();
    assert_eq!(read.address, store.throttle_counter("ip:1").await.unwrap());
    assert_eq!(
        read.account_counter,
        store.throttle_counter("pw:ada").await.unwrap()
    );
    assert_eq!(read.account, store.account_by_email(&email).await.unwrap());
}

async fn concurrent_swaps_from_one_value_have_exactly_one_winner(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let base = Counter {
        failures: 5,
        window_start: START,
        locked_until: UnixTime(0),
    };
    store.swap_counter("hot", None, &base).await.unwrap();
    let next = Counter {
        failures: 6,
        ..base
    };
    let swaps = (0..16).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.swap_counter("hot", Some(&base), &next).await.unwrap() })
    });
    let winners = join_all(swaps)
        .await
        .into_iter()
        .filter(|won| *won.as_ref().unwrap())
        .count();
    assert_eq!(winners, 1);
}

async fn a_setup_link_makes_exactly_one_admin(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let token = Token::generate();
    let other = Token::generate();
    store
        .create_setup_token(&token.hash(), START.plus_seconds(3_600))
        .await
        .unwrap();
    store
        .create_setup_token(&other.hash(), START.plus_seconds(3_600))
        .await
        .unwrap();
    assert!(store
        .setup_token_is_live(&token.hash(), START)
        .await
        .unwrap());
    assert!(!store
        .setup_token_is_live(&token.hash(), START.plus_seconds(3_600))
        .await
        .unwrap());
    // Expired: refused.
    let late = store
        .create_first_admin(
            &token.hash(),
            &account("ada@example.com", true),
            START.plus_seconds(3_600),
        )
        .await
        .unwrap();
    assert_eq!(late, FirstAdmin::InvalidToken);
    let created = store
        .create_first_admin(&token.hash(), &account("ada@example.com", true), START)
        .await
        .unwrap();
    assert_eq!(created, FirstAdmin::Created);
    // The same link, and every other link, is dead now.
    let again = store
        .create_first_admin(&token.hash(), &account("eve@example.com", true), START)
        .await
        .unwrap();
    assert_eq!(again, FirstAdmin::InvalidToken);
    assert!(!store
        .setup_token_is_live(&other.hash(), START)
        .await
        .unwrap());
    let accounts = store.list_accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert!(accounts[0].is_admin);
}

async fn concurrent_setup_links_make_one_admin(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let tokens: Vec<Token> = (0..6).map(|_| Token::generate()).collect();
    for token in &tokens {
        store
            .create_setup_token(&token.hash(), START.plus_seconds(3_600))
            .await
            .unwrap();
    }
    let redemptions = tokens.iter().enumerate().map(|(i, token)| {
        let store = Arc::clone(&store);
        let hash = token.hash();
        tokio::spawn(async move {
            store
                .create_first_admin(
                    &hash,
                    &account(&format!("admin{i}@example.com"), true),
                    START,
                )
                .await
                .unwrap()
        })
    });
    let outcomes: Vec<FirstAdmin> = join_all(redemptions)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == FirstAdmin::Created)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(store.count_accounts().await.unwrap(), 1);
}

pub(crate) fn email_token(
    account: &AccountId,
    purpose: Purpose,
    link: &LinkToken,
    code: Option<&EmailCode>,
) -> NewEmailToken {
    let email = Email::parse("ada@example.com").unwrap();
    NewEmailToken {
        owner: TokenOwner::Account(account.clone()),
        purpose,
        code_hash: code.map(|code| code.hash(&KEY, purpose, &email)),
        email,
        link_hash: link.hash(&KEY, purpose),
        created_at: START,
        expires_at: purpose.expires_at(START),
        message: Sealed {
            key_id: KeyId("k".to_owned()),
            blob: vec![1, 2, 3],
        },
        client: ClientInfo::default(),
    }
}

/// Spends `link` of `purpose` at `at`, doing nothing besides but the sign-in's check that
/// the address is still the account's.
async fn spend_link(
    store: &dyn Store,
    link: &LinkToken,
    purpose: Purpose,
    effect: &LinkEffect,
    at: UnixTime,
) -> Option<SpentEmailToken> {
    let hash = link.hash(&KEY, purpose);
    let client = ClientInfo::default();
    store
        .spend_email_link(purpose, &hash, effect, &client, Channels::default(), at)
        .await
        .unwrap()
}

const KEY: [u8; 32] = [9; 32];

async fn an_email_link_is_spent_once_and_a_newer_one_voids_the_older(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let ada = account("ada@example.com", false);
    store.create_account(&ada).await.unwrap();
    let purpose = Purpose::PasswordReset;
    let (older, newer) = (LinkToken::generate(), LinkToken::generate());
    store
        .issue_email_token(&email_token(&ada.id, purpose, &older, None))
        .await
        .unwrap();
    store
        .issue_email_token(&email_token(&ada.id, purpose, &newer, None))
        .await
        .unwrap();
    let spend = |link: &LinkToken, purpose: Purpose, at: UnixTime| {
        let (store, link) = (Arc::clone(&store), link.clone());
        async move { spend_link(store.as_ref(), &link, purpose, &LinkEffect::SignIn, at).await }
    };
    assert_eq!(
        spend(&older, purpose, START).await,
        None,
        "voided by the newer one"
    );
    // A token is worth nothing for another purpose.
    assert_eq!(spend(&newer, Purpose::SignIn, START).await, None);
    let spent = spend(&newer, purpose, START).await.unwrap();
    assert_eq!(spent.account, ada.id);
    assert_eq!(spent.email.as_str(), "ada@example.com");
    assert_eq!(spend(&newer, purpose, START).await, None, "spent once");
    // A token lives until its expiry, not at it.
    let late = LinkToken::generate();
    store
        .issue_email_token(&email_token(&ada.id, purpose, &late, None))
        .await
        .unwrap();
    let expiry = purpose.expires_at(START);
    assert_eq!(spend(&late, purpose, expiry).await, None);
    assert!(spend(&late, purpose, UnixTime(expiry.0 - 1))
        .await
        .is_some());
    // Lapsed tokens are purged; live ones stay.
    let (lapsing, living) = (LinkToken::generate(), LinkToken::generate());
    let proof = email_token(&ada.id, Purpose::Proof, &lapsing, None);
    store.issue_email_token(&proof).await.unwrap();
    let verify = email_token(&ada.id, Purpose::Verify, &living, None);
    store.issue_email_token(&verify).await.unwrap();
    let purged = store.purge_expired_email_tokens(proof.expires_at).await;
    assert_eq!(purged.unwrap(), 1);
    assert_eq!(spend(&lapsing, Purpose::Proof, START).await, None);
    assert!(spend(&living, Purpose::Verify, START).await.is_some());
}

async fn an_email_code_is_spent_once_by_its_address(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let ada = account("ada@example.com", false);
    store.create_account(&ada).await.unwrap();
    let purpose = Purpose::SignIn;
    let email = Email::parse("ada@example.com").unwrap();
    let elsewhere = Email::parse("bob@example.com").unwrap();
    let answer = |code: &EmailCode, to: &Email, purpose: Purpose| {
        let (store, hash, to) = (Arc::clone(&store), code.hash(&KEY, purpose, to), to.clone());
        async move {
            store
                .spend_email_code(purpose, &to, &hash, START)
                .await
                .unwrap()
        }
    };
    let (older, code, wrong) = (
        EmailCode::generate(),
        EmailCode::generate(),
        EmailCode::generate(),
    );
    for issued in [&older, &code] {
        store
            .issue_email_token(&email_token(
                &ada.id,
                purpose,
                &LinkToken::generate(),
                Some(issued),
            ))
            .await
            .unwrap();
    }
    assert_eq!(
        answer(&older, &email, purpose).await,
        None,
        "voided by the newer"
    );
    assert_eq!(answer(&wrong, &email, purpose).await, None);
    assert_eq!(
        answer(&code, &elsewhere, purpose).await,
        None,
        "another address"
    );
    assert_eq!(
        answer(&code, &email, Purpose::Proof).await,
        None,
        "another purpose"
    );
    let spent = answer(&code, &email, purpose).await.unwrap();
    assert_eq!(
        (spent.account, spent.email),
        (ada.id.clone(), email.clone())
    );
    assert_eq!(answer(&code, &email, purpose).await, None, "spent once");
    // A message without a code takes none.
    store
        .issue_email_token(&email_token(&ada.id, purpose, &LinkToken::generate(), None))
        .await
        .unwrap();
    assert_eq!(answer(&wrong, &email, purpose).await, None);
}

/// Racers on two connections (two nodes on PostgreSQL) spend one link and one code.
async fn racers_spend_an_email_token_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, &dir).await;
    let first = store::connect(&url, PoolSettings::default()).await.unwrap();
    first.migrate().await.unwrap();
    let second = store::connect(&url, PoolSettings::default()).await.unwrap();
    let nodes = [first, second];
    let ada = account("ada@example.com", false);
    nodes[0].create_account(&ada).await.unwrap();
    let email = Email::parse("ada@example.com").unwrap();
    for purpose in [Purpose::Verify, Purpose::SignIn] {
        let (link, code) = (LinkToken::generate(), EmailCode::generate());
        let token = email_token(&ada.id, purpose, &link, Some(&code));
        nodes[0].issue_email_token(&token).await.unwrap();
        let racers = (0..16).map(|n| {
            let store = Arc::clone(&nodes[n % 2]);
            let (link_hash, code_hash, to) = (
                link.hash(&KEY, purpose),
                code.hash(&KEY, purpose, &email),
                email.clone(),
            );
            tokio::spawn(async move {
                if n % 4 < 2 {
                    let client = ClientInfo::default();
                    let effect = LinkEffect::SignIn;
                    store
                        .spend_email_link(
                            purpose,
                            &link_hash,
                            &effect,
                            &client,
                            Channels::default(),
                            START,
                        )
                        .await
                        .unwrap()
                        .is_some()
                } else {
                    store
                        .spend_email_code(purpose, &to, &code_hash, START)
                        .await
                        .unwrap()
                        .is_some()
                }
            })
        });
        let won = join_all(racers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .filter(|won| *won)
            .count();
        assert_eq!(won, 1, "{purpose:?}: one token, one winner across nodes");
    }
}

/// By address, a token goes only to an account that may receive it, and nothing is written
/// otherwise; spending a link does its effect in the same transaction.
async fn a_token_by_address_reaches_only_an_eligible_account(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let ada = account("ada@example.com", false);
    store.create_account(&ada).await.unwrap();
    let by_address = |purpose: Purpose, to: &str| {
        let mut token = email_token(&ada.id, purpose, &LinkToken::generate(), None);
        token.owner = TokenOwner::ByAddress;
        token.email = Email::parse(to).unwrap();
        token
    };
    // Ada has a password: she resets it, and is never sent a sign-in link.
    let sign_in = by_address(Purpose::SignIn, "ada@example.com");
    assert_eq!(store.issue_email_token(&sign_in).await.unwrap(), None);
    let nobody = by_address(Purpose::PasswordReset, "nobody@example.com");
    assert_eq!(store.issue_email_token(&nobody).await.unwrap(), None);
    // Only the requests are recorded: Ada sees that someone asked; the unknown address is
    // for admins.
    let events = store.account_events(&ada.id, None, 10).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["email_withheld"]);
    let filter = EventFilter::default();
    let all = store.events(&filter, 10).await.unwrap();
    assert!(all
        .iter()
        .any(|e| e.kind == "email_withheld" && e.details["to"] == "nobody@example.com"));
    assert!(store.deliveries(None, None, 10).await.unwrap().is_empty());
    let reset = by_address(Purpose::PasswordReset, "ada@example.com");
    assert_eq!(
        store.issue_email_token(&reset).await.unwrap(),
        Some(ada.id.clone())
    );
    let events = store.account_events(&ada.id, None, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, "email_sent");
    assert_eq!(events[0].details["purpose"], "password_reset");
    let deliveries = store.deliveries(None, None, 10).await.unwrap();
    assert_eq!(deliveries.len(), 1, "the message waits in the outbox");
    assert_eq!(
        deliveries[0].recipient_email.as_deref(),
        Some("ada@example.com")
    );
    // A passwordless account is sent a sign-in link by address.
    let mut bea = account("bea@example.com", false);
    bea.password_hash = None;
    store.create_account(&bea).await.unwrap();
    let found = store.account_by_id(&bea.id).await.unwrap().unwrap();
    assert!(!found.has_password() && found.email_verified_at.is_none());
    let mut link = by_address(Purpose::SignIn, "bea@example.com");
    let bea_link = LinkToken::generate();
    link.link_hash = bea_link.hash(&KEY, Purpose::SignIn);
    assert_eq!(
        store.issue_email_token(&link).await.unwrap(),
        Some(bea.id.clone())
    );
    // Spending it proves, and so verifies, the address.
    let spent = spend_link(
        store.as_ref(),
        &bea_link,
        Purpose::SignIn,
        &LinkEffect::SignIn,
        START,
    )
    .await
    .unwrap();
    assert_eq!(spent.account, bea.id);
    let found = store.account_by_id(&bea.id).await.unwrap().unwrap();
    assert_eq!(found.email_verified_at, Some(START));
}

/// A reset link sets the password and ends every session in the spend's transaction; a
/// link sent to an address the account has since left proves nothing.
async fn a_reset_link_sets_the_password_and_ends_every_session(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let ada = account("ada@example.com", false);
    store.create_account(&ada).await.unwrap();
    let session = NewSession {
        session: Session {
            id: SessionId::generate(),
            account_id: ada.id.clone(),
            created_at: START,
            last_seen_at: START,
            expires_at: UnixTime(START.0 + 3600),
            ip: None,
            user_agent: None,
        },
        token_hash: Token::generate().hash(),
        amr: "pwd".to_owned(),
    };
    store.create_session(&session, no_events()).await.unwrap();
    let link = LinkToken::generate();
    let purpose = Purpose::PasswordReset;
    store
        .issue_email_token(&email_token(&ada.id, purpose, &link, None))
        .await
        .unwrap();
    let effect = LinkEffect::ResetPassword {
        password_hash: "$argon2id$new".to_owned(),
    };
    let spent = spend_link(store.as_ref(), &link, purpose, &effect, START).await;
    assert_eq!(spent.unwrap().account, ada.id);
    let found = store.account_by_id(&ada.id).await.unwrap().unwrap();
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(found.email_verified_at, Some(START));
    assert!(store.list_sessions(&ada.id).await.unwrap().is_empty());
    let events = store.account_events(&ada.id, None, 10).await.unwrap();
    assert_eq!(events[0].kind, "password_reset");
    // Sent to an address that is no longer the account's: spent, proving nothing.
    let stale = LinkToken::generate();
    let mut token = email_token(&ada.id, Purpose::Verify, &stale, None);
    token.email = Email::parse("old@example.com").unwrap();
    store.issue_email_token(&token).await.unwrap();
    let verify = LinkEffect::Verify;
    assert_eq!(
        spend_link(store.as_ref(), &stale, Purpose::Verify, &verify, START).await,
        None
    );
}

backend_tests!(
    accounts_round_trip_and_emails_are_unique,
    a_token_by_address_reaches_only_an_eligible_account,
    a_reset_link_sets_the_password_and_ends_every_session,
    sessions_join_their_account_and_delete_only_for_their_owner,
    counters_swap_only_from_the_expected_value,
    a_password_attempt_reads_both_counters_and_the_account_as_separate_reads_would,
    concurrent_swaps_from_one_value_have_exactly_one_winner,
    a_setup_link_makes_exactly_one_admin,
    concurrent_setup_links_make_one_admin,
    an_email_link_is_spent_once_and_a_newer_one_voids_the_older,
    an_email_code_is_spent_once_by_its_address,
    racers_spend_an_email_token_once,
);
