//! Storage: one diesel code base over SQLite (embedded default) and PostgreSQL (scale-out).
//!
//! Error taxonomy of this layer: every repository function returns `Result<T, StoreError>`.
//! `NotFound` and `Conflict` are facts about the data that callers turn into 404/409/422;
//! `Unavailable` means the database could not answer (callers answer 503 and fail closed);
//! `Query` is anything else and is logged, never shown.
//!
//! `Unavailable` comes fast once PostgreSQL is known to be down: a failed connection attempt
//! or a pooled connection found dead marks the database down, and while it is marked,
//! [`Db::conn`] waits at most a quarter of a second for a connection instead of the pool's
//! three seconds, so a request that needs the database answers 503 (with `Retry-After`) in
//! well under a second instead of holding a blocking thread. The first checkout whose
//! connection answers again clears the mark: the server recovers without a restart. SQLite is
//! never marked down (a busy file is not an outage). See [`Db`].
//!
//! Diesel is synchronous. Request handlers reach the database through [`Db::run`], which
//! takes a pooled connection and runs the whole closure on the runtime's blocking pool. Work
//! that must not hold a connection throughout (sign-in: argon2 runs between two short store
//! steps) runs on the blocking pool itself and takes a connection per step with
//! [`Db::run_sync`].
//!
//! Look-ups by a unique key use `.get_result()`, not `.first()`: `.first()` binds its `LIMIT` as
//! a parameter, and SQLite (3.45+) treats a bound LIMIT as able to change the query plan, so it
//! re-parses and re-plans the cached statement on every execution — a third of a refresh
//! request's time went there.

pub mod audit;
pub mod clients;
pub mod consents;
pub mod grants;
pub mod integrations;
pub mod keys;
pub mod orgs;
pub mod revocations;
pub mod schema;
pub mod scopes;
pub mod sessions;
pub mod sign_in_failures;
pub mod users;
pub mod webhooks;
pub mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{HandleError, ManageConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use thiserror::Error;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConn {
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbConn::Sqlite(_))
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(DieselError),
}

impl From<DieselError> for StoreError {
    /// Also counts the failures (`tessera_db_errors_total`): every statement's error passes here.
    fn from(e: DieselError) -> Self {
        use crate::telemetry::metrics::{DbError, db_error};
        let error = StoreError::classify(e);
        match &error {
            StoreError::Query(_) => db_error(DbError::Statement),
            StoreError::Unavailable(_) => db_error(DbError::Unavailable),
            StoreError::NotFound | StoreError::Conflict(_) => {}
        }
        error
    }
}

impl StoreError {
    fn classify(e: DieselError) -> StoreError {
        match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_string())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            // The server went away mid-session, or SQLite stayed locked past the busy timeout:
            // the database cannot answer now, which callers report as 503, not as a bug.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if is_unavailability(info.message()) =>
            {
                StoreError::Unavailable(info.message().to_string())
            }
            DieselError::BrokenTransactionManager => {
                StoreError::Unavailable("the connection's transaction state is broken".into())
            }
            other => StoreError::Query(other),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Constant-time confirmation of a row found by its secret's SHA-256 digest: the index look-up
/// is by value, so the final equality must not leak how many bytes matched.
fn digest_matches(digest: &[u8; 32], stored: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    stored.len() == 32 && bool::from(digest.as_slice().ct_eq(stored))
}

fn is_unavailability(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection",
        "could not connect",
        "terminating",
        "database is locked",
        "shutting down",
        // PostgreSQL broke a lock cycle or a serialization conflict: retrying succeeds.
        "deadlock detected",
        "could not serialize",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

thread_local! {
    /// The group-commit writer of the database the current thread is working on (see [`write`]).
    static WRITER: std::cell::RefCell<Option<Arc<writer::GroupWriter>>> = const { std::cell::RefCell::new(None) };
    /// The write gate of the database the current thread is working on (see [`transaction`]).
    static WRITE_GATE: std::cell::RefCell<Option<Arc<Mutex<()>>>> = const { std::cell::RefCell::new(None) };
    /// Set just before a pooled connection found dead is returned, so that the pool drops it
    /// instead of handing it out again (r2d2 asks `has_broken` on the returning thread).
    static RETURNING_BROKEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Where the data lives, chosen by the URL scheme so that a typo never silently falls back to
/// another backend.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            // A PostgreSQL URL may carry a password: show only that it is one.
            DatabaseUrl::Postgres(_) => f.write_str("postgres://…"),
        }
    }
}

#[derive(Debug, Error)]
#[error("{0}")]
pub struct UrlError(String);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() || path.starts_with(':') {
                return Err(UrlError(
                    "sqlite:// needs a file path (in-memory databases are not shared between connections)".into(),
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        Err(UrlError(
            "must start with sqlite:// (a file path) or postgres://".into(),
        ))
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }
}

/// Opens connections of the backend the URL names, and sets SQLite up for concurrent use.
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// Told when a pooled connection is returned dead (see [`Outage`]).
    outage: Arc<Outage>,
}

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error(transparent)]
    Connect(#[from] ConnectionError),
    #[error(transparent)]
    Setup(#[from] DieselError),
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConn, ConnectError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers proceed during a write; NORMAL sync is durable across process
                // crashes in WAL mode; the busy timeout makes writers queue instead of failing.
                // The busy timeout comes first so that switching to WAL also waits for a lock
                // held by another connection instead of failing at once.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;",
                )?;
                Ok(DbConn::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                // libpq uses OpenSSL (sslmode=prefer tries TLS first). Initialise it without
                // an atexit cleanup handler: otherwise exiting while a pool thread is still
                // connecting tears OpenSSL down under that thread and the process segfaults.
                openssl_sys::init();
                Ok(DbConn::Postgresql(PgConnection::establish(url)?))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(ConnectError::Setup)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        let broken = RETURNING_BROKEN.with(|b| b.replace(false));
        // Already down: keep the cause the failed connection attempt gave, which says more.
        if broken && !self.outage.is_down() {
            self.outage
                .mark_down("a pooled connection stopped answering");
        }
        broken
    }
}

/// How long [`Db::conn`] waits for a connection while the database is healthy.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(3);
/// How long it waits while the database is marked down; also the slice in which a healthy
/// wait notices that the database was marked down meanwhile.
const OUTAGE_WAIT: Duration = Duration::from_millis(250);

/// Whether PostgreSQL is known to be down, shared by every clone of a [`Db`] and by its pool.
///
/// Marked down by the pool's error handler (every failed connection attempt, including r2d2's
/// own retries in the background) and by the manager's `has_broken` (a pooled connection that
/// failed a statement and then `SELECT 1`); cleared by the first checkout whose connection
/// answers `SELECT 1`. SQLite is never marked: it has no server to lose, and a locked file is
/// busy, not down.
#[derive(Debug)]
struct Outage {
    tracked: bool,
    down: AtomicBool,
    /// The last reason the database was marked down, for the 503's log line.
    cause: Mutex<String>,
}

impl Outage {
    fn new(url: &DatabaseUrl) -> Outage {
        Outage {
            tracked: !url.is_sqlite(),
            down: AtomicBool::new(false),
            cause: Mutex::new(String::new()),
        }
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn mark_down(&self, cause: &str) {
        if !self.tracked {
            return;
        }
        let cause = cause.trim();
        *self.cause.lock().unwrap_or_else(|p| p.into_inner()) = cause.to_string();
        if self.down.swap(true, Ordering::Relaxed) {
            tracing::debug!(cause, "database still down");
        } else {
            tracing::warn!(
                cause,
                "database down: answering 503 at once until a connection works again"
            );
        }
    }

    fn mark_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("database reachable again");
        }
    }

    /// The error of a request refused because the database is down.
    fn unavailable(&self) -> StoreError {
        let cause = self.cause.lock().unwrap_or_else(|p| p.into_inner()).clone();
        StoreError::Unavailable(format!("the database is down: {cause}"))
    }
}

/// The pool's error handler: every failed connection attempt marks the database down.
#[derive(Debug)]
struct OutageSensor(Arc<Outage>);

impl HandleError<ConnectError> for OutageSensor {
    fn handle_error(&self, error: ConnectError) {
        if self.0.tracked {
            self.0.mark_down(&error.to_string());
        } else {
            // What r2d2's default handler did, through `tracing`.
            tracing::error!(cause = %error, "cannot open a database connection");
        }
    }
}

pub type Conn = PooledConnection<ConnectionManager>;

/// The handle every part of Tessera uses to reach the database.
///
/// Fail fast: once PostgreSQL is known to be down — a connection attempt failed, or a pooled
/// connection turned out dead — [`Db::conn`] waits at most 250 ms for a connection (instead of
/// 3 s) and checks with `SELECT 1` that the one it gets answers; the first that does clears
/// the mark. So during an outage every request answers 503 in well under a second, and when
/// the database returns (r2d2 keeps trying to connect in the background) the server uses it
/// again without a restart. A healthy checkout costs one atomic load more than the pool's own.
/// SQLite is never marked down.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager>,
    url: DatabaseUrl,
    /// Whether the database is known to be down; shared with the pool's error handler.
    outage: Arc<Outage>,
    sqlite: bool,
    /// SQLite has one writer at a time. Writers of this process queue here, on a mutex, rather
    /// than in SQLite's busy handler, which sleeps and retries and collapses under load.
    write_gate: Arc<Mutex<()>>,
    /// The server's group-commit writer (SQLite); see [`write`].
    writer: Option<Arc<writer::GroupWriter>>,
}

impl Db {
    /// Opens the pool and checks that the database answers, so a wrong URL fails at start-up
    /// with the driver's own message.
    pub fn connect(url: &DatabaseUrl, pool_size: u32) -> Result<Db, StoreError> {
        let outage = Arc::new(Outage::new(url));
        let manager = ConnectionManager {
            url: url.clone(),
            outage: outage.clone(),
        };
        // Fail fast on a bad URL, with the real cause rather than r2d2's timeout.
        let first = manager
            .connect()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        drop(first);
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            // Callers on the check path fail closed with 503; they should not hang long first.
            .connection_timeout(CONNECTION_TIMEOUT)
            .test_on_check_out(false)
            .error_handler(Box::new(OutageSensor(outage.clone())))
            .build(manager)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Db {
            pool,
            url: url.clone(),
            outage,
            sqlite: url.is_sqlite(),
            write_gate: Arc::new(Mutex::new(())),
            writer: None,
        })
    }

    /// The server's handle: on SQLite, hot writes are committed in groups by a writer thread
    /// with a connection of its own (see [`writer`]).
    pub fn connect_for_server(url: &DatabaseUrl, pool_size: u32) -> Result<Db, StoreError> {
        let mut db = Self::connect(url, pool_size)?;
        if db.sqlite {
            let conn = ConnectionManager {
                url: url.clone(),
                outage: db.outage.clone(),
            }
            .connect()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let writer = writer::GroupWriter::start(conn, db.write_gate.clone())
                .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
            db.writer = Some(Arc::new(writer));
        }
        Ok(db)
    }

    pub fn is_sqlite(&self) -> bool {
        self.sqlite
    }

    /// The pool's connections, for metrics: open ones, the idle among them, and the most
    /// there may be (`TESSERA_DB_POOL_SIZE`).
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let state = self.pool.state();
        (
            state.connections,
            state.idle_connections,
            self.pool.max_size(),
        )
    }

    /// A pooled connection: within 3 s while the database is healthy, within 250 ms (and
    /// checked) while it is known to be down; see [`Db`]. A failure is counted
    /// (`tessera_db_errors_total{kind="no_connection"}`).
    pub fn conn(&self) -> StoreResult<Conn> {
        let conn = self.checkout();
        if conn.is_err() {
            crate::telemetry::metrics::db_error(crate::telemetry::metrics::DbError::NoConnection);
        }
        conn
    }

    fn checkout(&self) -> StoreResult<Conn> {
        if self.outage.is_down() {
            return self.conn_while_down();
        }
        // Wait in slices, so that a request already waiting when the database is marked down
        // (by another request, or by r2d2's failed attempt to connect) gives up then too. An
        // idle connection comes from the first slice at once: the same one call as `get()`.
        let mut waited = Duration::ZERO;
        loop {
            match self.pool.get_timeout(OUTAGE_WAIT) {
                Ok(conn) => return Ok(conn),
                Err(e) => {
                    waited += OUTAGE_WAIT;
                    if self.outage.is_down() {
                        return Err(self.outage.unavailable());
                    }
                    if waited >= CONNECTION_TIMEOUT {
                        return Err(StoreError::Unavailable(e.to_string()));
                    }
                }
            }
        }
    }

    /// While the database is marked down: a connection within [`OUTAGE_WAIT`] that answers
    /// `SELECT 1` (which clears the mark), or 503. Dead idle connections met on the way are
    /// dropped from the pool.
    fn conn_while_down(&self) -> StoreResult<Conn> {
        let deadline = Instant::now() + OUTAGE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(mut conn) = self.pool.get_timeout(left) else {
                return Err(self.outage.unavailable());
            };
            if conn.batch_execute("SELECT 1").is_ok() {
                self.outage.mark_up();
                return Ok(conn);
            }
            RETURNING_BROKEN.with(|b| b.set(true));
            drop(conn);
            if Instant::now() >= deadline {
                return Err(self.outage.unavailable());
            }
        }
    }

    /// Runs `f` with a pooled connection, synchronously: for the CLI, and for blocking work
    /// that needs a connection only now and then.
    pub fn run_sync<T, E>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.conn()?;
        let result = self.run_on(&mut conn, f);
        // After a failure, make sure the connection itself still works; a dead one (e.g. the
        // PostgreSQL server restarted) is dropped rather than returned to the pool.
        if result.is_err() && conn.batch_execute("SELECT 1").is_err() {
            RETURNING_BROKEN.with(|b| b.set(true));
        }
        result
    }

    /// Runs `f` on `conn` (pooled or [`Db::dedicated`]) with this database's write gate and
    /// group-commit writer. When `f` succeeded after recording a revocation, waits until every
    /// live instance has acknowledged it ([`revocations::settle_recorded`]): whoever revokes
    /// through here returns only once no instance serves the revoked credential.
    pub fn run_on<T, E>(
        &self,
        conn: &mut DbConn,
        f: impl FnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let gate = self.sqlite.then(|| self.write_gate.clone());
        let previous = WRITE_GATE.with(|g| g.replace(gate));
        let previous_writer = WRITER.with(|w| w.replace(self.writer.clone()));
        revocations::take_recorded();
        let result = f(conn);
        WRITE_GATE.with(|g| g.replace(previous));
        WRITER.with(|w| w.replace(previous_writer));
        // Also after a failure: the revocation may have committed before it (and if it was
        // rolled back, the wait is short).
        if let Err(e) = revocations::settle_recorded(conn) {
            // Committed, but not confirmed everywhere: instances that did not read the feed
            // have stopped serving cached decisions by now (see `revocations`).
            tracing::warn!(cause = %e, "a revocation could not be confirmed by every instance");
        }
        result
    }

    /// A connection of its own, outside the pool: for a background task that must never wait
    /// behind requests for a pooled one (the revocation feed's follower).
    pub fn dedicated(&self) -> StoreResult<DbConn> {
        ConnectionManager {
            url: self.url.clone(),
            outage: self.outage.clone(),
        }
        .connect()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// The PostgreSQL URL, for a `LISTEN` connection of another driver; `None` on SQLite.
    pub fn postgres_url(&self) -> Option<&str> {
        match &self.url {
            DatabaseUrl::Postgres(url) => Some(url),
            DatabaseUrl::Sqlite(_) => None,
        }
    }

    /// Runs `f` with a pooled connection on the runtime's blocking pool (tokio's, which the
    /// HTTP server sizes): the one way request handlers touch the database. The current
    /// tracing span follows the work, so its log lines carry the request's id.
    pub async fn run<T, E>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        match tokio::task::spawn_blocking(move || span.in_scope(|| db.run_sync(f))).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable("blocking pool is shut down".into()).into()),
        }
    }

    /// Applies the embedded migrations of this backend; returns the versions applied now.
    /// Processes starting together on one PostgreSQL take turns ([`Db::exclusive`]).
    pub fn migrate(&self) -> StoreResult<Vec<String>> {
        self.exclusive("migrate", |conn| {
            let applied = match conn {
                DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
                DbConn::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
            }
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
            Ok(applied.iter().map(|v| v.to_string()).collect())
        })
    }

    /// Runs `f` while no other process runs an `exclusive` step of the same `name` on this
    /// database: start-up steps that read, decide and write outside one transaction
    /// (migrations; creating the first organization and signing key), which two instances
    /// starting at once on one PostgreSQL would otherwise both take. A session-level advisory
    /// lock, released however `f` ends (unlocked, or with the connection). SQLite needs none
    /// beyond its own locking.
    pub fn exclusive<T, E>(
        &self,
        name: &str,
        f: impl FnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.conn()?;
        let DbConn::Postgresql(pg) = &mut *conn else {
            return f(&mut conn);
        };
        let key = format!("tessera:{name}");
        let lock = |pg: &mut PgConnection, sql: &str| {
            use diesel::RunQueryDsl;
            diesel::sql_query(sql)
                .bind::<diesel::sql_types::Text, _>(&key)
                .execute(pg)
                .map_err(StoreError::from)
        };
        lock(pg, "SELECT pg_advisory_lock(hashtextextended($1, 0))")?;
        let result = f(&mut conn);
        if let DbConn::Postgresql(pg) = &mut *conn {
            if lock(pg, "SELECT pg_advisory_unlock(hashtextextended($1, 0))").is_err() {
                // The session ends with the connection, and the lock with it.
                RETURNING_BROKEN.with(|b| b.set(true));
            }
        }
        result
    }
}

/// `/readyz`: does the connection run a statement?
pub fn ping(conn: &mut DbConn) -> StoreResult<()> {
    conn.batch_execute("SELECT 1").map_err(StoreError::from)
}

/// Runs `f` in a transaction. Every write goes through here.
///
/// On SQLite, writers of this process first take their turn at the database's write gate (a
/// mutex, see [`Db`]), then `BEGIN IMMEDIATE`: the transaction holds the write lock from its
/// first statement, so one that reads and then writes never fails to upgrade its lock, and
/// the busy timeout only ever waits for other processes (the CLI).
pub fn transaction<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConn::Sqlite(sqlite) = conn else {
        return conn
            .transaction(|c| f(c).map_err(TxError::App))
            .map_err(TxError::into_app);
    };
    let gate = WRITE_GATE.with(|g| g.borrow().clone());
    let _turn = gate.as_ref().map(|g| match g.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    });
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        .map_err(StoreError::from)?;
    // The multi-connection's manager delegates to the SQLite connection's own state, so it
    // ends the transaction begun above.
    type Manager = <DbConn as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn).map_err(StoreError::from)?;
            Ok(value)
        }
        Err(e) => {
            Manager::rollback_transaction(conn).map_err(StoreError::from)?;
            Err(e)
        }
    }
}

/// Serialises the "replace the live one" changes of one entity (`kind`, `key`): call first in
/// the transaction that makes such a change. On PostgreSQL, which runs READ COMMITTED, two such
/// transactions would each read "the live rows", not see the other's insert, and both survive;
/// this takes a transaction-scoped advisory lock on the entity, so the second waits for the
/// first to commit and then reads what it left. SQLite serialises every write already (`BEGIN
/// IMMEDIATE`), so there is nothing to do there.
pub fn lock_entity(conn: &mut DbConn, kind: &str, key: &str) -> StoreResult<()> {
    if let DbConn::Postgresql(pg) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(format!("{kind}:{key}"))
            .execute(pg)?;
    }
    Ok(())
}

/// Runs a write in a transaction, like [`transaction`]; on a server's SQLite database it
/// joins the writes of concurrent requests in one group commit (see [`writer`]). `f` may run on
/// another thread and connection, so it owns what it uses.
pub fn write<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    match WRITER.with(|w| w.borrow().clone()) {
        Some(writer) => writer.write(f),
        None => transaction(conn, f),
    }
}

/// Runs a write of exactly one statement: on PostgreSQL as its own (autocommit) transaction —
/// one round trip instead of three with `BEGIN` and `COMMIT` —, on SQLite like [`write`] (the
/// group writer). `f` must issue one statement, or its effects are not atomic on PostgreSQL.
pub fn write_statement<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    if conn.is_sqlite() {
        write(conn, f)
    } else {
        f(conn)
    }
}

/// Carries an application error through diesel's transaction API, which wants `From<diesel::Error>`.
enum TxError<E> {
    App(E),
    Db(DieselError),
}

impl<E> From<DieselError> for TxError<E> {
    fn from(e: DieselError) -> Self {
        TxError::Db(e)
    }
}

impl<E: From<StoreError>> TxError<E> {
    fn into_app(self) -> E {
        match self {
            TxError::App(e) => e,
            TxError::Db(e) => StoreError::from(e).into(),
        }
    }
}
