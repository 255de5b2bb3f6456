//! Start-up: database, migrations, first-run bootstrap, signing keys, the background tasks,
//! then the HTTP server with the route table of [`super::routes`].
//!
//! Tests use [`Server::build`] exactly as `tessera serve` does, with port 0 for a random port.
//!
//! A PostgreSQL that does not answer yet (started alongside Tessera, restarting) is waited
//! for: [`Server::build`] retries with exponential backoff for up to `TESSERA_DB_STARTUP_WAIT`,
//! logging each retry at `warn` with the driver's cause (never the URL, which may hold a
//! password). SQLite is opened once, as before: a local file that cannot be opened will not
//! become openable by waiting.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, middleware::from_fn, web};
use thiserror::Error;
use tracing_actix_web::TracingLogger;

use super::input;
use super::logging::{self, RequestSpan};
use super::metrics::{self, MetricsServer};
use super::shutdown::{self, Drain};
use super::state::AppState;
use super::{error, routes};
use crate::access::checker::Checker;
use crate::admin::{self, AdminError};
use crate::config::Config;
use crate::integrations::usage::{self, UsageRecorder};
use crate::keys::{self, KeyError};
use crate::leaks::ScanningKeys;
use crate::limits::{FailureLimiter, RequestLimiter};
use crate::oauth::OAuthContext;
use crate::oauth::clients::ClientDirectory;
use crate::oauth::login::SignInGuard;
use crate::revocation::{Epoch, Follower};
use crate::store::{Db, StoreError};
use crate::webhooks::delivery::Dispatcher;

#[derive(Debug, Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("first-run set-up: {0}")]
    Bootstrap(#[from] AdminError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("cannot start the revocation feed's or the webhook workers' threads: {0}")]
    Feed(std::io::Error),
    #[error("webhooks: {0}")]
    Webhooks(String),
    #[error("TESSERA_GITHUB_SECRET_SCANNING_KEYS: {0}")]
    ScanningKeys(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct Server {
    server: actix_web::dev::Server,
    addr: SocketAddr,
    db: Db,
    usage: Arc<UsageRecorder>,
    follower: Follower,
    dispatcher: Dispatcher,
    drain: Arc<Drain>,
    /// The metrics listener (`TESSERA_METRICS_BIND`), unless turned off.
    metrics: Option<MetricsServer>,
}

impl Server {
    /// Connects, migrates, bootstraps and binds; the server runs once [`Server::run`] is awaited.
    pub fn build(mut config: Config) -> Result<Server, StartError> {
        let db = connect_waiting(&config)?;
        let applied = db.migrate()?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "database migrated");
        }
        let listener = TcpListener::bind(config.bind).map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        config.bound_to(addr);
        // The metrics listener's port, taken now so that a taken one stops the start-up.
        let metrics_listener = config
            .metrics_bind
            .map(MetricsServer::bind)
            .transpose()
            .map_err(bind_error)?;
        // The first organization and the first signing key, created by one instance when
        // several start at once on a fresh database.
        let (generated, signer) = db.exclusive("setup", |conn| -> Result<_, StartError> {
            let generated = admin::bootstrap(
                conn,
                config.bootstrap_admin_password.clone(),
                config.default_plan,
            )?;
            let signer = keys::load_signer(
                conn,
                config.signing_alg,
                &config.issuer,
                &config.access_token_audience,
                config.access_token_ttl,
            )?;
            Ok((generated, signer))
        })?;
        if let Some(generated) = generated {
            println!(
                "\nFirst start: created owner \"admin\" in organization \"default\".\n\
                 Password (shown only this once): {generated}\n\
                 Console: {}/ (sign in as admin)\n",
                config.issuer
            );
        }
        let config = Arc::new(config);
        let signer = Arc::new(signer);
        crate::housekeeping::spawn(db.clone(), config.clone(), signer.clone());
        // One revocation epoch for every cache of this process, moved by the feed.
        let epoch = Arc::new(Epoch::default());
        let oauth = OAuthContext {
            clients: Arc::new(ClientDirectory::new(
                config.check_cache_ttl,
                epoch.clone(),
                &config.limits,
            )),
            sign_in: Arc::new(SignInGuard::new(&config.limits)),
            config: config.clone(),
            signer,
        };
        let usage = Arc::new(UsageRecorder::default());
        usage::spawn_flusher(db.clone(), usage.clone());
        let checker = Arc::new(Checker::new(
            db.clone(),
            oauth.signer.clone(),
            config.token_brand.clone(),
            usage.clone(),
            config.check_cache_ttl,
            epoch.clone(),
        ));
        // reqwest's blocking client must be built outside an async context (it runs its own
        // runtime on a thread of its own).
        let sender = std::thread::scope(|s| {
            s.spawn(|| crate::webhooks::sender(&config))
                .join()
                .unwrap_or_else(|_| Err("the HTTP client could not be built".into()))
        });
        let sender = Arc::new(sender.map_err(StartError::Webhooks)?);
        let scanning_keys = Arc::new(
            ScanningKeys::load(config.github_scanning_keys.clone())
                .map_err(StartError::ScanningKeys)?,
        );
        let dispatcher = Dispatcher::start(db.clone(), sender.clone()).map_err(StartError::Feed)?;
        let state = web::Data::new(AppState {
            config: config.clone(),
            db: db.clone(),
            oauth,
            usage: usage.clone(),
            checker,
            webhooks: sender,
            webhook_waker: dispatcher.waker(),
            scanning_keys,
            management_rate: RequestLimiter::new("management_user", config.limits.management_rate),
            management_failures: FailureLimiter::new(
                "management_address",
                config.limits.client_auth_failures,
            ),
            secret_scanning_failures: FailureLimiter::new(
                "secret_scanning_address",
                config.limits.secret_scanning_failures,
            ),
        });
        let drain = Arc::new(Drain::default());
        let drain_data = web::Data::new(drain.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(drain_data.clone())
                .wrap(from_fn(shutdown::body_deadline))
                .wrap(from_fn(input::refuse_control_characters))
                .wrap(from_fn(logging::access_log))
                .wrap(from_fn(shutdown::track))
                .wrap(from_fn(metrics::track))
                // Outermost: the request's id and span, in which everything below logs.
                .wrap(TracingLogger::<RequestSpan>::new())
                .configure(routes::routes)
                .default_service(web::to(error::not_found))
        })
        // Signals are ours (`shutdown::on_signal`): actix-web's graceful stop would wait for
        // idle keep-alive connections.
        .disable_signals()
        .shutdown_timeout(shutdown::DRAIN_DEADLINE.as_secs())
        // Blocking work is database work: more threads than pooled connections only queue,
        // and each idle thread costs memory.
        .worker_max_blocking_threads(blocking_threads(&config))
        .listen(listener)
        .map_err(|source| StartError::Bind { addr, source })?;
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        let metrics = metrics_listener
            .map(|listener| MetricsServer::build(listener, db.clone(), epoch.clone()))
            .transpose()
            .map_err(bind_error)?;
        // Last, when nothing can fail any more: from here revokes wait for this instance.
        let follower = Follower::start(epoch, db.clone()).map_err(StartError::Feed)?;
        Ok(Server {
            server: server.run(),
            addr,
            db,
            usage,
            follower,
            dispatcher,
            drain,
            metrics,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `GET /metrics` is served; `None` when `TESSERA_METRICS_BIND` is `off`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::addr)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until `handle().stop()` — or, under [`serve`], SIGTERM/SIGINT, on which it drains
    /// (see [`shutdown`]): no new connections, `Connection: close` on every answer, and it stops
    /// as soon as no request is in flight (at most 10 s).
    pub async fn run(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(MetricsServer::spawn);
        tracing::info!(addr = %self.addr, "tessera listening");
        let result = self.server.await;
        // The metrics listener serves as long as the public one, so the drain can be watched.
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        // Sends in flight are not waited for: their claims lapse and are sent again.
        self.dispatcher.stop();
        // Usage counted since the last periodic write would otherwise be lost on shutdown.
        let usage = self.usage.clone();
        if let Err(e) = self.db.run(move |conn| usage.flush(conn)).await {
            tracing::warn!(cause = %e, "final usage write failed");
        }
        // Leave the feed, so that revokes made from now on do not wait for this instance.
        let follower = self.follower;
        if tokio::task::spawn_blocking(move || follower.stop())
            .await
            .is_err()
        {
            tracing::warn!("leaving the revocation feed failed");
        }
        result
    }
}

/// `tessera serve`: runs until a signal, then drains in-flight requests.
pub fn serve(config: Config) -> Result<(), StartError> {
    crate::passwords::return_large_allocations_to_the_os();
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let server = Server::build(config)?;
        let on_signal =
            actix_web::rt::spawn(shutdown::on_signal(server.handle(), server.drain.clone()));
        let result = server.run().await;
        on_signal.abort();
        result.map_err(|source| StartError::Bind {
            addr: ([0, 0, 0, 0], 0).into(),
            source,
        })
    })
}

fn bind_error((addr, source): super::metrics::BindError) -> StartError {
    StartError::Bind { addr, source }
}

/// The first and the longest pause between two start-up connection attempts.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// Opens the server's database; a PostgreSQL that does not answer is retried, with the pause
/// doubling from 250 ms to 5 s, until `db_startup_wait` has passed (zero: no retry).
fn connect_waiting(config: &Config) -> Result<Db, StoreError> {
    let started = Instant::now();
    let mut pause = FIRST_RETRY;
    let mut retries = 0u32;
    loop {
        match Db::connect_for_server(&config.database_url, config.db_pool_size) {
            Ok(db) => {
                if retries > 0 {
                    tracing::info!(retries, "database reachable, starting");
                }
                return Ok(db);
            }
            Err(e @ StoreError::Unavailable(_)) if !config.database_url.is_sqlite() => {
                let left = config.db_startup_wait.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(e);
                }
                let pause_now = pause.min(left);
                retries += 1;
                tracing::warn!(
                    // libpq ends its messages with a line break.
                    cause = e.to_string().trim_end(),
                    retry = retries,
                    retry_in = ?pause_now,
                    gives_up_in = ?left,
                    "database not reachable at start-up; retrying"
                );
                std::thread::sleep(pause_now);
                pause = (pause * 2).min(LONGEST_RETRY);
            }
            Err(e) => return Err(e),
        }
    }
}

fn blocking_threads(config: &Config) -> usize {
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    (config.db_pool_size as usize).div_ceil(workers.max(1)) + 1
}
