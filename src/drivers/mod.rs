//! The driver package store: the sample repository (`driver-packages/<platform>/<version>.package`)
//! and uploaded packages (`<data-dir>/packages/<sha256>.package`), indexed in the database.
//!
//! File names are always made by the server (from a platform, a parsed version or a SHA-256):
//! no path a client sends ever reaches the file system.

mod kept;
/// The package format, shared with `migrate-agent`.
pub use migrate_core::package;
pub mod range;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use chrono::Utc;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::config::Config;
use crate::db::events::{self, kind};
use crate::db::{Db, packages};
use crate::domain::model::{DriverPackage, PackageOrigin};
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};
use kept::{Identity, KeptFiles};

#[derive(Debug, Clone)]
pub struct PackageStore {
    samples: PathBuf,
    uploads: PathBuf,
    max_upload: u64,
    /// Names in the upload directory that uploads in progress own (their temporary file, then
    /// their final name until the row is committed): a rescan must not take them for orphans.
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
    /// One rescan at a time, so that two never add or remove the same package twice.
    rescan_lock: Arc<tokio::sync::Mutex<()>>,
    /// The bytes of packages read whole, served again without reading the file.
    kept: Arc<KeptFiles>,
    /// One whole read of a package to keep at a time, per package: concurrent first downloads
    /// of a large package wait for the first one's read instead of each reading it into memory;
    /// those of different packages do not wait for each other.
    loading: LoadLocks,
}

/// A lock per package being read whole (see `PackageStore::loading`).
type LoadLocks = Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>;

/// The right to read a package whole (see `PackageStore::loading`); its entry goes when the
/// last download that wanted it is done.
struct Loading {
    loading: LoadLocks,
    id: Uuid,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Loading {
    /// Wait for the right to read a package whole.
    async fn of(loading: &LoadLocks, id: Uuid) -> Self {
        let guard = Self::lock_of(loading, id).lock_owned().await;
        Self::held(loading, id, guard)
    }

    /// The right to read a package whole if no one is reading it now.
    fn try_of(loading: &LoadLocks, id: Uuid) -> Option<Self> {
        // Taken: its holder removes the entry when done.
        let guard = Self::lock_of(loading, id).try_lock_owned().ok()?;
        Some(Self::held(loading, id, guard))
    }

    /// The package's lock, made if it has none. Entries only the map holds are dropped here:
    /// a download that stopped waiting (its client went away) leaves one behind.
    fn lock_of(loading: &LoadLocks, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = loading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(map.entry(id).or_default())
    }

    fn held(loading: &LoadLocks, id: Uuid, guard: tokio::sync::OwnedMutexGuard<()>) -> Self {
        Self {
            loading: Arc::clone(loading),
            id,
            guard: Some(guard),
        }
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        let mut map = self
            .loading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Held by the map and by this guard only: no other download waits for it. (Waiters
        // take their reference under the same lock, so none can come in between.)
        if map.get(&self.id).is_some_and(|l| Arc::strong_count(l) <= 2) {
            map.remove(&self.id);
        }
        // Released while the map is locked, after the count above included it.
        self.guard = None;
    }
}

/// What a rescan found: file names under the driver-package directory.
#[derive(Debug, Default, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RescanReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Files that were skipped, and why.
    pub skipped: Vec<String>,
}

/// Size, SHA-256 and modification time of a file, as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    pub size: u64,
    pub sha256: String,
    pub mtime: String,
}

/// How close to the moment it was hashed a file's modification time must be for the time to be
/// no proof that the file is unchanged. File-system clocks are coarse (a kernel tick on ext4, 1 s
/// or 2 s elsewhere): a write in the same tick as the hash leaves size and time as they were. As
/// in git's "racy clean" check, such a file is re-hashed when it is next served.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// A relative path of names only: segments between '/' that are not empty, `.` or `..`, and no
/// '\\' (a separator elsewhere). What the server makes; checked with bytes, as every download
/// checks it (`Path::components` costs more).
fn is_plain_relative(name: &str) -> bool {
    !name.contains('\\') && name.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

fn mtime_of(meta: &std::fs::Metadata) -> String {
    mtime_nanos(meta).map_or_else(|| "unknown".to_owned(), |n| n.to_string())
}

fn mtime_nanos(meta: &std::fs::Metadata) -> Option<u128> {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
}

/// `mtime_of(meta) == recorded`, without making the text: every download checks it.
fn mtime_is(meta: &std::fs::Metadata, recorded: &str) -> bool {
    match mtime_nanos(meta) {
        Some(nanos) => itoa::Buffer::new().format(nanos) == recorded,
        None => recorded == "unknown",
    }
}

/// The modification time to record for a file hashed at `hashed_at`. A racy time is recorded
/// marked, so that it never equals the file's time and the next `open` hashes the file again.
fn recorded_mtime(meta: &std::fs::Metadata, hashed_at: SystemTime) -> String {
    let plain = mtime_of(meta);
    let racy = meta
        .modified()
        .ok()
        .and_then(|m| m.checked_add(RACY_WINDOW))
        .is_none_or(|m| m > hashed_at);
    if racy { format!("racy:{plain}") } else { plain }
}

/// Hash a file from its current position (blocking: call from `spawn_blocking`).
fn hash_reader(mut file: std::fs::File) -> std::io::Result<FileFacts> {
    let hashed_at = SystemTime::now();
    let meta = file.metadata()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileFacts {
        size,
        sha256: hex::encode(hasher.finalize()),
        mtime: recorded_mtime(&meta, hashed_at),
    })
}

async fn hash_path(path: PathBuf) -> Result<FileFacts> {
    let facts = tokio::task::spawn_blocking(move || hash_reader(std::fs::File::open(path)?))
        .await
        .map_err(AppError::internal)??;
    Ok(facts)
}

/// Removes a temporary upload file unless the upload completed.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Claims names in the upload directory for an upload in progress, until it is dropped. Names
/// are counted: two uploads of the same bytes claim the same final name.
struct InFlight {
    names: Arc<Mutex<HashMap<String, usize>>>,
    mine: Vec<String>,
}

impl InFlight {
    fn claim(&mut self, name: &str) {
        if let Ok(mut names) = self.names.lock() {
            *names.entry(name.to_owned()).or_default() += 1;
            self.mine.push(name.to_owned());
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut names) = self.names.lock() {
            for name in &self.mine {
                if let Some(count) = names.get_mut(name) {
                    *count -= 1;
                    if *count == 0 {
                        names.remove(name);
                    }
                }
            }
        }
    }
}

impl PackageStore {
    pub fn new(config: &Config) -> Self {
        Self {
            samples: config.driver_packages.clone(),
            uploads: config.upload_dir(),
            max_upload: config.max_upload_bytes(),
            in_flight: Arc::default(),
            rescan_lock: Arc::default(),
            kept: Arc::new(KeptFiles::new(config.package_cache_bytes())),
            loading: Arc::default(),
        }
    }

    /// Drop the bytes kept of a package that left the index.
    pub fn forget_kept(&self, pkg: &DriverPackage) {
        self.kept.forget(pkg.id);
    }

    /// Bytes of packages kept in memory now.
    pub fn kept_bytes(&self) -> u64 {
        self.kept.held()
    }

    pub fn max_upload(&self) -> u64 {
        self.max_upload
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

    /// Index the sample repository and reconcile the uploads with their rows: new files are added,
    /// changed files re-hashed, vanished files unlisted, left-over temporary and orphan upload
    /// files removed.
    pub async fn rescan(&self, db: &Db) -> Result<RescanReport> {
        let _one_at_a_time = self.rescan_lock.lock().await;
        let mut report = RescanReport::default();
        self.reconcile_uploads(db, &mut report).await?;
        self.scan_samples(db, &mut report).await?;
        Ok(report)
    }

    async fn scan_samples(&self, db: &Db, report: &mut RescanReport) -> Result<()> {
        let mut found = Vec::new();
        for platform in Platform::ALL {
            let dir = self.samples.join(platform.as_str());
            let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
                continue;
            };
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(stem) = name.strip_suffix(".package") else {
                    continue;
                };
                match stem.parse::<DriverVersion>() {
                    Ok(version) => found.push((
                        platform,
                        version,
                        format!("{platform}/{version}.package"),
                        name,
                    )),
                    Err(e) => report
                        .skipped
                        .push(format!("{platform}/{name}: the file name's version {e}")),
                }
            }
        }
        let known = {
            let mut conn = db.read.acquire().await?;
            packages::by_origin(&mut conn, PackageOrigin::Sample).await?
        };
        for (platform, version, canonical, name) in found {
            let label = format!("{platform} {version}");
            // `8.0.0.011.package` is the same version as `8.0.0.11.package`; index one name only.
            if name != format!("{version}.package") {
                report.skipped.push(format!(
                    "{platform}/{name}: name it {version}.package (the canonical form of its version)"
                ));
                continue;
            }
            let path = self.samples.join(&canonical);
            let facts = match hash_path(path.clone()).await {
                Ok(f) => f,
                Err(e) => {
                    report
                        .skipped
                        .push(format!("{canonical}: {}", e.public_message()));
                    continue;
                }
            };
            let now = Utc::now();
            match known
                .iter()
                .find(|p| p.platform == platform && p.version == version)
            {
                Some(pkg) if pkg.sha256 == facts.sha256 && pkg.size == facts.size => {
                    if pkg.file_mtime != facts.mtime {
                        let mut tx = db.begin_write().await?;
                        packages::update_file_facts(
                            &mut tx,
                            pkg.id,
                            facts.size,
                            &facts.sha256,
                            &facts.mtime,
                        )
                        .await?;
                        tx.commit().await?;
                    }
                }
                Some(pkg) => {
                    let mut tx = db.begin_write().await?;
                    packages::update_file_facts(
                        &mut tx,
                        pkg.id,
                        facts.size,
                        &facts.sha256,
                        &facts.mtime,
                    )
                    .await?;
                    let message = format!(
                        "Driver package {label} changed on disk; re-indexed (SHA-256 {})",
                        facts.sha256
                    );
                    events::insert(&mut tx, kind::DRIVER_PACKAGE_CHANGED, None, &message, now)
                        .await?;
                    tx.commit().await?;
                    report.changed.push(label);
                }
                None => {
                    let checked = {
                        let path = path.clone();
                        tokio::task::spawn_blocking(move || {
                            std::fs::File::open(path)
                                .map_err(|e| e.to_string())
                                .and_then(|f| {
                                    package::check(f, platform, version).map_err(|e| e.to_string())
                                })
                        })
                        .await
                        .map_err(AppError::internal)?
                    };
                    if let Err(why) = checked {
                        report.skipped.push(format!("{canonical}: {why}"));
                        continue;
                    }
                    let mut tx = db.begin_write().await?;
                    let new = packages::NewPackage {
                        platform,
                        version,
                        size: facts.size,
                        sha256: &facts.sha256,
                        origin: PackageOrigin::Sample,
                        file_name: &canonical,
                        file_mtime: &facts.mtime,
                    };
                    match packages::insert(&mut tx, &new, now).await {
                        Ok(_) => {
                            let message =
                                format!("Driver package {label} added from the sample repository");
                            events::insert(
                                &mut tx,
                                kind::DRIVER_PACKAGE_ADDED,
                                None,
                                &message,
                                now,
                            )
                            .await?;
                            tx.commit().await?;
                            report.added.push(label);
                        }
                        Err(AppError::Conflict { message, .. }) => {
                            report
                                .skipped
                                .push(format!("{canonical}: {message} (uploaded)"));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        // Sample packages whose file is gone are no longer offered.
        for pkg in known {
            if !tokio::fs::try_exists(self.path_of(&pkg)?)
                .await
                .unwrap_or(false)
            {
                let label = format!("{} {}", pkg.platform, pkg.version);
                let mut tx = db.begin_write().await?;
                packages::delete(&mut tx, pkg.id).await?;
                self.kept.forget(pkg.id);
                let message =
                    format!("Driver package {label} removed: its file left the sample repository");
                events::insert(
                    &mut tx,
                    kind::DRIVER_PACKAGE_REMOVED,
                    None,
                    &message,
                    Utc::now(),
                )
                .await?;
                tx.commit().await?;
                report.removed.push(label);
            }
        }
        Ok(())
    }

    async fn reconcile_uploads(&self, db: &Db, report: &mut RescanReport) -> Result<()> {
        tokio::fs::create_dir_all(&self.uploads).await?;
        let rows = {
            let mut conn = db.read.acquire().await?;
            packages::by_origin(&mut conn, PackageOrigin::Upload).await?
        };
        let mut entries = tokio::fs::read_dir(&self.uploads).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let referenced = rows.iter().any(|p| p.file_name == name);
            let in_flight = self
                .in_flight
                .lock()
                .map_or(true, |names| names.contains_key(&name));
            if !referenced && !in_flight {
                // An interrupted upload's temporary file, or a file whose row never committed.
                tracing::warn!(file = %name, "removing an upload file that no package refers to");
                tokio::fs::remove_file(entry.path()).await?;
            }
        }
        for pkg in rows {
            if !tokio::fs::try_exists(self.path_of(&pkg)?)
                .await
                .unwrap_or(false)
            {
                let label = format!("{} {}", pkg.platform, pkg.version);
                tracing::warn!(package = %label, "an uploaded package's file is missing; unlisting it");
                let mut tx = db.begin_write().await?;
                packages::delete(&mut tx, pkg.id).await?;
                self.kept.forget(pkg.id);
                let message = format!("Driver package {label} removed: its file is missing");
                events::insert(
                    &mut tx,
                    kind::DRIVER_PACKAGE_REMOVED,
                    None,
                    &message,
                    Utc::now(),
                )
                .await?;
                tx.commit().await?;
                report.removed.push(label);
            }
        }
        Ok(())
    }

    /// Store an uploaded package: stream to a temporary file while hashing and counting, check it
    /// is a zip for this platform and version, fsync, rename into place, then commit its row.
    /// The stream's errors (see [`crate::error::upload_cut_short`]) end the upload.
    pub async fn upload<S>(
        &self,
        db: &Db,
        platform: Platform,
        version: DriverVersion,
        body: S,
    ) -> Result<DriverPackage>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let too_large = || {
            AppError::PayloadTooLarge(format!(
                "the package is larger than the server's limit of {} MiB (--max-upload-mb)",
                self.max_upload / (1024 * 1024)
            ))
        };
        if db
            .catalog()
            .await?
            .find_version(platform, version)
            .is_some()
        {
            return Err(duplicate(platform, version));
        }
        tokio::fs::create_dir_all(&self.uploads).await?;
        let mut in_flight = InFlight {
            names: self.in_flight.clone(),
            mine: Vec::new(),
        };
        let temp_name = format!(".tmp-{}.part", Uuid::new_v4());
        in_flight.claim(&temp_name);
        let temp_path = self.uploads.join(&temp_name);
        let mut temp = TempFile(Some(temp_path.clone()));
        let mut file = tokio::fs::File::create(&temp_path).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > self.max_upload {
                return Err(too_large());
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        drop(file);
        let sha256 = hex::encode(hasher.finalize());

        let check_path = temp_path.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let file = std::fs::File::open(check_path)?;
            package::check(file, platform, version)
                .map_err(|e| AppError::bad_request("InvalidPackage", e.to_string()))?;
            Ok(())
        })
        .await
        .map_err(AppError::internal)??;

        let file_name = format!("{sha256}.package");
        in_flight.claim(&file_name);
        let final_path = self.uploads.join(&file_name);
        tokio::fs::rename(&temp_path, &final_path).await?;
        temp.0 = None;

        // From here the file is in place: if its row does not commit, it must not stay behind.
        let committed = async {
            sync_dir(&self.uploads).await?;
            let meta = tokio::fs::metadata(&final_path).await?;
            let now = Utc::now();
            let mut tx = db.begin_write().await?;
            let new = packages::NewPackage {
                platform,
                version,
                size,
                sha256: &sha256,
                origin: PackageOrigin::Upload,
                file_name: &file_name,
                file_mtime: &recorded_mtime(&meta, SystemTime::now()),
            };
            let pkg = packages::insert(&mut tx, &new, now).await?;
            let message = format!(
                "Driver package {platform} {version} uploaded ({size} bytes, SHA-256 {sha256})"
            );
            events::insert(&mut tx, kind::DRIVER_PACKAGE_ADDED, None, &message, now).await?;
            tx.commit().await?;
            Ok::<_, AppError>(pkg)
        }
        .await;
        if committed.is_err() {
            // Keep the file if another package has the same bytes; otherwise it is an orphan.
            let shared = db.catalog().await.map_or(true, |c| {
                c.list(None).iter().any(|p| p.file_name == file_name)
            });
            if !shared {
                let _ = tokio::fs::remove_file(&final_path).await;
            }
        }
        committed
    }

    /// Open a package's file for serving. If the file changed since it was indexed, it is
    /// re-hashed first, so a download never carries the old size, tag or digest.
    ///
    /// `want` (a start and a length) are the bytes to send. They come as [`Content::Bytes`] when
    /// the file is as indexed and they are kept in memory ([`KeptFiles`]), or small
    /// (at most [`PREFETCH_MAX`]: read with the open, in one trip to the blocking pool or none),
    /// or the whole package and it fits the memory budget (read whole and kept; above
    /// [`READ_FIRST_MAX`], kept by a read beside the download, which streams from the file).
    /// Otherwise the content is the open file, for the caller to stream.
    pub async fn open(
        &self,
        db: &Db,
        pkg: Arc<DriverPackage>,
        want: Option<(u64, u64)>,
    ) -> Result<Opened> {
        if let Some(content) = self.kept_range(&pkg, want) {
            return Ok(Opened {
                content,
                pkg,
                rehashed: false,
            });
        }
        // Boxed: the rest waits on the disk and the blocking pool, and its state would make the
        // future of every download large, kept ones too, and each move of a future is a copy.
        Box::pin(self.open_from_disk(db, pkg, want)).await
    }

    /// [`Self::open`] of a package not kept in memory (or no longer as kept).
    async fn open_from_disk(
        &self,
        db: &Db,
        pkg: Arc<DriverPackage>,
        want: Option<(u64, u64)>,
    ) -> Result<Opened> {
        let path = self.path_of(&pkg)?;
        let (indexed_size, indexed_mtime) = (pkg.size, pkg.file_mtime.clone());
        let whole = want == Some((0, pkg.size));
        let mut _loading = None;
        let read_now = match want {
            // As nginx does with every file: open, fstat and a read of a small body from the
            // page cache take microseconds, less than the thread switches of a trip to the
            // blocking pool, which were most of a small download's cost.
            Some((_, len)) if len <= INLINE_MAX => Some(true),
            // A large package is not read whole before its first byte leaves: that would be
            // a second or more from a cold disk. It streams from the file, and is kept by a
            // read beside it.
            Some(_) if whole && self.kept.fits(pkg.size) && pkg.size > READ_FIRST_MAX => {
                self.keep_in_background(&pkg, path.clone());
                None
            }
            Some(_) if whole && self.kept.fits(pkg.size) => {
                _loading = Some(Loading::of(&self.loading, pkg.id).await);
                // Read and kept by the download this one waited for.
                if let Some(content) = self.kept_range(&pkg, want) {
                    return Ok(Opened {
                        content,
                        pkg,
                        rehashed: false,
                    });
                }
                Some(false)
            }
            Some((_, len)) if len <= PREFETCH_MAX => Some(false),
            _ => None,
        };
        let prefetch = want.filter(|_| read_now.is_some());
        let kept_path = path.clone();
        let opened = if read_now == Some(true) {
            open_file(&path, indexed_size, &indexed_mtime, prefetch)
        } else {
            tokio::task::spawn_blocking(move || {
                open_file(&path, indexed_size, &indexed_mtime, prefetch)
            })
            .await
            .map_err(AppError::internal)?
        };
        let OpenFile {
            file,
            meta,
            read,
            unchanged_by_read,
        } = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AppError::NotFound(format!(
                    "the file of driver package {} {} is missing from the repository",
                    pkg.platform, pkg.version
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(bytes) = read {
            if unchanged_by_read {
                self.kept
                    .put(&pkg, kept_path, Identity::of(&meta), bytes.clone());
            }
            return Ok(Opened {
                content: Content::Bytes(bytes),
                pkg,
                rehashed: false,
            });
        }
        let file = tokio::fs::File::from_std(file);
        // fstat of the open file: what we check is what we serve.
        if meta.len() == pkg.size && mtime_is(&meta, &pkg.file_mtime) {
            return Ok(Opened {
                content: Content::File(file),
                pkg,
                rehashed: false,
            });
        }
        // The clone shares the file's offset: hash from the start, and leave it at the start.
        let std_file = file.try_clone().await?.into_std().await;
        let facts = tokio::task::spawn_blocking(move || {
            let mut f = std_file;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))?;
            let facts = hash_reader(f.try_clone()?)?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))?;
            Ok::<_, std::io::Error>(facts)
        })
        .await
        .map_err(AppError::internal)??;
        let changed = facts.sha256 != pkg.sha256 || facts.size != pkg.size;
        let now = Utc::now();
        let mut tx = db.begin_write().await?;
        packages::update_file_facts(&mut tx, pkg.id, facts.size, &facts.sha256, &facts.mtime)
            .await?;
        if changed {
            let message = format!(
                "Driver package {} {} changed on disk; re-indexed (SHA-256 {})",
                pkg.platform, pkg.version, facts.sha256
            );
            events::insert(&mut tx, kind::DRIVER_PACKAGE_CHANGED, None, &message, now).await?;
        }
        tx.commit().await?;
        if changed {
            tracing::warn!(package = %pkg.id, "driver package file changed on disk; re-indexed before serving");
        }
        let pkg = Arc::new(DriverPackage {
            size: facts.size,
            sha256: facts.sha256,
            file_mtime: facts.mtime,
            ..DriverPackage::clone(&pkg)
        });
        Ok(Opened {
            content: Content::File(file),
            pkg,
            rehashed: true,
        })
    }

    /// Read a package whole and keep it, in a task of its own; nothing if it is being read.
    fn keep_in_background(&self, pkg: &DriverPackage, path: PathBuf) {
        let Some(loading) = Loading::try_of(&self.loading, pkg.id) else {
            return;
        };
        let (kept, pkg) = (Arc::clone(&self.kept), pkg.clone());
        tokio::spawn(async move {
            let (size, mtime) = (pkg.size, pkg.file_mtime.clone());
            let kept_path = path.clone();
            let read = tokio::task::spawn_blocking(move || {
                open_file(&path, size, &mtime, Some((0, size)))
            })
            .await;
            match read {
                Ok(Ok(OpenFile {
                    meta,
                    read: Some(bytes),
                    unchanged_by_read: true,
                    ..
                })) => kept.put(&pkg, kept_path, Identity::of(&meta), bytes),
                // Changed on disk, or unreadable: the downloads find out for themselves.
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!(package = %pkg.id, error = %e, "package not kept"),
                Err(e) => tracing::warn!(package = %pkg.id, error = %e, "package read failed"),
            }
            drop(loading);
        });
    }

    /// The bytes `want` of a package kept in memory, if the file on disk is still the one they
    /// were read from: one `stat` of the kept path, and the same inode, change time, size and
    /// modification time as at the read.
    fn kept_range(&self, pkg: &DriverPackage, want: Option<(u64, u64)>) -> Option<Content> {
        let (start, len) = want?;
        let kept = self.kept.get(pkg)?;
        // The bytes were kept only from a file of the index's size and time, and the identity
        // holds the size and the time too: an unchanged identity is a file still as indexed.
        let meta = std::fs::metadata(&kept.path).ok()?;
        if kept.read_from != Identity::of(&meta) {
            return None;
        }
        Some(Content::Bytes(slice(&kept.bytes, start, len)?))
    }
}

/// The largest range [`PackageStore::open`] reads along with the open; longer ones (of packages
/// not kept in memory) are streamed from the file.
pub const PREFETCH_MAX: u64 = 1024 * 1024;

/// The largest package read whole before its first download is answered (to be kept); larger
/// ones are kept by a read beside their first download.
const READ_FIRST_MAX: u64 = 8 * 1024 * 1024;

/// The most [`PackageStore::open`] reads without leaving the async thread.
const INLINE_MAX: u64 = 256 * 1024;

/// A package file opened and checked against its indexed size and time.
struct OpenFile {
    file: std::fs::File,
    meta: std::fs::Metadata,
    /// The bytes asked for, read when the file is as indexed.
    read: Option<Bytes>,
    /// No write to the file was seen during the read (the same inode and change time after it):
    /// the bytes may be kept.
    unchanged_by_read: bool,
}

/// Open a package file, and read `prefetch` (a start and a length) when it is as indexed.
fn open_file(
    path: &Path,
    indexed_size: u64,
    indexed_mtime: &str,
    prefetch: Option<(u64, u64)>,
) -> std::io::Result<OpenFile> {
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let unchanged = meta.len() == indexed_size && mtime_is(&meta, indexed_mtime);
    let read = match prefetch {
        Some((start, len)) if unchanged => Some(read_at(&mut file, start, len)?),
        _ => None,
    };
    let unchanged_by_read =
        read.is_some() && Identity::of(&file.metadata()?) == Identity::of(&meta);
    Ok(OpenFile {
        file,
        meta,
        read,
        unchanged_by_read,
    })
}

/// A package ready to serve, with its facts as they are now.
pub struct Opened {
    pub content: Content,
    pub pkg: Arc<DriverPackage>,
    /// The file had changed since it was indexed: `pkg` holds its new size and hash (and the
    /// content is the file).
    pub rehashed: bool,
}

pub enum Content {
    /// The bytes asked for (`prefetch`), read with the open or kept from an earlier read.
    Bytes(Bytes),
    /// The open file, for the caller to read.
    File(tokio::fs::File),
}

/// `len` bytes at `start` of `bytes`, without copying, if they are all there.
fn slice(bytes: &Bytes, start: u64, len: u64) -> Option<Bytes> {
    let start = usize::try_from(start).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= bytes.len()).then(|| bytes.slice(start..end))
}

/// Read exactly `len` bytes at `start`. A file shorter than that is an error, not a short read:
/// the size was checked and the response promises `len` bytes.
pub fn read_at(file: &mut std::fs::File, start: u64, len: u64) -> std::io::Result<Bytes> {
    use std::io::{Read, Seek};
    // Always seek, also to 0: the file may have been read to re-hash it.
    file.seek(std::io::SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len).read_to_end(&mut buf)?;
    if (buf.len() as u64) < len {
        // The file shrank under us after its size was sent: cut the response short rather
        // than pad it, so the client sees an error and not wrong bytes.
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the package file shrank while it was served",
        ));
    }
    Ok(Bytes::from(buf))
}

fn duplicate(platform: Platform, version: DriverVersion) -> AppError {
    AppError::conflict(
        "DuplicatePackage",
        format!("a {platform} driver package version {version} already exists"),
    )
}

/// Make a rename durable: fsync the directory that holds the new name.
async fn sync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(AppError::internal)??;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod loading_tests {
    use super::*;

    #[tokio::test]
    async fn loads_of_one_package_take_turns_and_others_do_not_wait() {
        let loading: LoadLocks = Arc::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = Loading::of(&loading, a).await;
        // Another package: at once.
        let other = tokio::time::timeout(Duration::from_secs(1), Loading::of(&loading, b))
            .await
            .expect("a load of another package waited");
        drop(other);
        // The same package: only after the first is done.
        let second = tokio::spawn({
            let loading = Arc::clone(&loading);
            async move { drop(Loading::of(&loading, a).await) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "two loads of one package at once");
        // The waiter keeps the entry while the first finishes.
        drop(first);
        assert_eq!(loading.lock().unwrap().len(), 1);
        second.await.unwrap();
        assert!(loading.lock().unwrap().is_empty(), "entries left behind");
    }

    #[tokio::test]
    async fn a_load_in_the_background_is_skipped_while_one_runs() {
        let loading: LoadLocks = Arc::default();
        let id = Uuid::new_v4();
        let first = Loading::try_of(&loading, id).expect("no one is loading");
        assert!(Loading::try_of(&loading, id).is_none());
        // A failed try leaves the holder's entry alone.
        assert_eq!(loading.lock().unwrap().len(), 1);
        drop(first);
        assert!(loading.lock().unwrap().is_empty());
        assert!(Loading::try_of(&loading, id).is_some());
    }

    #[tokio::test]
    async fn a_download_that_stops_waiting_leaves_no_entry_for_long() {
        let loading: LoadLocks = Arc::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = Loading::of(&loading, a).await;
        let waiter = tokio::spawn({
            let loading = Arc::clone(&loading);
            async move { drop(Loading::of(&loading, a).await) }
        });
        tokio::task::yield_now().await;
        // The first sees a waiter and leaves the entry; the waiter then goes away.
        drop(first);
        waiter.abort();
        assert!(waiter.await.is_err(), "the waiter ran to the end");
        assert_eq!(loading.lock().unwrap().len(), 1);
        // The next load (of any package) drops the stale entry.
        let other = Loading::try_of(&loading, b).unwrap();
        assert_eq!(loading.lock().unwrap().len(), 1);
        drop(other);
        assert!(loading.lock().unwrap().is_empty());
    }
}

#[cfg(test)]
mod path_tests {
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

    #[test]
    fn a_file_time_matches_its_recorded_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let recorded = mtime_of(&meta);
        assert!(mtime_is(&meta, &recorded));
        assert!(!mtime_is(&meta, &format!("{recorded}0")));
        assert!(!mtime_is(&meta, "unknown"));
    }
}
