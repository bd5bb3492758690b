//! The sources whose steady report was stored since anyone else last wrote the database, with
//! what that report said: the next report that says the same of the same source is steady too,
//! and only its time is written (beside the source, `migrations/0008_add_source_reports.sql`),
//! by rowid, with no conditions to check.
//!
//! Invariants:
//! - Every entry was verified by the steady conditions (`statement::VERIFY_ONE`) on the
//!   steady reports' own connection, and the set is kept only while SQLite's `data_version` on
//!   that connection stays as it was: it moves on whenever another connection commits (a full
//!   report, a registration, a reboot task, a deletion, a reset's copy). So while an entry is
//!   kept, no row its verification read has changed: the source, its token, its state, its
//!   rowid, and its tasks are as they were.
//! - The steady reports' own connection writes nothing but report times (`source_reports`),
//!   which no condition reads.
//! - At most [`KNOWN_MAX`] sources are kept (a few MB); past that the set starts again.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use migrate_core::domain::version::DriverVersion;

use super::SteadyReport;
use crate::auth::TokenSha256;

/// The most sources kept: about 100 bytes each.
const KNOWN_MAX: usize = 1 << 16;

/// What a steady report says, as its conditions compare it with the source's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Said {
    token: Option<TokenSha256>,
    installed: Option<DriverVersion>,
    running: Option<DriverVersion>,
    controller: Option<&'static str>,
}

impl Said {
    fn of(report: &SteadyReport) -> Self {
        Self {
            token: report.token,
            installed: report.installed,
            running: report.running,
            controller: report.controller,
        }
    }
}

#[derive(Debug)]
struct Verified {
    rowid: i64,
    said: Said,
}

/// See the module's documentation.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// The connection's `data_version` when the entries were verified.
    version: Option<i64>,
    sources: HashMap<u128, Verified, BuildHasherDefault<FoldedId>>,
}

impl Known {
    /// At the start of a batch, inside its write transaction (no other writer can commit until
    /// it ends): forget everything if another connection has written since the last batch.
    pub fn check(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        if self.version != Some(version) {
            self.sources.clear();
            self.version = Some(version);
        }
        Ok(())
    }

    /// The rowid of `report`'s source, when a report that said the same was verified.
    pub fn rowid_of(&self, report: &SteadyReport) -> Option<i64> {
        let known = self.sources.get(&report.id.as_u128())?;
        (known.said == Said::of(report)).then_some(known.rowid)
    }

    /// `report` was verified and stored on the row `rowid`.
    pub fn remember(&mut self, report: &SteadyReport, rowid: i64) {
        if self.sources.len() >= KNOWN_MAX {
            self.sources.clear();
        }
        let said = Said::of(report);
        self.sources
            .insert(report.id.as_u128(), Verified { rowid, said });
    }

    /// Forget `report`'s source (its row was not where it was known to be).
    pub fn forget(&mut self, report: &SteadyReport) {
        self.sources.remove(&report.id.as_u128());
    }

    /// Forget everything (a batch failed: what it verified is not trusted).
    pub fn forget_all(&mut self) {
        self.sources.clear();
        self.version = None;
    }
}

/// A source id's bits folded into 64 by a multiplication: the ids are random (v4 UUIDs), and
/// only verified sources are kept, so a keyed hash's cost buys nothing here.
#[derive(Debug, Default)]
pub(super) struct FoldedId(u64);

impl Hasher for FoldedId {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u128(&mut self, n: u128) {
        // Truncation intended: the two halves, folded.
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
}
