//! A reset of the emulator's state: clearing tables (a scope), or the whole database replaced
//! by a fresh one ([`Db::replace_with_fresh`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::packages::by_origin;
use super::{Db, MIGRATOR, WriteTx};
use crate::domain::model::{DriverPackage, PackageOrigin};
use crate::error::{AppError, Result};

/// Which tables a reset clears. A table whose rows point at another's is cleared with it or
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tables {
    pub operations: bool,
    /// Sources and their transformations.
    pub sources: bool,
    pub tasks: bool,
    pub events: bool,
    /// Target platforms (their operations go with `operations` too).
    pub platforms: bool,
}

/// Delete every row of `tables`, children first: explicit deletes of whole tables are much
/// faster than cascades row by row.
pub async fn clear(tx: &mut WriteTx, tables: Tables) -> Result<()> {
    if tables.operations || tables.platforms {
        super::platforms::clear(tx, tables.platforms).await?;
    }
    if tables.operations || tables.sources {
        sqlx::query("DELETE FROM operations")
            .execute(tx.conn())
            .await?;
    }
    if tables.sources {
        sqlx::query("DELETE FROM transformation_settings")
            .execute(tx.conn())
            .await?;
        sqlx::query("DELETE FROM transformations")
            .execute(tx.conn())
            .await?;
    }
    if tables.tasks || tables.sources {
        sqlx::query("DELETE FROM tasks").execute(tx.conn()).await?;
    }
    if tables.sources {
        sqlx::query("DELETE FROM source_reports")
            .execute(tx.conn())
            .await?;
        sqlx::query("DELETE FROM sources")
            .execute(tx.conn())
            .await?;
        // The search index goes with them, at once (no trigger removes its entries).
        sqlx::query("INSERT INTO sources_search (sources_search) VALUES ('delete-all')")
            .execute(tx.conn())
            .await?;
    }
    if tables.events {
        sqlx::query("DELETE FROM events").execute(tx.conn()).await?;
    }
    Ok(())
}

/// The fresh database is built here, beside the live file, and removed once copied.
fn fresh_path(live: &Path) -> PathBuf {
    let mut name = live.as_os_str().to_owned();
    name.push(".fresh");
    PathBuf::from(name)
}

async fn remove_if_there(path: &Path) -> Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn backup_error(e: rusqlite::Error) -> AppError {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return AppError::InsufficientStorage(
            "the server's data volume is full; free space and try again".into(),
        );
    }
    AppError::internal(format!("database reset: {e}"))
}

impl Db {
    /// Empty the whole database but the sample packages' rows, in a time that does not grow
    /// with the rows it holds: a fresh database is built beside the file (the migrations, and
    /// the sample packages' rows copied), then copied over the live one with SQLite's online
    /// backup, as one write transaction of a few pages (the old pages are cut off the end of
    /// the file, not deleted row by row through their indexes). Crash safe: after a crash the
    /// database is the old one or the fresh one, never a mix. Readers see one or the other, and
    /// read the new schema's pages (the backup moves the schema cookie on).
    ///
    /// Answers the uploaded packages that were dropped (their files are the caller's to
    /// remove), or `None` when the database is not a file (nothing done: clear the tables).
    pub async fn replace_with_fresh(&self) -> Result<Option<Vec<DriverPackage>>> {
        let Some(live) = self.file.clone() else {
            return Ok(None);
        };
        let fresh = fresh_path(&live);
        // Hold the write connection: from here on, nothing is written to the old database.
        let mut held = self.write.writer.conn().await?;
        let uploads = by_origin(&mut held, PackageOrigin::Upload).await?;
        remove_if_there(&fresh).await?; // a crash's leftover
        let built = build_fresh(&fresh, &live).await;
        let copied = match built {
            Ok(()) => {
                let (from, to) = (fresh.clone(), live.clone());
                tokio::task::spawn_blocking(move || copy_over(&from, &to))
                    .await
                    .map_err(AppError::internal)
                    .and_then(|r| r.map_err(backup_error))
            }
            Err(e) => Err(e),
        };
        remove_if_there(&fresh).await?;
        copied?;
        // The package index lost its uploads: the catalog is read again.
        self.write.catalog_generation.fetch_add(1, Ordering::AcqRel);
        held.settle();
        drop(held); // the generation moves on before the caller answers
        // The old pages are now past the end of the database; a checkpoint that copies the
        // whole WAL in also cuts them off the file. Cutting gigabytes off a file takes about a
        // second: done in the background, on a connection of its own, as a passive checkpoint
        // (it blocks neither readers nor writers; when readers keep it from finishing, a
        // later automatic checkpoint cuts the file).
        tokio::task::spawn_blocking(move || {
            let checkpoint = rusqlite::Connection::open(&live).and_then(|c| {
                c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0))
            });
            if let Err(e) = checkpoint {
                tracing::warn!(error = %e, "the checkpoint after a reset failed; a later one will shrink the file");
            }
        });
        Ok(Some(uploads))
    }
}

/// A fresh database at `fresh`: every migration, and `live`'s sample packages' rows (the
/// package index is read from the repository at start, not at reset).
async fn build_fresh(fresh: &Path, live: &Path) -> Result<()> {
    let options = SqliteConnectOptions::new()
        .filename(fresh)
        .create_if_missing(true)
        // As the live file's header says (WAL), so that the copied header says the same.
        .journal_mode(SqliteJournalMode::Wal);
    // One connection: the `ATTACH` below and the statements after it share it.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| AppError::internal(format!("database reset: {e}")))?;
    let mut conn = pool.acquire().await?;
    sqlx::query("ATTACH DATABASE ? AS live")
        .bind(live.to_string_lossy().into_owned())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO main.driver_packages SELECT * FROM live.driver_packages WHERE origin = 'sample'",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("DETACH DATABASE live")
        .execute(&mut *conn)
        .await?;
    drop(conn);
    // The last connection closed: its WAL is checkpointed into the file and removed.
    pool.close().await;
    Ok(())
}

/// Copy `from` over `to` with the online backup API, in one step (one write transaction on
/// `to`, waiting for readers' locks as any writer does).
fn copy_over(from: &Path, to: &Path) -> rusqlite::Result<()> {
    use rusqlite::backup::{Backup, StepResult};
    let source = rusqlite::Connection::open(from)?;
    let mut live = rusqlite::Connection::open(to)?;
    live.busy_timeout(Duration::from_secs(10))?;
    let backup = Backup::new(&source, &mut live)?;
    let started = std::time::Instant::now();
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked
                if started.elapsed() < Duration::from_secs(10) =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("the database stayed locked for 10 s".into()),
                ));
            }
        }
    }
}
