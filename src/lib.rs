#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
//! Tessera: an OAuth 2.0 authorization server with private-integration tokens.
//!
//! `main.rs` only parses the command line; everything else lives here so that tests build the
//! very same application (`server::Server`) the binary runs.

pub mod access;
pub mod admin;
pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod duration;
pub mod housekeeping;
pub mod http;
pub mod integrations;
pub mod oauth;
pub mod passwords;
pub mod roles;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod validate;
