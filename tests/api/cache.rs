//! The node memory of session lookups (`src/store/cache.rs`): what a node remembers never
//! outlives a change committed elsewhere, on SQLite (another process writing the file) and
//! on PostgreSQL (another node, with leases and acknowledged probes).

use std::sync::Arc;

use crate::helpers::*;
use deadbolt::domain::account::Session;
use deadbolt::domain::email::Email;
use deadbolt::domain::ids::{AccountId, SessionId, Token};
use deadbolt::store::cache::one_request;
use deadbolt::store::{self, NewAccount, NewSession, PoolSettings, Store};
use sqlx::Connection;

async fn connect(url: &str) -> Arc<dyn Store> {
    store::connect(url, PoolSettings::default()).await.unwrap()
}

async fn account(store: &dyn Store, email: &str) -> AccountId {
    let id = AccountId::generate();
    store
        .create_account(&NewAccount {
            id: id.clone(),
            email: Email::parse(email).unwrap(),
            name: None,
            password_hash: Some("$argon2id$stand-in".into()),
            is_admin: false,
            created_at: START,
        })
        .await
        .unwrap();
    id
}

async fn session(store: &dyn Store, account: &AccountId) -> (Token, SessionId) {
    let token = Token::generate();
    let id = SessionId::generate();
    store
        .create_session(
            &NewSession {
                session: Session {
                    id: id.clone(),
                    account_id: account.clone(),
                    created_at: START,
                    last_seen_at: START,
                    expires_at: START.plus_seconds(3600),
                    ip: None,
                    user_agent: None,
                },
                token_hash: token.hash(),
                amr: "pwd".to_owned(),
            },
            no_events(),
        )
        .await
        .unwrap();
    (token, id)
}

async fn raw_execute(url: &str, sql: &str) {
    if let Some(file) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(file).unwrap();
        conn.execute_batch(sql).unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

/// A SQLite file in `dir` with a node that remembers (joined) and the CLI (its own
/// connections to the same file, never joined), and an account made by the CLI.
async fn sqlite_node_and_cli(
    dir: &tempfile::TempDir,
) -> (String, Arc<dyn Store>, Arc<dyn Store>, AccountId) {
    let url = fresh_database(Backend::Sqlite, dir).await;
    let node = connect(&url).await;
    node.migrate().await.unwrap();
    node.join_cache().await.unwrap();
    let cli = connect(&url).await;
    let ada = account(cli.as_ref(), "ada@example.com").await;
    (url, node, cli, ada)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_sees_a_change_committed_by_another_process_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (url, node, cli, ada) = sqlite_node_and_cli(&dir).await;
    let (token, id) = session(cli.as_ref(), &ada).await;
    for _ in 0..3 {
        assert!(node
            .session_by_token(&token.hash())
            .await
            .unwrap()
            .is_some());
    }
    // Not even a publishing write: a bare statement on another connection.
    raw_execute(
        &url,
        &format!("DELETE FROM sessions WHERE id = '{}'", id.as_str()),
    )
    .await;
    assert!(node
        .session_by_token(&token.hash())
        .await
        .unwrap()
        .is_none());

    let (token, id) = session(cli.as_ref(), &ada).await;
    assert_eq!(node.account_workspaces(&ada).await.unwrap().len(), 0);
    assert!(node
        .session_by_token(&token.hash())
        .await
        .unwrap()
        .is_some());
    assert!(cli.delete_session(&ada, &id).await.unwrap());
    assert!(node
        .session_by_token(&token.hash())
        .await
        .unwrap()
        .is_none());
}

/// Within one request (`cache::one_request`, as every HTTP request runs) SQLite's memory is
/// checked once, at the first remembered read: a change committed before a request is seen by
/// all of its reads, and one committed during it by the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_is_checked_once_per_request_and_by_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let (url, node, cli, ada) = sqlite_node_and_cli(&dir).await;
    let found = |token: Token| {
        let node = Arc::clone(&node);
        async move {
            node.session_by_token(&token.hash())
                .await
                .unwrap()
                .is_some()
        }
    };
    let delete = |id: SessionId| {
        let url = url.clone();
        async move {
            raw_execute(
                &url,
                &format!("DELETE FROM sessions WHERE id = '{}'", id.as_str()),
            )
            .await
        }
    };

    let (token, id) = session(cli.as_ref(), &ada).await;
    assert!(one_request(found(token.clone())).await);
    delete(id).await;
    one_request(async {
        assert!(!found(token.clone()).await);
        assert!(!found(token.clone()).await);
    })
    .await;

    let (token, id) = session(cli.as_ref(), &ada).await;
    one_request(async {
        assert!(found(token.clone()).await);
        delete(id).await;
        // Asked once already: this request goes on with what it saw.
        assert!(found(token.clone()).await);
    })
    .await;
    assert!(!one_request(found(token.clone())).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_forget_a_revoked_session_before_the_revocation_answers() {
    let Some(_) = Backend::postgres() else {
        return;
    };
    let url = fresh_postgres_database().await;
    let a = connect(&url).await;
    a.migrate().await.unwrap();
    a.join_cache().await.unwrap();
    let b = connect(&url).await;
    b.join_cache().await.unwrap();
    let cli = connect(&url).await;
    let ada = account(cli.as_ref(), "ada@example.com").await;
    let (first, first_id) = session(cli.as_ref(), &ada).await;
    let (second, second_id) = session(cli.as_ref(), &ada).await;
    for token in [&first, &second] {
        for node in [&a, &b] {
            assert!(node
                .session_by_token(&token.hash())
                .await
                .unwrap()
                .is_some());
        }
    }
    // A bare statement publishes nothing, so both nodes still answer from memory: this is
    // what shows the memory is in use at all.
    raw_execute(
        &url,
        &format!("DELETE FROM sessions WHERE id = '{}'", second_id.as_str()),
    )
    .await;
    assert!(a.session_by_token(&second.hash()).await.unwrap().is_some());
    // A revocation through node B (or the CLI) answers only once every node forgot.
    assert!(b.delete_session(&ada, &first_id).await.unwrap());
    for node in [&a, &b] {
        assert!(node
            .session_by_token(&first.hash())
            .await
            .unwrap()
            .is_none());
        assert!(node
            .session_by_token(&second.hash())
            .await
            .unwrap()
            .is_none());
    }

    let (third, third_id) = session(cli.as_ref(), &ada).await;
    assert!(a.session_by_token(&third.hash()).await.unwrap().is_some());
    assert!(cli.delete_session(&ada, &third_id).await.unwrap());
    assert!(a.session_by_token(&third.hash()).await.unwrap().is_none());

    // A node that left is no longer waited for, nor answers from memory.
    a.leave_cache().await;
    let (fourth, fourth_id) = session(cli.as_ref(), &ada).await;
    assert!(a.session_by_token(&fourth.hash()).await.unwrap().is_some());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let nodes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cache_nodes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(nodes, 1, "the node that left still holds a lease");
    assert!(cli.delete_session(&ada, &fourth_id).await.unwrap());
    assert!(a.session_by_token(&fourth.hash()).await.unwrap().is_none());
    assert!(b.session_by_token(&fourth.hash()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_node_whose_lease_was_revoked_answers_from_the_database() {
    let Some(_) = Backend::postgres() else {
        return;
    };
    let url = fresh_postgres_database().await;
    let a = connect(&url).await;
    a.migrate().await.unwrap();
    a.join_cache().await.unwrap();
    let cli = connect(&url).await;
    let ada = account(cli.as_ref(), "ada@example.com").await;
    let (token, id) = session(cli.as_ref(), &ada).await;
    assert!(a.session_by_token(&token.hash()).await.unwrap().is_some());
    // What a writer does to a node that stops acknowledging: revoke its lease. The node
    // keeps answering from memory only until its own clock says the lease ran out.
    raw_execute(&url, "UPDATE cache_nodes SET revoked = TRUE").await;
    raw_execute(
        &url,
        &format!("DELETE FROM sessions WHERE id = '{}'", id.as_str()),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    while a.session_by_token(&token.hash()).await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked node kept answering from memory past its lease"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
