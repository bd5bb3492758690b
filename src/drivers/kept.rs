//! Package bytes kept in memory after they were read whole, so that the next downloads and
//! ranges of a package are a `stat` and a reference count instead of an open, reads and a copy.
//!
//! Why: a download from the file copies every byte twice (page cache to our buffer, buffer to
//! the socket), and hyper has no `sendfile` to skip the first copy. Kept bytes are copied once
//! (bench/RESULTS.md compares the two).
//!
//! An entry serves only while the index has the same hash, size and time for the package and
//! the file on disk shows that size and time, and the same inode and change time: a file
//! rewritten in place with its size and modification time put back is read again. The total is
//! bounded (`--package-cache-mb`); the least recently used entries go first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use uuid::Uuid;

use super::FileFacts;
use crate::domain::model::DriverPackage;

/// Which file, and which version of it: the inode and the change time, which every write
/// moves and no client can set back, with the size and the modification time the index checks.
/// None where the platform does not tell (nothing is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity(Option<FileVersion>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    inode: u64,
    changed: (i64, i64),
    size: u64,
    modified: (i64, i64),
}

impl Identity {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Self(Some(FileVersion {
                inode: meta.ino(),
                changed: (meta.ctime(), meta.ctime_nsec()),
                size: meta.len(),
                modified: (meta.mtime(), meta.mtime_nsec()),
            }))
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            Self(None)
        }
    }

    pub fn is_known(self) -> bool {
        self.0.is_some()
    }
}

#[derive(Debug)]
pub struct KeptFiles {
    /// The most bytes held at once.
    budget: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Uuid, Entry>,
    held: u64,
    /// Moves on every use; an entry's `used` is its last.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    facts: FileFacts,
    path: Arc<Path>,
    read_from: Identity,
    bytes: Bytes,
    used: u64,
}

/// A kept package: its bytes and the file version they were read from.
#[derive(Debug, Clone)]
pub struct Kept {
    /// The file they were read from (the package's path, made once).
    pub path: Arc<Path>,
    pub read_from: Identity,
    pub bytes: Bytes,
}

impl KeptFiles {
    pub fn new(budget: u64) -> Self {
        Self {
            budget,
            inner: Mutex::default(),
        }
    }

    /// Whether a package of `size` bytes would be kept at all.
    pub fn fits(&self, size: u64) -> bool {
        size <= self.budget
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Entries are inserted and removed whole: a panic elsewhere cannot leave one half-written.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The package's bytes, if kept from a file with the index's facts for it.
    pub fn get(&self, pkg: &DriverPackage) -> Option<Kept> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(&pkg.id)?;
        let facts = &entry.facts;
        if facts.size != pkg.size || facts.sha256 != pkg.sha256 || facts.mtime != pkg.file_mtime {
            return None;
        }
        entry.used = now;
        Some(Kept {
            path: Arc::clone(&entry.path),
            read_from: entry.read_from,
            bytes: entry.bytes.clone(),
        })
    }

    /// Keep a package's whole bytes, read from the file version `read_from` at `path`; the
    /// least recently used entries make room. Bytes that are not the whole package, or more than
    /// the budget, are not kept.
    pub fn put(&self, pkg: &DriverPackage, path: PathBuf, read_from: Identity, bytes: Bytes) {
        let size = bytes.len() as u64;
        if size != pkg.size || !self.fits(size) || !read_from.is_known() {
            return;
        }
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(&pkg.id) {
            inner.held -= old.bytes.len() as u64;
        }
        while inner.held + size > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.held -= gone.bytes.len() as u64;
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.held += size;
        let facts = FileFacts {
            size,
            sha256: pkg.sha256.clone(),
            mtime: pkg.file_mtime.clone(),
        };
        inner.entries.insert(
            pkg.id,
            Entry {
                facts,
                path: path.into(),
                read_from,
                bytes,
                used,
            },
        );
    }

    /// Drop a package's bytes (it left the index): an id never asked for again would hold its
    /// share of the budget until newer packages pushed it out.
    pub fn forget(&self, id: Uuid) {
        let mut inner = self.lock();
        if let Some(gone) = inner.entries.remove(&id) {
            inner.held -= gone.bytes.len() as u64;
        }
    }

    /// How many bytes are kept now.
    pub fn held(&self) -> u64 {
        self.lock().held
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::model::PackageOrigin;

    fn pkg(size: u64) -> DriverPackage {
        DriverPackage {
            id: Uuid::new_v4(),
            platform: "windows-x64".parse().unwrap(),
            version: "8.0.0.1".parse().unwrap(),
            file_name: "x.package".into(),
            size,
            sha256: format!("{size:064x}"),
            file_mtime: "1".into(),
            origin: PackageOrigin::Sample,
            created_at: chrono::Utc::now(),
        }
    }

    fn identity() -> Identity {
        Identity(Some(FileVersion {
            inode: 1,
            changed: (2, 3),
            size: 4,
            modified: (5, 6),
        }))
    }

    fn bytes(size: u64) -> Bytes {
        Bytes::from(vec![7u8; size as usize])
    }

    #[test]
    fn a_kept_package_is_served_while_the_index_agrees() {
        let kept = KeptFiles::new(100);
        let p = pkg(10);
        kept.put(&p, "x".into(), identity(), bytes(10));
        assert_eq!(kept.get(&p).unwrap().bytes.len(), 10);
        assert_eq!(kept.get(&p).unwrap().read_from, identity());
        for changed in [
            DriverPackage {
                sha256: "other".into(),
                ..p.clone()
            },
            DriverPackage {
                file_mtime: "2".into(),
                ..p.clone()
            },
            DriverPackage {
                size: 11,
                ..p.clone()
            },
        ] {
            assert!(kept.get(&changed).is_none(), "{changed:?}");
        }
    }

    #[test]
    fn only_whole_packages_within_the_budget_from_a_known_file_are_kept() {
        let kept = KeptFiles::new(100);
        let (part, big, unknown) = (pkg(10), pkg(101), pkg(10));
        kept.put(&part, "x".into(), identity(), bytes(9));
        kept.put(&big, "x".into(), identity(), bytes(101));
        kept.put(&unknown, "x".into(), Identity(None), bytes(10));
        assert!(kept.get(&part).is_none());
        assert!(kept.get(&big).is_none());
        assert!(kept.get(&unknown).is_none());
        assert_eq!(kept.held(), 0);
        assert!(!KeptFiles::new(0).fits(1));
    }

    #[test]
    fn the_least_recently_used_make_room() {
        let kept = KeptFiles::new(100);
        let (a, b, c) = (pkg(40), pkg(40), pkg(40));
        kept.put(&a, "x".into(), identity(), bytes(40));
        kept.put(&b, "x".into(), identity(), bytes(40));
        // `a` used after `b`: `b` is the one to go.
        assert!(kept.get(&a).is_some());
        kept.put(&c, "x".into(), identity(), bytes(40));
        assert!(kept.get(&a).is_some());
        assert!(kept.get(&b).is_none());
        assert!(kept.get(&c).is_some());
        assert_eq!(kept.held(), 80);
        // A package kept again replaces its entry, it is not counted twice.
        kept.put(&c, "x".into(), identity(), bytes(40));
        assert_eq!(kept.held(), 80);
        // A package that leaves the index leaves memory.
        kept.forget(c.id);
        assert!(kept.get(&c).is_none());
        assert_eq!(kept.held(), 40);
        // One that needs the whole budget empties it.
        let d = pkg(100);
        kept.put(&d, "x".into(), identity(), bytes(100));
        assert_eq!(kept.held(), 100);
        assert!(kept.get(&a).is_none() && kept.get(&c).is_none());
    }
}
