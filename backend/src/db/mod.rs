//! Storage: one connection type for SQLite (embedded default) and PostgreSQL, a pool, and
//! the embedded migrations. Queries elsewhere are written once against [`DbConn`]. `backup`
//! snapshots and restores the embedded database.

pub mod backup;
pub mod schema;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::telemetry;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Serialises migrations when several instances start against one PostgreSQL at once.
const MIGRATION_LOCK_KEY: i64 = 0x0C1A_7150;

/// A connection to whichever database the URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database a URL names. Chosen by scheme here, rather than by trying each backend,
/// so a connection failure reports its real cause.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DbTarget {
    /// `postgres://…` or `postgresql://…` for PostgreSQL; `sqlite://path` or `sqlite:path` for SQLite.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                "must start with postgres://, postgresql:// or sqlite:// (for example sqlite://data/clavis.db)"
                    .to_owned()
            })?;
        if path.is_empty() {
            return Err("names no SQLite file (for example sqlite://data/clavis.db)".to_owned());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// Opens a connection outside the pool (the pool's own are opened this way too).
    pub fn connect(&self) -> ConnectionResult<DbConn> {
        match self {
            Self::Postgres(url) => PgConnection::establish(url).map(DbConn::Postgres),
            Self::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // busy_timeout first, so switching to WAL waits for another process's lock.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// Names the database without its password, for logs and error messages.
impl fmt::Display for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "SQLite database {}", path.display()),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(parsed) => write!(
                    f,
                    "PostgreSQL database {}{} on {}:{}",
                    parsed.path().trim_start_matches('/'),
                    if parsed.username().is_empty() {
                        String::new()
                    } else {
                        format!(" as {}", parsed.username())
                    },
                    parsed.host_str().unwrap_or("localhost"),
                    parsed.port().unwrap_or(5432)
                ),
                Err(_) => f.write_str("PostgreSQL database (unparsable URL)"),
            },
        }
    }
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Opens pooled connections by URL scheme.
pub struct DbManager(DbTarget);

impl ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> ConnectionResult<DbConn> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut DbConn) -> ConnectionResult<()> {
        conn.batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    /// A connection left inside a failed transaction is not reused.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Why the database could not be opened: says which database and the real cause.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the directory {} for the {target}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        target: DbTarget,
        source: std::io::Error,
    },
    #[error("cannot create the {target} at {}: {source}", path.display())]
    CreateFile {
        path: PathBuf,
        target: DbTarget,
        source: std::io::Error,
    },
    #[error("cannot connect to the {target}: {source}")]
    Connect {
        target: DbTarget,
        source: ConnectionError,
    },
    #[error("cannot create a connection pool for the {target}: {source}")]
    Pool {
        target: DbTarget,
        source: r2d2::PoolError,
    },
    #[error("cannot apply the database migrations to the {target}: {reason}")]
    Migrate { target: DbTarget, reason: String },
}

/// The pool of connections every part of Clavis shares.
#[derive(Clone)]
pub struct Database {
    pool: Pool<DbManager>,
    target: DbTarget,
    /// One permit per pooled connection, handed out in arrival order: the pool's own wait
    /// is unfair, which under load leaves some requests waiting for hundreds of milliseconds.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A connection borrowed from the pool; returns to it when dropped.
pub type PooledConn = PooledConnection<DbManager>;

impl Database {
    /// Connects once directly (to report the real error), then builds the pool.
    pub fn open(target: DbTarget, pool_size: u32) -> Result<Self, OpenError> {
        if let DbTarget::Sqlite(path) = &target {
            create_parent_dir(path, &target)?;
            create_private_file(path, &target)?;
        }
        target.connect().map_err(|source| OpenError::Connect {
            target: target.clone(),
            source,
        })?;
        // No test query on checkout: it would double the queries of the token endpoint.
        // A connection that fails with a lost-connection error is replaced in `run` instead.
        let pool = Pool::builder()
            .max_size(pool_size)
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(DbManager(target.clone()))
            .map_err(|source| OpenError::Pool {
                target: target.clone(),
                source,
            })?;
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(pool_size as usize));
        Ok(Self {
            pool,
            target,
            permits,
        })
    }

    pub fn target(&self) -> &DbTarget {
        &self.target
    }

    /// A connection from the pool, for blocking work (the CLI, or inside [`Database::run`]).
    pub fn conn(&self) -> Result<PooledConn, Error> {
        Ok(self.pool.get()?)
    }

    /// Runs blocking database work off the async executor.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, Error> + Send + 'static,
    {
        let waiting = Instant::now();
        let permit = self.connection_permit().await?;
        let (pool, target) = (self.pool.clone(), self.target.clone());
        // The blocking thread logs inside the caller's span: a request's lines keep its id.
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            let _permit = permit;
            let mut conn = pool.get()?;
            metrics::histogram!(telemetry::DB_POOL_WAIT).record(waiting.elapsed().as_secs_f64());
            let result = work(&mut conn);
            if result.as_ref().is_err_and(Error::is_lost_connection) {
                replace_connection(&mut conn, &target);
            }
            result
        })
        .await
        .map_err(|_| Error::Internal("database task was cancelled".to_owned()))?
    }

    /// Pooled connections in use and idle right now (for the metrics).
    pub fn pool_connections(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.connections - state.idle_connections,
            state.idle_connections,
        )
    }

    async fn connection_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        std::sync::Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("the database pool is closed".to_owned()))
    }

    /// Applies every migration not yet applied; returns the versions it applied.
    pub fn migrate(&self) -> Result<Vec<String>, OpenError> {
        let fail = |reason: String| OpenError::Migrate {
            target: self.target.clone(),
            reason,
        };
        let mut conn = self.pool.get().map_err(|e| fail(e.to_string()))?;
        let applied = match &mut *conn {
            DbConn::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS).map(versions),
            DbConn::Postgres(conn) => migrate_postgres(conn),
        };
        applied.map_err(|e| fail(e.to_string()))
    }
}

/// Puts a fresh connection in place of one the server dropped (a PostgreSQL restart, say),
/// so the pool heals on the next use.
fn replace_connection(conn: &mut PooledConn, target: &DbTarget) {
    match target.connect() {
        Ok(fresh) => **conn = fresh,
        Err(error) => tracing::warn!(%error, "cannot reconnect to the {target}"),
    }
}

/// Fails unless every migration has been applied: the readiness check.
pub fn ensure_migrated(conn: &mut DbConn) -> Result<(), Error> {
    let pending = match conn {
        DbConn::Sqlite(conn) => conn.has_pending_migration(SQLITE_MIGRATIONS),
        DbConn::Postgres(conn) => conn.has_pending_migration(POSTGRES_MIGRATIONS),
    }
    .map_err(|error| match error.downcast::<diesel::result::Error>() {
        // Kept as a database error, so a dropped connection is noticed and replaced.
        Ok(error) => Error::Database(*error),
        Err(error) => Error::Internal(format!("cannot read the migration state: {error}")),
    })?;
    if pending {
        return Err(Error::Unavailable(
            "The database has migrations that are not applied yet: run clavis migrate.".to_owned(),
        ));
    }
    Ok(())
}

type MigrationResult = Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>>;

fn versions(applied: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    applied.iter().map(ToString::to_string).collect()
}

fn migrate_postgres(conn: &mut PgConnection) -> MigrationResult {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
    let applied = conn
        .run_pending_migrations(POSTGRES_MIGRATIONS)
        .map(versions);
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
    applied
}

fn create_parent_dir(path: &std::path::Path, target: &DbTarget) -> Result<(), OpenError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir {
                dir: dir.to_owned(),
                target: target.clone(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Creates the SQLite file, if it is missing, readable by its owner only: it holds password
/// hashes and sealed keys, and SQLite gives its -wal and -shm files the same mode. (SQLite
/// itself would create it with the process's umask, usually world-readable.)
fn create_private_file(path: &std::path::Path, target: &DbTarget) -> Result<(), OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(OpenError::CreateFile {
                path: path.to_owned(),
                target: target.clone(),
                source: error,
            })
        }
        _ => Ok(()),
    }
}

/// Runs `work` in a transaction that takes the write lock up front. On SQLite a plain
/// (deferred) transaction that reads before it writes fails with "database is locked" when
/// another writer got in between, busy timeout or not; `BEGIN IMMEDIATE` queues instead.
/// PostgreSQL's transactions need no such care. Nested transactions become savepoints.
pub fn write_transaction<T>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, Error>,
) -> Result<T, Error> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConn::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    let nested = AnsiTransactionManager::transaction_manager_status_mut(sqlite)
        .transaction_depth()?
        .is_some();
    if nested {
        // The outer transaction holds the write lock already; this one is a savepoint.
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    let result = work(conn);
    let DbConn::Sqlite(sqlite) = conn else {
        unreachable!("the connection's backend does not change");
    };
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(sqlite) {
                tracing::error!(%rollback, "cannot roll back a failed transaction");
            }
            Err(error)
        }
    }
}

/// Runs `work` in a transaction that holds the named job lock, so only one instance at a
/// time does it: the lock row is updated first, a row lock on PostgreSQL (SQLite's write
/// transaction already excludes every other writer).
pub fn with_job_lock<T>(
    conn: &mut DbConn,
    job: &str,
    now: DateTime<Utc>,
    work: impl FnOnce(&mut DbConn) -> Result<T, Error>,
) -> Result<T, Error> {
    use schema::job_locks;
    write_transaction(conn, |conn| {
        let locked = diesel::update(job_locks::table.find(job))
            .set(job_locks::locked_at.eq(now.naive_utc()))
            .execute(conn)?;
        if locked != 1 {
            return Err(Error::Internal(format!("the job lock {job} is missing")));
        }
        work(conn)
    })
}

/// The current time as stored: UTC, to the microsecond both databases keep.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Reads a stored timestamp (always UTC) back as one.
pub fn utc(stored: NaiveDateTime) -> DateTime<Utc> {
    stored.and_utc()
}

/// A new random identifier for a row.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
