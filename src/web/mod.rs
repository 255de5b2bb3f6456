//! HTTP: the one layer that knows actix-web.
//!
//! - [`routes`]: the whole surface at a glance; [`paths`]: its paths, which discovery shares;
//!   [`openapi`]: its OpenAPI 3.1 contract, served at `/openapi.json`;
//! - [`state`]: what every handler can reach; [`server`]: start-up, then serving;
//! - [`body`] (limits and reading), [`client_ip`], [`bearer`] (RFC 6750), [`cookies`], [`cors`],
//!   [`logging`] (request ids, spans, one line per request), [`input`] (control characters
//!   refused at the door), [`health`], [`metrics`] (request counts and durations, and the
//!   metrics listener's `GET /metrics`);
//! - [`error`]: every error answer — the `/v1` envelope, RFC 6749's, and the HTML error pages;
//! - handlers, arranged by URL: [`well_known`], [`oauth`] (`/oauth/…`), [`v1`] (`/v1/…`),
//!   [`console`] (`/console/…`, the organization admins' pages in the browser), and the HTML
//!   of the sign-in and consent pages in [`pages`] (whose security headers the console shares).
//!
//! Handlers stay thin: extract → call the domain (`oauth`, `access`, `integrations`,
//! `webhooks`, `leaks`, `admin`) → map its answer. Nothing below this layer imports it.

pub(crate) mod bearer;
pub(crate) mod body;
pub(crate) mod client_ip;
pub(crate) mod console;
pub(crate) mod cookies;
pub(crate) mod cors;
pub(crate) mod error;
pub(crate) mod health;
pub(crate) mod input;
pub(crate) mod logging;
pub(crate) mod metrics;
pub(crate) mod oauth;
pub(crate) mod openapi;
pub(crate) mod pages;
pub(crate) mod paths;
pub(crate) mod routes;
pub mod server;
pub(crate) mod shutdown;
pub(crate) mod state;
pub(crate) mod v1;
pub(crate) mod well_known;

pub use server::{Server, StartError, serve};
