//! All SQL lives here. Queries return the records of `domain::model`.
//!
//! The types say what a query may do: a read takes a handle that implements [`Read`] (a
//! [`ReadConn`] from the read pool, or a [`WriteTx`] to read inside a write), and a write takes
//! only a [`WriteTx`]. A `WriteTx` moves the generation when it ends, so a write that would skip
//! the generation, and leave the cached answers stale, does not compile. Nothing outside this
//! module reaches a connection.
//!
//! SQLite runs in WAL mode with one writer: the `write` pool has a single connection and every
//! write transaction starts with `BEGIN IMMEDIATE`, so concurrent requests queue in the pool
//! instead of meeting "database is locked". Readers use their own pool and never block the writer.
//!
//! Every write bumps [`Db::generation`] once it is committed, before the writer answers: a view
//! computed at generation N is still true while the generation is N (see `crate::api::cache`).
//! Writes to the package index also move the catalog's own generation (see [`Db::catalog`]), so
//! that the many writes that leave the index alone (reports, tasks, operations) do not make every
//! download and source view read the index again.

pub mod counts;
pub mod events;
pub mod packages;
pub mod pages;
pub mod platforms;
pub mod replications;
pub mod reset;
pub mod settings;
#[macro_use]
pub mod sources;
mod steady;
pub mod tasks;
mod time;
pub mod views;
mod waiting;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use crate::error::{AppError, Result};

pub use time::{TsText, parse_ts, ts, ts_text};

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

/// What a read runs on: a [`ReadConn`], or a [`WriteTx`] (a read inside a write sees the
/// write's own changes). Sealed: only this module reaches the connection behind it.
pub trait Read: Send {
    #[doc(hidden)]
    fn connection(&mut self, _: sealed::Key) -> &mut SqliteConnection;
}

mod sealed {
    /// Only `db` can make one, so only `db` can reach a handle's connection.
    pub struct Key;
}

/// The connection behind a read handle (for the queries of this module).
fn conn(r: &mut impl Read) -> &mut SqliteConnection {
    r.connection(sealed::Key)
}

/// A connection of the read pool. Reads only: no function that writes takes it.
pub struct ReadConn(PoolConnection<Sqlite>);

impl Read for ReadConn {
    fn connection(&mut self, _: sealed::Key) -> &mut SqliteConnection {
        &mut self.0
    }
}

impl Read for WriteTx {
    fn connection(&mut self, _: sealed::Key) -> &mut SqliteConnection {
        &mut self.tx
    }
}

#[derive(Debug, Clone)]
pub struct Db {
    read: SqlitePool,
    write: WriteSide,
    catalog: Arc<packages::CatalogCache>,
    steady: steady::SteadyReports,
    /// The database's file (`None`: in memory), for a reset that replaces its content.
    file: Option<std::path::PathBuf>,
    /// Answers computed from the database, valid while the generation stands.
    views: Arc<views::ViewCache>,
}

/// The write pool's one connection, with what every write moves on when it is done.
#[derive(Debug, Clone)]
struct Writer {
    pool: SqlitePool,
    generation: Arc<AtomicU64>,
    /// Set when write work may still land after its `WriteTx` or `WriteConn` was dropped.
    in_doubt: Arc<AtomicBool>,
    /// The writers waiting for the connection, which the steady reports' task gives up to them.
    waiting: Arc<waiting::Waiting>,
}

/// What a write transaction starts from: the writer, and the catalog's generation that a write
/// to the package index moves on. Shared by [`Db`] and the group-commit task.
#[derive(Debug, Clone)]
struct WriteSide {
    writer: Writer,
    /// Moves on with every write that touched the package index.
    catalog_generation: Arc<AtomicU64>,
    /// Set by a write that touches the package index, until its connection is released.
    packages_written: Arc<AtomicBool>,
}

impl WriteSide {
    /// Start a write transaction that holds the write lock from its first statement.
    async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let waits = self.writer.waiting.enter();
        let tx = self.writer.pool.begin_with("BEGIN IMMEDIATE").await?;
        drop(waits);
        Ok(WriteTx {
            tx,
            _moves_on: NextGeneration(Arc::clone(&self.writer.generation)),
            catalog: CatalogWrites {
                generation: Arc::clone(&self.catalog_generation),
                written: Arc::clone(&self.packages_written),
                moves_on: None,
            },
            in_doubt: InDoubt(Some(Arc::clone(&self.writer.in_doubt))),
        })
    }
}

/// A write transaction: a connection of the write pool inside `BEGIN IMMEDIATE`. Dropping it
/// uncommitted rolls back, as sqlx's does; either way the generation moves on.
pub struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _moves_on: NextGeneration,
    catalog: CatalogWrites,
    in_doubt: InDoubt,
}

/// What a write transaction needs to tell the catalog that it touched the package index.
struct CatalogWrites {
    generation: Arc<AtomicU64>,
    written: Arc<AtomicBool>,
    /// Set once the transaction touched the index: moves the catalog on when dropped.
    moves_on: Option<NextGeneration>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let Self {
            tx,
            _moves_on,
            catalog: _catalog,
            mut in_doubt,
        } = self;
        let committed = tx.commit().await;
        // Done, either way: nothing of this transaction lands later.
        in_doubt.settle();
        committed
        // `_moves_on` and `catalog` drop here: the generations move on before the writer
        // answers anyone.
    }

    /// The transaction's connection, for the statements of this module.
    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }

    /// Mark this transaction as a write to the package index (the functions of
    /// [`packages`] that write call it): the catalog is read again after it.
    pub(crate) fn changes_packages(&mut self) {
        let c = &mut self.catalog;
        // Also seen by the write pool's `after_release`, for a commit that lands after a
        // cancelled request dropped this transaction.
        c.written.store(true, Ordering::Release);
        c.moves_on
            .get_or_insert_with(|| NextGeneration(Arc::clone(&c.generation)));
    }
}

/// The write connection outside a transaction, for one statement that commits on its own (the
/// batch of steady reports). Private to this module; the generation moves on when it is dropped.
struct WriteConn {
    conn: PoolConnection<Sqlite>,
    _moves_on: NextGeneration,
    in_doubt: InDoubt,
}

/// Reads on the write connection, outside a transaction (a reset reads what it drops).
impl Read for WriteConn {
    fn connection(&mut self, _: sealed::Key) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl WriteConn {
    /// The statements run on it are done: nothing lands after it is dropped.
    fn settle(&mut self) {
        self.in_doubt.settle();
    }

    /// The statements run on it are done and committed, and it stays held for more: the
    /// generation moves on now, as it would when it is dropped.
    fn written(&mut self) {
        self.settle();
        self._moves_on.0.fetch_add(1, Ordering::AcqRel);
    }
}

impl Writer {
    /// The write connection, outside a transaction.
    async fn conn(&self) -> Result<WriteConn, sqlx::Error> {
        let _waits = self.waiting.enter();
        self.conn_uncounted().await
    }

    /// [`Self::conn`] for the steady reports' task, which is not counted as waiting: it is the
    /// one that gives way.
    async fn conn_uncounted(&self) -> Result<WriteConn, sqlx::Error> {
        Ok(WriteConn {
            conn: self.pool.acquire().await?,
            _moves_on: NextGeneration(Arc::clone(&self.generation)),
            in_doubt: InDoubt(Some(Arc::clone(&self.in_doubt))),
        })
    }
}

/// Dropped unsettled (a request cancelled while its write was in flight, or a transaction
/// dropped uncommitted), it tells the write pool's `after_release` to move the generation once
/// more when the connection comes back, its work done. A settled write does not, so the poll
/// right after a write reads the database once, not twice.
struct InDoubt(Option<Arc<AtomicBool>>);

impl InDoubt {
    fn settle(&mut self) {
        self.0 = None;
    }
}

impl Drop for InDoubt {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Release);
        }
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
        let file = Some(options.get_filename().to_path_buf())
            .filter(|f| !f.as_os_str().is_empty() && f.as_os_str() != ":memory:");
        let generation = Arc::new(AtomicU64::new(0));
        let catalog_generation = Arc::new(AtomicU64::new(0));
        let packages_written = Arc::new(AtomicBool::new(false));
        let released = Arc::clone(&generation);
        let released_catalog = Arc::clone(&catalog_generation);
        let released_packages = Arc::clone(&packages_written);
        let in_doubt = Arc::new(AtomicBool::new(false));
        let released_in_doubt = Arc::clone(&in_doubt);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // A local file cannot lose its connection: the ping sqlx sends before handing one
            // out by default would be a round trip to SQLite's thread on every query.
            .test_before_acquire(false)
            .after_release(move |conn, _| {
                // A write whose request was cancelled mid-commit may land after its `WriteTx`
                // dropped: the connection comes back here only once its work is done.
                if released_in_doubt.swap(false, Ordering::AcqRel) {
                    released.fetch_add(1, Ordering::AcqRel);
                }
                if released_packages.swap(false, Ordering::AcqRel) {
                    released_catalog.fetch_add(1, Ordering::AcqRel);
                }
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
        let write = WriteSide {
            writer: Writer {
                pool: write,
                generation,
                in_doubt,
                waiting: Arc::default(),
            },
            catalog_generation,
            packages_written,
        };
        // The steady reports' own connection, on the file sqlx has just made (a database in
        // memory has none: its steady reports go through the write pool).
        let direct = match &file {
            Some(file) => Some(
                steady::Direct::open(file).map_err(|e| sqlx::Error::Configuration(Box::new(e)))?,
            ),
            None => None,
        };
        Ok(Self {
            read,
            steady: steady::SteadyReports::start(write.clone(), direct),
            write,
            catalog: Arc::default(),
            file,
            views: Arc::default(),
        })
    }

    /// How many writes were committed (or attempted) since the server started: equal numbers,
    /// equal data.
    pub fn generation(&self) -> u64 {
        self.write.writer.generation.load(Ordering::Acquire)
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let _waits = self.write.writer.waiting.enter();
        MIGRATOR.run(&self.write.writer.pool).await
    }

    /// The latest migration applied, if any.
    pub async fn schema_version(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&self.read)
                .await?,
        )
    }

    /// The driver package index, from memory unless something was written since it was read.
    pub async fn catalog(&self) -> Result<Arc<packages::Catalog>> {
        let generation = self.write.catalog_generation.load(Ordering::Acquire);
        self.catalog.get(&self.read, generation).await
    }

    /// A read handle: a connection of the read pool, for one or more reads.
    pub async fn reader(&self) -> Result<ReadConn> {
        Ok(ReadConn(self.read.acquire().await?))
    }

    /// The answers kept for the current generation (see [`views`]).
    pub fn views(&self) -> &views::ViewCache {
        &self.views
    }

    /// Start a write transaction that holds the write lock from its first statement.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        Ok(self.write.begin().await?)
    }

    /// Run `work` in a write transaction shared with the other reports waiting now (group
    /// commit, see [`steady`]): inside a savepoint of its own, so that its failure rolls back
    /// its writes only. Answers once that transaction has committed, never before. `work` may
    /// run twice: when the shared transaction fails as a whole, it runs again alone, in a
    /// transaction of its own, to get its own outcome. It must only use the transaction (the
    /// write connection is taken: another `begin_write` inside it would wait forever).
    pub async fn write_grouped<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> Fn(&'t mut WriteTx) -> futures_util::future::BoxFuture<'t, Result<T>>
            + Send
            + Sync
            + 'static,
    {
        let work = Arc::new(work);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Box::new(steady::Job::new(Arc::clone(&work), reply));
        if self.steady.submit(job).await
            && let Ok(Some(outcome)) = answer.await
        {
            return outcome;
        }
        let mut tx = self.begin_write().await?;
        let done = work(&mut tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    pub async fn close(&self) {
        self.read.close().await;
        // The steady reports' task lets go of the connection it keeps.
        let _waits = self.write.writer.waiting.enter();
        self.write.writer.pool.close().await;
    }
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
