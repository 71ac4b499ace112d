//! Deadbolt: a self-hosted account and two-factor authentication server.
//!
//! Layout: `domain` holds the pure rules, `signin` the sign-in flow every way of signing in
//! shares, `accounts`, `workspaces` and `admin` the other operations the API and the pages
//! share, `store` the SQL (SQLite and PostgreSQL behind one trait), `http` the API and
//! pages, `cli` the `deadbolt` command. Dependencies point inward: `http` → `accounts` +
//! `workspaces` + `admin` + `signin` + `domain` + `store`; those operations → `signin` +
//! `domain` + `store`; `store` → `domain`; `domain` → nothing. Nothing imports from a
//! handler module.

pub mod accounts;
pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod keyring;
pub mod notify;
pub mod oidc;
pub mod password_pool;
pub mod secrets;
pub mod signin;
pub mod store;
pub mod workspaces;

pub use http::{router as app, AppState};
