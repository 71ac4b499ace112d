//! The integration suite: one test binary (like kanidm's and zero-to-production's), each
//! test against the real server on a random port, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;

mod accounts;
mod admin;
mod at_rest;
mod browser;
mod cache;
mod challenge;
mod chaos;
mod cli;
mod coherence;
mod confirmed_resets;
mod crash;
mod email;
mod hygiene;
mod lifecycle;
mod multinode;
mod notifications;
mod oidc;
mod ops;
mod outage;
mod pages;
mod policy;
mod proxies;
mod receivers;
mod service;
mod sessions;
mod store;
mod throttling;
mod tokens;
mod two_factor;
mod upgrade;
mod webauthn;
mod workspaces;
