#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
//! Tessera: an OAuth 2.0 authorization server with private-integration tokens.
//!
//! `main.rs` only calls [`cli`]; everything else lives here so that tests build the very same
//! server ([`web::Server`]) the binary runs.
//!
//! # The map
//!
//! From the top down; a part may import the parts below it, never one above.
//!
//! | part | what it holds | may import |
//! |---|---|---|
//! | [`cli`] | the operator CLI: one function per command | everything below |
//! | [`web`] | HTTP, the only part that knows actix-web: the route table, the shared state, body limits and the body deadline, draining on SIGTERM, client IP, RFC 6750 bearer, cookies, CORS, control characters refused at the door, request spans and access logs, request metrics and the metrics listener (`GET /metrics`), health, the OpenAPI 3.1 document of it all (`/openapi.json`), every error answer, every handler by URL, and the console (`web::console`: the organization admins' server-rendered pages under `/console`, with their script and stylesheet) | the domain and below |
//! | `oauth` | the authorization endpoint's decision (a management scope asks for the password again after the re-authentication window), sign-in with its brute-force ladder and lockout — and the console's password confirmation and password change through the same gate, the token grants (one file each), client authentication with its failure limits, PKCE, revocation, introspection's answer | `access`, `revocation`, `store`, `tokens`, foundations |
//! | `access` | the resource-server decision: what a token is, whether it is alive, the IP allowlist and scopes; its cache; the management API's caller (an OAuth access token, or an integration token carrying the scope, which acts as an `admin` capped by its own scopes) | `integrations`, `revocation`, `store`, `tokens`, foundations |
//! | `leaks` | leaked-token reports (GitHub secret scanning): the signature, then every reported secret revoked in one transaction | `integrations` (a token's status), `admin` (its error), `store`, `tokens`, foundations |
//! | `integrations` | private-integration tokens: create, rotate, expire, revoke, status, usage; their webhook events, and the expiry notices | `admin` (its error and its error helpers, and `admin::plans::entitled`), `store`, `tokens`, foundations |
//! | `webhooks` | webhook endpoints (create, rotate the signing secret, test, deliveries), Standard Webhooks signing, where deliveries may go (the SSRF policy and the HTTP client's resolver), and the delivery workers | `admin` (its error and its error helpers, and `admin::plans::entitled`), `store`, `tokens`, foundations |
//! | `admin` | operator and administrator actions: organizations and their plans (`admin::plans::entitled`, the one feature check), users, members of an organization (`admin::members`: the owner rules, serialised per organization), scopes, clients, consents, the filtered audit listing (`admin::audit::page`), first-run bootstrap | `store`, `tokens`, foundations |
//! | `housekeeping` | periodic purges, key reloads and integration expiry notices | `integrations`, `admin` (its error), `keys`, `store`, `tokens`, foundations |
//! | `keys` | signing keys over time: load into the signer, reload, rotate | `store`, `tokens`, foundations |
//! | `revocation` | the revocation epoch, this instance's follower of the revocation feed (which acknowledges what it read, so that revokes are synchronous), and the decision cache every cache is built on | `store` |
//! | [`store`] | diesel over SQLite and PostgreSQL: the pool, group commit, one module per table group, the webhook outbox (an event is written in the transaction of its change; deliveries are claimed with `FOR UPDATE SKIP LOCKED` under a lease), and the revocation feed's protocol (a call that recorded a revocation returns once every live instance acknowledged it, waiting at most 2 s); it persists digests, it knows no token format | foundations |
//! | [`tokens`] | secret formats (prefix, checksum, SHA-256) and JWT signing and verifying from key material | nothing of the crate but its own files |
//! | foundations | [`config`], `clock`, `duration`, [`events`] (the webhook event catalogue), `limits` (in-memory rate and failure limits, on governor), `plans` (the plan × feature matrix), `roles`, `validate`, [`passwords`], `telemetry` (logs; `telemetry::metrics`: every Prometheus metric's name and the functions that record them, which the parts above call) | each other; `config` reads the database URL type from `store` and the signing algorithm and brand check from `tokens`; `passwords` draws random text from `tokens` |
//!
//! The domain — `oauth`, `access`, `leaks`, `integrations`, `webhooks`, `admin` — never mentions
//! actix: handlers in [`web`] extract, call it on the blocking pool (through `store::Db::run`; sign-in, which must
//! not hold a connection while argon2 runs, is itself async: one `Db::run` per store step, and
//! argon2 alone on the blocking pool behind a semaphore), and map its answer. Errors and how each becomes an HTTP answer: `web::error`. The
//! types a handler answers with derive utoipa's `ToSchema` where they are defined, in the domain
//! too (utoipa knows no HTTP framework); `web::openapi` gathers them into the document.
//!
//! # Three requests and an event, top to bottom
//!
//! `GET /v1/check` with a bearer token:
//! 1. `web/server.rs` → `web/logging.rs` (the request's span) → `web/metrics.rs` (its count
//!    and time) → `web/routes.rs` (`CHECK_PATH`)
//! 2. `web/v1/check.rs`: the bearer (`web/bearer.rs`) and the required scopes
//! 3. `access/checker.rs` `Checker::lookup` → `access/mod.rs` `classify` (shape, checksum and
//!    SHA-256 in `tokens/secret.rs`) → `revocation/cache.rs` (a live cached decision) or, on a
//!    miss, `Checker::decide` → `store/mod.rs` `Db::run` → `access/mod.rs` `identify` →
//!    `tokens/jwt.rs` (verify) and `store/grants.rs`, or `store/integrations.rs` and
//!    `integrations/mod.rs` (status)
//! 4. `web/v1/check.rs` takes the caller's address (`web/client_ip.rs`) →
//!    `access/checker.rs` `Checker::verdict`: IP allowlist, scopes, and — only when allowed —
//!    the use is counted (`integrations/usage.rs`); the verdict is counted too
//!    (`telemetry/metrics.rs`)
//! 5. back in `web/v1/check.rs`: 200 with the cached body and `X-Auth-*` headers, or 401 / 403 /
//!    503 from `web/error.rs`
//!
//! `POST /oauth/token` with `grant_type=refresh_token`:
//! 1. `web/routes.rs` (`TOKEN_PATH`) → `web/oauth/token.rs`
//! 2. `web/body.rs` `oauth_params` → `oauth/params.rs` (form or JSON body, client credentials)
//! 3. `store/mod.rs` `Db::run` → `oauth/grants/mod.rs` `exchange` → `oauth/grants/refresh_token.rs`:
//!    client (`oauth/clients.rs` `authenticate` → `ClientDirectory`, a `revocation/cache.rs`
//!    cache over `store/clients.rs`) → flow allowed → oxide-auth's `Refresh` machine: the token
//!    (`tokens/secret.rs`, `store/grants.rs`; reuse revokes the family) → the one write
//!    (`store/mod.rs` `write_statement` → `store/writer.rs` on SQLite, one autocommit statement
//!    on PostgreSQL → `store/grants.rs` `rotate_into`; a token exchanged already goes to the
//!    grace-or-reuse `write`). A public
//!    client that sent no `client_id` (RFC 6749 §3.2.1 makes it optional) is authenticated
//!    after the token is found, as the token's client.
//! 4. `oauth/grants/mod.rs` `sign` → `tokens/jwt.rs`
//! 5. back in `web/oauth/token.rs`: the tokens, or the RFC 6749 error from `web/error.rs`
//!
//! `POST /v1/orgs/{org}/integrations/{id}/revoke`, and the webhook it causes:
//! 1. `web/routes.rs` (`ORG_SCOPE`) → `web/v1/integrations.rs` `revoke` → `web/v1/caller.rs`
//!    → `access/caller.rs` `authorize` (an access token of an `admin` or `owner` there, or an
//!    integration token of the organization carrying `integrations:manage`)
//! 2. `store/mod.rs` `Db::run` → `integrations/mod.rs` `revoke`, one transaction: the rows
//!    (`store/integrations.rs`, which records the revocation in the feed), the audit event
//!    (`store/audit.rs`) and the event with a delivery per subscribed endpoint
//!    (`store/webhooks.rs` `publish`); after the commit `Db::run_on` waits until every
//!    instance has read the revocation (`store/revocations.rs`)
//! 3. back in the handler: the decision cache is dropped, the delivery workers woken
//!    (`webhooks/delivery.rs` `Waker`)
//! 4. a worker of some instance (`webhooks/delivery.rs` `Dispatcher`) claims the delivery
//!    (`store/webhooks.rs` `claim`: `FOR UPDATE SKIP LOCKED`, a lease) → `Sender::send`: signs
//!    (`webhooks/signing.rs`), resolves the host only to permitted addresses
//!    (`webhooks/egress.rs` `PolicyResolver`), POSTs, and records the attempt (`record_attempt`:
//!    delivered, retried on the schedule, or failed; the endpoint disabled on 410 or after
//!    failing for days)
//!
//! `POST /console/orgs/{org}/integrations` (the console's create form), and its one-time page:
//! 1. `web/routes.rs` (the console part, which the OpenAPI document leaves out) →
//!    `web/console/integrations.rs` `create`
//! 2. `web/console/mod.rs` `post_form`: `same_origin` (Fetch Metadata, else `Origin`), the
//!    session (`store/sessions.rs`) and its anti-forgery token, the membership and role
//!    (`OrgVisit::require`); then `reauth` when the password was typed longer ago than
//!    `TESSERA_REAUTH_WINDOW` (`oauth/login.rs` `reauthenticate`: the sign-in gate, argon2)
//! 3. `web/state.rs` `AppState::run_change` → `integrations/mod.rs` `create`: the scopes
//!    against the role (`check_scopes`), the plan (`admin/plans.rs` `entitled`), one
//!    transaction (rows, audit, webhook event)
//! 4. back in the handler: `one_time_page` shows the token in the answer to this POST only
//!    (`Cache-Control: no-store`; `web/pages.rs` `secure` sets every console header)

pub(crate) mod access;
pub(crate) mod admin;
pub mod cli;
pub(crate) mod clock;
pub mod config;
pub(crate) mod duration;
pub mod events;
pub(crate) mod housekeeping;
pub(crate) mod integrations;
pub(crate) mod keys;
pub(crate) mod leaks;
pub(crate) mod limits;
pub(crate) mod oauth;
pub mod passwords;
pub(crate) mod plans;
pub(crate) mod revocation;
pub(crate) mod roles;
pub mod store;
pub(crate) mod telemetry;
pub mod tokens;
pub(crate) mod validate;
pub mod web;
pub(crate) mod webhooks;
