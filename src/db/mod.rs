//! All SQL lives here. Queries return the records of `domain::model`.
//!
//! SQLite runs in WAL mode with one writer: the `write` pool has a single connection and every
//! write transaction starts with `BEGIN IMMEDIATE`, so concurrent requests queue in the pool
//! instead of meeting "database is locked". Readers use their own pool and never block the writer.
//!
//! Every write bumps [`Db::generation`] once it is committed, before the writer answers: a view
//! computed at generation N is still true while the generation is N (see `crate::views`).

pub mod events;
pub mod packages;
pub mod pages;
pub mod replications;
pub mod sources;
pub mod tasks;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use crate::error::{AppError, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Whether a released write connection may be reused. When a COMMIT fails with SQLITE_FULL,
/// SQLite may already have rolled the transaction back; the ROLLBACK sqlx then sends fails ("no
/// transaction is active") and sqlx keeps counting the connection as inside a transaction, so
/// every later `BEGIN IMMEDIATE` on it fails: after one full disk, no write would ever succeed
/// again. Such a connection is closed instead, and the pool opens a fresh one.
async fn leaves_no_transaction(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    use sqlx_core::transaction::TransactionManager;
    type Manager = <Sqlite as sqlx::Database>::TransactionManager;
    if Manager::get_transaction_depth(conn) == 0 {
        return Ok(true);
    }
    // A dropped transaction's ROLLBACK is queued on the connection: let it run, then look again.
    conn.ping().await?;
    let clean = Manager::get_transaction_depth(conn) == 0;
    if !clean {
        tracing::warn!("closing a database connection left inside a failed transaction");
    }
    Ok(clean)
}

#[derive(Debug, Clone)]
pub struct Db {
    pub read: SqlitePool,
    write: SqlitePool,
    generation: Arc<AtomicU64>,
    catalog: Arc<packages::CatalogCache>,
}

/// A write transaction: a connection of the write pool inside `BEGIN IMMEDIATE`. Dropping it
/// uncommitted rolls back, as sqlx's does; either way the generation moves on.
pub struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _moves_on: NextGeneration,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let Self { tx, _moves_on } = self;
        tx.commit().await
        // `_moves_on` drops here: the generation moves on before the writer answers anyone.
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// The write connection for statements that need no transaction of their own (each commits
/// alone); the generation moves on when it is dropped.
pub struct WriteConn {
    conn: PoolConnection<Sqlite>,
    _moves_on: NextGeneration,
}

impl std::ops::Deref for WriteConn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

/// Moves the database generation on when dropped, with the write it belongs to.
struct NextGeneration(Arc<AtomicU64>);

impl Drop for NextGeneration {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

impl Db {
    /// Open (creating if missing) the database at `url`, with the same pragmas on every connection.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let generation = Arc::new(AtomicU64::new(0));
        let released = Arc::clone(&generation);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // A local file cannot lose its connection: the ping sqlx sends before handing one
            // out by default would be a round trip to SQLite's thread on every query.
            .test_before_acquire(false)
            .after_release(move |conn, _| {
                // A write whose request was cancelled mid-commit may land after its `WriteTx`
                // dropped: the connection comes back here only once its work is done.
                released.fetch_add(1, Ordering::AcqRel);
                Box::pin(leaves_no_transaction(conn))
            })
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self {
            read,
            write,
            generation,
            catalog: Arc::default(),
        })
    }

    /// How many writes were committed (or attempted) since the server started: equal numbers,
    /// equal data.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.write).await
    }

    /// The driver package index, from memory unless something was written since it was read.
    pub async fn catalog(&self) -> Result<Arc<packages::Catalog>> {
        self.catalog.get(&self.read, self.generation()).await
    }

    /// Start a write transaction that holds the write lock from its first statement.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        Ok(WriteTx {
            tx: self.write.begin_with("BEGIN IMMEDIATE").await?,
            _moves_on: NextGeneration(Arc::clone(&self.generation)),
        })
    }

    /// The write connection, for single statements that commit on their own.
    pub async fn write_conn(&self) -> Result<WriteConn> {
        Ok(WriteConn {
            conn: self.write.acquire().await?,
            _moves_on: NextGeneration(Arc::clone(&self.generation)),
        })
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Times are stored as RFC 3339 UTC text with microseconds, which sorts like the time.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Read back a stored time; a bad one is a corrupt row, not a client error.
pub fn parse_ts(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| AppError::internal(format!("corrupt time {text:?} in the database: {e}")))
}

pub fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text)
        .map_err(|e| AppError::internal(format!("corrupt id {text:?} in the database: {e}")))
}

/// Parse a stored enum or version; a failure means the row is corrupt.
pub fn parse_col<T: FromStr>(text: &str, what: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| AppError::internal(format!("corrupt {what} {text:?} in the database: {e}")))
}
