#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Black-box tests: the real CLI binary and the real server on a random port, each test on its
//! own database, on SQLite and (with `TESSERA_TEST_POSTGRES_URL`) PostgreSQL.

mod oauth_support;
mod support;

mod browser;
mod check;
mod cli;
mod clients_api;
mod concurrency;
mod consent_pages;
mod console;
mod contract;
mod cors;
mod gateway;
mod http_basics;
mod instances;
mod integrations;
mod leaks;
mod limits;
mod members;
mod metrics;
mod oauth_flow;
mod outage;
mod plans;
mod python_client;
mod text_inputs;
mod webhooks;
