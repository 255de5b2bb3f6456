#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
//! Tessera: an OAuth 2.0 authorization server with private-integration tokens.
//!
//! (The map of the house follows in the next commit.)

pub(crate) mod access;
pub(crate) mod admin;
pub mod cli;
pub(crate) mod clock;
pub mod config;
pub(crate) mod duration;
pub(crate) mod housekeeping;
pub(crate) mod integrations;
pub(crate) mod keys;
pub(crate) mod oauth;
pub mod passwords;
pub(crate) mod revocation;
pub(crate) mod roles;
pub mod store;
pub(crate) mod telemetry;
pub mod tokens;
pub(crate) mod validate;
pub mod web;
