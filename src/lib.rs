//! Deadbolt: a self-hosted account and two-factor authentication server.
//!
//! Layout: `domain` holds the pure rules, `signin` the sign-in flow every way of signing in
//! shares, `store` the SQL (SQLite and PostgreSQL behind one trait), `http` the API and
//! pages, `cli` the `deadbolt` command. Dependencies point inward: `http` → `signin` +
//! `domain` + `store`; `signin` → `domain` + `store`; `store` → `domain`; `domain` → nothing.

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod keyring;
pub mod notify;
pub mod password_pool;
pub mod secrets;
pub mod signin;
pub mod store;

pub use http::{router as app, AppState};
