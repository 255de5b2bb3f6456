//! Start-up: database, migrations, first-run bootstrap, then the HTTP server.
//!
//! Tests use [`Server::build`] exactly as `tessera serve` does, with port 0 for a random port.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, middleware::from_fn, web};
use thiserror::Error;

use crate::access::checker::Checker;
use crate::access::feed::Epoch;
use crate::admin::{self, AdminError};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::integrations::usage::{self, UsageRecorder};
use crate::oauth::OAuthContext;
use crate::oauth::clients::ClientDirectory;
use crate::roles::Role;
use crate::store::audit::Actor;
use crate::store::orgs::Organization;
use crate::store::{Db, StoreError};
use crate::tokens::jwt::{AccessTokenSigner, JwtError};

#[derive(Debug, Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("first-run set-up: {0}")]
    Bootstrap(#[from] AdminError),
    #[error("signing keys: {0}")]
    Keys(#[from] JwtError),
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
}

impl Server {
    /// Connects, migrates, bootstraps and binds; the server runs once [`Server::run`] is awaited.
    pub fn build(mut config: Config) -> Result<Server, StartError> {
        let db = Db::connect_for_server(&config.database_url, config.db_pool_size)?;
        let applied = db.migrate()?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "database migrated");
        }
        bootstrap(&db, &config)?;
        let listener = TcpListener::bind(config.bind).map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        config.bound_to(addr);
        let signer = {
            let mut conn = db.conn()?;
            AccessTokenSigner::load(
                &mut conn,
                config.signing_alg,
                &config.issuer,
                &config.access_token_audience,
                config.access_token_ttl,
            )?
        };

        let config = Arc::new(config);
        let signer = Arc::new(signer);
        crate::housekeeping::spawn(db.clone(), config.clone(), signer.clone());
        // One revocation epoch for every cache of this process, moved by the feed.
        let epoch = Arc::new(Epoch::default());
        epoch.follow(db.clone());
        let oauth = OAuthContext {
            clients: Arc::new(ClientDirectory::new(config.check_cache_ttl, epoch.clone())),
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
        let state = web::Data::new(AppState {
            config: config.clone(),
            db: db.clone(),
            oauth,
            usage: usage.clone(),
            checker,
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn(http::logging::access_log))
                .configure(http::routes)
                .default_service(web::to(http::error::not_found))
        })
        .shutdown_timeout(10)
        // Blocking work is database work: more threads than pooled connections only queue,
        // and each idle thread costs memory.
        .worker_max_blocking_threads(blocking_threads(&config))
        .listen(listener)
        .map_err(|source| StartError::Bind { addr, source })?;
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        Ok(Server {
            server: server.run(),
            addr,
            db,
            usage,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (graceful: in-flight requests finish) or `handle().stop()`.
    pub async fn run(self) -> std::io::Result<()> {
        tracing::info!(addr = %self.addr, "tessera listening");
        let result = self.server.await;
        // Usage counted since the last periodic write would otherwise be lost on shutdown.
        let usage = self.usage.clone();
        if let Err(e) = self.db.run(move |conn| usage.flush(conn)).await {
            tracing::warn!(cause = %e, "final usage write failed");
        }
        result
    }
}

/// On the very first start (no organization yet), creates organization `default` with an owner
/// `admin`, so that a fresh install can be signed into at once. The password comes from
/// `TESSERA_BOOTSTRAP_ADMIN_PASSWORD` or is generated and printed once, on stdout, never logged.
fn bootstrap(db: &Db, config: &Config) -> Result<(), StartError> {
    let mut conn = db.conn()?;
    if Organization::count(&mut conn)? > 0 {
        return Ok(());
    }
    let generated = config.bootstrap_admin_password.is_none();
    let password = config
        .bootstrap_admin_password
        .clone()
        .unwrap_or_else(|| crate::tokens::secret::random_base62(20));
    let actor = Actor::system();
    admin::orgs::create(&mut conn, &actor, "default", Some("Default organization"))?;
    admin::users::create(
        &mut conn,
        &actor,
        "admin",
        "default",
        Role::Owner,
        &password,
    )?;
    tracing::info!("first start: created organization \"default\" with owner \"admin\"");
    if generated {
        println!(
            "\nFirst start: created owner \"admin\" in organization \"default\".\n\
             Password (shown only this once): {password}\n"
        );
    }
    Ok(())
}

/// `tessera serve`: runs until a signal, then drains in-flight requests.
pub fn serve(config: Config) -> Result<(), StartError> {
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let server = Server::build(config)?;
        server.run().await.map_err(|source| StartError::Bind {
            addr: ([0, 0, 0, 0], 0).into(),
            source,
        })
    })
}

fn blocking_threads(config: &Config) -> usize {
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    (config.db_pool_size as usize).div_ceil(workers.max(1)) + 1
}
