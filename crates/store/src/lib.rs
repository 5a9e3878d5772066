//! Keyward's persistence: [`SqlStore`] implements the core's store traits on SQLite (the embedded
//! default, one file in the data directory, WAL) and on PostgreSQL (any number of nodes on one database).
//!
//! Both backends run the same SQL: sqlx accepts `$1`-style parameters on SQLite too, and the schema uses
//! types both understand (BIGINT, TEXT, BOOLEAN; BLOB on SQLite where PostgreSQL has BYTEA). Each backend
//! has its own migrations. Every method is written once, and [`with_pool!`] expands its body for
//! whichever pool the store holds.

mod accounts;
mod audit;
mod clients;
mod disable;
mod factors;
mod invitations;
mod outbox;
mod sealed;
mod security_keys;
mod sessions;
mod throttle;
mod unit;
mod users;

use std::str::FromStr;
use std::time::Duration;

use keyward_core::store::{HealthStore, StoreError};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The store of one Keyward process: a connection pool to SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: Pool,
    /// On SQLite, the locks that hold one user's second-factor checks apart (see
    /// [`UnitOfWork::checking_user`](keyward_core::store::UnitOfWork::checking_user)); shared by clones.
    checks: std::sync::Arc<[tokio::sync::Mutex<()>]>,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to where this task's statements go: the transaction of the unit of
/// work the task is in ([`UnitOfWork::atomically`]), or else the store's pool, whichever backend it is.
/// The body is written once and compiled for each; it names `$pool` once per statement (a transaction's
/// connection is borrowed mutably) and returns a `StoreResult`.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $crate::unit::current() {
            Some(unit) => {
                let mut open = unit.lock().await;
                match open.as_mut() {
                    Some($crate::unit::Open::Sqlite(tx)) => {
                        #[allow(unused_imports)]
                        use sqlx::Connection as _;
                        let $pool = &mut **tx;
                        $body
                    }
                    Some($crate::unit::Open::Postgres(tx)) => {
                        #[allow(unused_imports)]
                        use sqlx::Connection as _;
                        let $pool = &mut **tx;
                        $body
                    }
                    None => return Err($crate::unit::finished()),
                }
            }
            None => match &$store.pool {
                $crate::Pool::Sqlite($pool) => $body,
                $crate::Pool::Postgres($pool) => $body,
            },
        }
    };
}
pub(crate) use with_pool;

/// [`with_pool!`] for a read: outside a unit of work, a failure of the connection itself (a server that
/// restarted, a connection a proxy dropped) is tried once more, on a fresh connection from the pool.
macro_rules! read_pool {
    ($store:expr, $pool:ident => $body:expr) => {{
        let mut retried = false;
        loop {
            let attempt: keyward_core::store::StoreResult<_> = async { Ok(with_pool!($store, $pool => $body)) }.await;
            match attempt {
                Err(error) if !retried && $crate::is_disconnect(&error) && $crate::unit::current().is_none() => {
                    tracing::warn!(error = &error as &dyn std::error::Error, "a read lost its connection; trying again");
                    retried = true;
                }
                other => break other?,
            }
        }
    }};
}
pub(crate) use read_pool;

/// Whether a store error is the connection failing (not the statement): worth one more try for a read.
pub(crate) fn is_disconnect(error: &StoreError) -> bool {
    let StoreError::Backend(source) = error else { return false };
    matches!(
        source.downcast_ref::<sqlx::Error>(),
        Some(
            sqlx::Error::Io(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::WorkerCrashed
        )
    ) || source
        .downcast_ref::<sqlx::Error>()
        .and_then(|error| error.as_database_error())
        .and_then(|db| db.code())
        .is_some_and(|code| code.starts_with("57P") || code.starts_with("08"))
}

impl SqlStore {
    /// Connects to `sqlite://PATH` (creating the file) or `postgres://...`.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        SqlStore::connect_checking(url, true).await
    }

    /// [`SqlStore::connect`], with PostgreSQL connections pinged before each use (`checked`) or not: a
    /// pool that does not lets the tests show that a read on a dropped connection is tried again.
    pub async fn connect_checking(url: &str, checked: bool) -> Result<SqlStore, StoreError> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).map_err(backend)?;
            create_private_file(options.get_filename()).map_err(backend)?;
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            Pool::Sqlite(
                SqlitePoolOptions::new().max_connections(8).connect_with(options).await.map_err(backend)?,
            )
        } else {
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .test_before_acquire(checked)
                    .connect(url)
                    .await
                    .map_err(backend)?,
            )
        };
        let checks = (0..unit::CHECK_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect();
        Ok(SqlStore { pool, checks })
    }

    /// Brings the schema up to date; running it again changes nothing.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await,
            Pool::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await,
        }
        .map_err(backend)
    }

    /// "sqlite" or "postgres".
    pub fn backend_name(&self) -> &'static str {
        match &self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

impl HealthStore for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop).map_err(backend))
    }
}

/// Creates the SQLite database file with mode 0600 before SQLite does (which would use the umask's
/// mode, often world-readable). SQLite gives its `-wal` and `-shm` files the database file's mode.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.as_os_str().is_empty() || path == std::path::Path::new(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(error),
        _ => Ok(()),
    }
}

/// Wraps a database failure.
pub(crate) fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// Maps a unique-constraint violation to [`StoreError::Duplicate`], anything else to a backend failure.
pub(crate) fn unique(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(what),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Missing("the referenced row")
        }
        _ => backend(error),
    }
}

/// Times are stored as signed 64-bit seconds; a stored negative value is corrupt, not a panic.
pub(crate) fn time(seconds: i64) -> Result<keyward_core::UnixTime, StoreError> {
    u64::try_from(seconds)
        .map(keyward_core::UnixTime)
        .map_err(|_| StoreError::Corrupt(keyward_core::Error::CorruptRecord(format!("time {seconds}"))))
}

/// The stored form of a time.
pub(crate) fn seconds(time: keyward_core::UnixTime) -> i64 {
    i64::try_from(time.seconds()).unwrap_or(i64::MAX)
}

/// Reads a 32-byte hash column.
pub(crate) fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| {
        StoreError::Corrupt(keyward_core::Error::CorruptRecord(format!("a hash of {} bytes", bytes.len())))
    })
}
