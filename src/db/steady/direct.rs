//! Batches of steady reports written on the runtime's own thread, through SQLite's C API
//! (rusqlite) on a connection of their own.
//!
//! Through sqlx every statement is a message to the write connection's thread and an answer
//! back, with a thread switch each way: on a loaded server those hand-offs, not SQLite, were
//! the largest part of a steady report's cost in the database. A batch of steady reports is one
//! short transaction (tens of microseconds for a full batch), so it runs here, synchronously:
//! a one-row `UPDATE` for each report, whose count of changes says whether it was stored. A
//! report that says of its source what a verified one said since anyone else last wrote
//! (`super::known`) writes its time by rowid: no index to walk, no conditions to check.
//! (One `UPDATE … FROM (VALUES …)` for the batch cost more: SQLite copies its rows into a table
//! of their own, then the rows to write into another, and the batch was padded to a size whose
//! statement was prepared.)
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

use rusqlite::OptionalExtension;

use super::known::Known;
use super::statement::{INSERT_FIRST, REFRESH, STORE_KNOWN, VERIFY_ONE};
use super::{Bound, SteadyReport, StoredSet};

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
    /// The sources verified since anyone else wrote, whose next steady report writes by rowid.
    known: Known,
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
        Ok(Self {
            conn,
            known: Known::default(),
        })
    }

    /// Store `reports` (one per source) in one transaction, a statement each. A failed
    /// statement rolls the whole batch back.
    pub fn store(&mut self, reports: &[&SteadyReport]) -> rusqlite::Result<Written> {
        WAL_FRAMES.set(0);
        if !self.conn.is_autocommit() {
            // A transaction left open by a rollback that failed: undone before this one.
            self.conn.execute_batch("ROLLBACK")?;
        }
        self.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let stored = self
            .known
            .check(&self.conn)
            .and_then(|()| self.store_each(reports))
            .and_then(|stored| {
                self.conn.prepare_cached("COMMIT")?.execute([])?;
                Ok(stored)
            });
        if stored.is_err() {
            self.known.forget_all();
            if !self.conn.is_autocommit() {
                // What the batch wrote is undone. A rollback that fails too is tried again
                // before the next batch.
                let _ = self.conn.execute_batch("ROLLBACK");
            }
        }
        Ok(Written {
            stored: stored?,
            checkpoint_due: WAL_FRAMES.get() >= CHECKPOINT_FRAMES,
        })
    }

    /// Each report's statements, inside the batch's transaction: which were stored. A report
    /// that says what a verified one said of its source writes its time by rowid; any other is
    /// verified first (and so becomes known).
    fn store_each(&mut self, reports: &[&SteadyReport]) -> rusqlite::Result<StoredSet> {
        let Self { conn, known } = self;
        let mut by_rowid = conn.prepare_cached(STORE_KNOWN)?;
        let mut stored = Vec::with_capacity(reports.len());
        for r in reports {
            let written = match known.rowid_of(r) {
                Some(rowid) => {
                    let written = by_rowid.execute((rowid, &*r.now))? > 0;
                    if !written {
                        // Not where it was known to be: the full path decides this report.
                        known.forget(r);
                    }
                    written
                }
                None => match verify(conn, r)? {
                    Some(rowid) => {
                        known.remember(r, rowid);
                        true
                    }
                    None => false,
                },
            };
            if written {
                stored.push(r.id);
            }
        }
        Ok(match stored.len() == reports.len() {
            true => StoredSet::All,
            false => StoredSet::Only(stored),
        })
    }
}

/// Store `report` if it is steady: its source's rowid, or `None` (not stored).
fn verify(conn: &rusqlite::Connection, report: &SteadyReport) -> rusqlite::Result<Option<i64>> {
    let bound = Bound::of(report);
    let said = (
        bound.id(),
        report.token.as_deref(),
        bound.installed.as_deref(),
        bound.running.as_deref(),
        report.controller,
    );
    let rowid = conn
        .prepare_cached(&VERIFY_ONE)?
        .query_row(said, |row| row.get(0))
        .optional()?;
    if let Some(rowid) = rowid {
        let time = (rowid, bound.id(), &*report.now);
        if conn.prepare_cached(REFRESH)?.execute(time)? == 0 {
            conn.prepare_cached(INSERT_FIRST)?.execute(time)?;
        }
    }
    Ok(rowid)
}
