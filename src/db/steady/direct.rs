//! Batches of steady reports written on the runtime's own thread, through SQLite's C API
//! (rusqlite) on a connection of their own.
//!
//! Through sqlx every statement is a message to the write connection's thread and an answer
//! back, with a thread switch each way: on a loaded server those hand-offs, not SQLite, were
//! the largest part of a steady report's cost in the database. A batch of steady reports is one
//! short `UPDATE` (tens of microseconds for a full batch), so it runs here, synchronously.
//!
//! Invariants:
//! - It only ever writes while its caller holds the write pool's one connection outside a
//!   transaction (`steady::store_steady_alone`), so it never meets another writer's lock. Its
//!   busy timeout is zero all the same: a lock it did meet fails the batch (each report is then
//!   written alone, through sqlx) instead of blocking the runtime's thread.
//! - It never checkpoints on the runtime's thread. Its commits report the WAL's size to a hook
//!   (which also turns SQLite's automatic checkpoint off on this connection), and past SQLite's
//!   own threshold the caller checkpoints through the write connection it holds: on sqlx's
//!   thread, and with no write in between, as SQLite's automatic checkpoint does inside a
//!   commit. (A checkpoint alongside the writes never catches up with them, and the WAL would
//!   never start again from its beginning.)

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use super::statement::Statement;
use super::{SteadyReport, StoredSet};

/// SQLite's own threshold for its automatic checkpoint (`wal_autocheckpoint`), in frames.
const CHECKPOINT_FRAMES: i32 = 1000;

thread_local! {
    /// The frames in the WAL after this thread's latest commit on a [`Direct`] connection, as the
    /// commit's hook saw them (the hook is a plain function: it can only leave them here). Read
    /// right after the write, on the same thread, synchronously: no other commit in between.
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    Ok(())
}

/// The steady reports' own connection to the database file.
pub(in crate::db) struct Direct {
    conn: rusqlite::Connection,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").finish_non_exhaustive()
    }
}

/// What [`Direct::store`] wrote.
pub(in crate::db) struct Written {
    /// Which reports were stored.
    pub stored: StoredSet,
    /// The WAL has grown past SQLite's threshold: the caller checkpoints.
    pub checkpoint_due: bool,
}

impl Direct {
    /// Open the database `file` (sqlx has made it, in WAL mode) with the server's pragmas.
    pub fn open(file: &Path) -> rusqlite::Result<Self> {
        let conn = rusqlite::Connection::open_with_flags(
            file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = memory;
             PRAGMA busy_timeout = 0;",
        )?;
        conn.wal_hook(Some(note_wal_frames));
        Ok(Self { conn })
    }

    /// Store `reports` (one per source) with one statement.
    pub fn store(&mut self, reports: &[&SteadyReport]) -> rusqlite::Result<Written> {
        WAL_FRAMES.set(0);
        let stored = statement(&self.conn, Statement::Store, reports)?.execute(params(reports))?;
        let checkpoint_due = WAL_FRAMES.get() >= CHECKPOINT_FRAMES;
        let stored = if stored == reports.len() {
            StoredSet::All
        } else {
            // Some were not stored; which were: the same conditions, read again (see
            // `steady::store_steady`).
            StoredSet::Only(
                statement(&self.conn, Statement::Match, reports)?
                    .query_map(params(reports), |row| row.get::<_, String>(0))?
                    .map(|id| id.map(Arc::from))
                    .collect::<rusqlite::Result<_>>()?,
            )
        };
        Ok(Written {
            stored,
            checkpoint_due,
        })
    }
}

/// `which` over as many rows as `reports` is padded to, prepared once per text.
fn statement<'c>(
    conn: &'c rusqlite::Connection,
    which: Statement,
    reports: &[&SteadyReport],
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    conn.prepare_cached(super::statement::text(which, reports.len()))
}

/// The statement's parameters: six for each report, then rows of NULLs (which match no source)
/// up to the padded size.
fn params<'r>(reports: &'r [&SteadyReport]) -> rusqlite::ParamsFromIter<Vec<Option<&'r str>>> {
    let rows = reports.len().next_power_of_two();
    let mut values = Vec::with_capacity(rows * 6);
    for r in reports {
        values.extend([
            Some(&*r.id),
            r.token.as_deref(),
            r.installed.as_deref(),
            r.running.as_deref(),
            r.controller,
            Some(&*r.now),
        ]);
    }
    values.resize(rows * 6, None);
    rusqlite::params_from_iter(values)
}
