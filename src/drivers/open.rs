//! Opening a package for a download: from the bytes kept in memory when the file is still the one
//! they were read from, else from the file, checked against the index (and re-hashed, the index
//! and an event written, when it changed on disk), with the bytes to send read along with the
//! open when they are few, or the whole package read to be kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use chrono::Utc;

use super::PackageStore;
use super::facts::{hash_reader, mtime_is};
use super::kept::Identity;
use super::load::Loading;
use crate::db::events::{self, kind};
use crate::db::{Db, packages};
use crate::domain::model::DriverPackage;
use crate::error::{AppError, Result};

impl PackageStore {
    /// Open a package's file for serving. If the file changed since it was indexed, it is
    /// re-hashed first, so a download never carries the old size, tag or digest.
    ///
    /// `want` (a start and a length) are the bytes to send. They come as [`Content::Bytes`] when
    /// the file is as indexed and they are kept in memory ([`super::kept::KeptFiles`]), or small
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
            // page cache cost less than the thread switches of a trip to the blocking pool.
            Some((_, len)) if len <= INLINE_MAX => Some(true),
            // A large package is not read whole before its first byte leaves: from a cold disk
            // that would hold the answer back for as long as the whole read takes. It streams from the file, and is kept by a
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
