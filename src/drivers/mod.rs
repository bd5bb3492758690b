//! The driver package store: the sample repository (`driver-packages/<platform>/<version>.package`)
//! and uploaded packages (`<data-dir>/packages/<sha256>.package`), indexed in the database. This
//! file owns the store's state and where a package's file is; the rest by concern: `facts` (what
//! the index records of a file), `upload` (an upload's file), `rescan` (the files against the
//! index), `open` (a file opened for a download), `load` and `kept` (package bytes kept in
//! memory), `headers` (a package's fixed download headers), `range` (range requests).
//!
//! File names are always made by the server (from a platform, a parsed version or a SHA-256):
//! no path a client sends ever reaches the file system.

mod facts;
mod headers;
mod kept;
mod load;
mod open;
/// The package format, shared with `migrate-agent`.
pub use migrate_core::package;
pub mod agent;
pub mod range;
mod rescan;
mod upload;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::domain::model::{DriverPackage, PackageOrigin};
use crate::error::{AppError, Result};
pub use facts::FileFacts;
pub use headers::FixedHeaders;
use kept::KeptFiles;
pub use open::{Content, Opened, PREFETCH_MAX, read_at};
pub use rescan::{Change, Gone, RescanReport, Survey};
pub use upload::{Staged, UploadLimit};

#[derive(Debug, Clone)]
pub struct PackageStore {
    samples: PathBuf,
    uploads: PathBuf,
    upload_limit: UploadLimit,
    /// Names in the upload directory that uploads in progress own: a rescan must not take them
    /// for orphans.
    in_flight: Arc<upload::Claims>,
    /// One rescan at a time ([`PackageStore::rescan_turn`]).
    rescan_lock: Arc<tokio::sync::Mutex<()>>,
    /// The bytes of packages read whole, served again without reading the file.
    kept: Arc<KeptFiles>,
    /// One whole read of a package to keep at a time, per package (see `load`).
    loading: load::LoadLocks,
    /// Each package's fixed download headers, made once.
    headers: Arc<headers::HeaderCache>,
}

impl PackageStore {
    pub fn new(config: &Config) -> Self {
        Self {
            samples: config.driver_packages.clone(),
            uploads: config.upload_dir(),
            upload_limit: UploadLimit::new(config.max_upload_bytes()),
            in_flight: Arc::default(),
            rescan_lock: Arc::default(),
            kept: Arc::new(KeptFiles::new(config.package_cache_bytes())),
            loading: Arc::default(),
            headers: Arc::default(),
        }
    }

    /// Drop what is kept of a package that left the index: its bytes and its headers.
    pub fn forget_kept(&self, pkg: &DriverPackage) {
        self.kept.forget(pkg.id);
        self.headers.forget(pkg.id);
    }

    /// Bytes of packages kept in memory now.
    pub fn kept_bytes(&self) -> u64 {
        self.kept.held()
    }

    pub fn upload_limit(&self) -> UploadLimit {
        self.upload_limit
    }

    /// The file of an indexed package. The stored name was made by the server; it is still checked
    /// to be a plain file name under its root, so a tampered database cannot point elsewhere.
    pub fn path_of(&self, pkg: &DriverPackage) -> Result<PathBuf> {
        let rel = Path::new(&pkg.file_name);
        if !is_plain_relative(&pkg.file_name) {
            return Err(AppError::internal(format!(
                "driver package {} has an unsafe file name {:?}",
                pkg.id, pkg.file_name
            )));
        }
        Ok(match pkg.origin {
            PackageOrigin::Sample => self.samples.join(rel),
            PackageOrigin::Upload => self.uploads.join(rel),
        })
    }
}

/// A relative path of names only: segments between '/' that are not empty, `.` or `..`, and no
/// '\\' (a separator elsewhere). What the server makes; checked with bytes, as every download
/// checks it (`Path::components` costs more).
fn is_plain_relative(name: &str) -> bool {
    !name.contains('\\') && name.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_under_the_root_are_plain() {
        for name in [
            "3f2a.package",
            "linux-x64/9.0.0.2.package",
            "a/b/c",
            "..package",
            "a..",
        ] {
            assert!(is_plain_relative(name), "{name}");
        }
        for name in [
            "",
            "/etc/passwd",
            "../x.package",
            "linux-x64/../../x",
            "a/./b",
            "./a",
            "a//b",
            "a/",
            "..",
            ".",
            "..\\x.package",
            "C:\\x",
        ] {
            assert!(!is_plain_relative(name), "{name}");
        }
    }
}
