//! An uploaded package's file: streamed to a temporary file while hashed and counted against the
//! upload limit, checked, made durable and renamed into place under its SHA-256, with the names
//! it uses claimed so that a rescan does not take them for orphans. The row that lists it is
//! `service::packages::upload`'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::PackageStore;
use super::facts::recorded_mtime;
use super::package;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};

/// The one length rule of an upload: a package of more than this many bytes is refused
/// (`--max-upload-mb`), whether a declared length or the bytes received say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimit(u64);

impl UploadLimit {
    pub fn new(bytes: u64) -> Self {
        Self(bytes)
    }

    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Refuse `len` bytes of package if they are more than the limit.
    pub fn check(self, len: u64) -> Result<()> {
        if len > self.0 {
            return Err(AppError::PayloadTooLarge(format!(
                "the package is larger than the server's limit of {} MiB (--max-upload-mb)",
                self.0 / (1024 * 1024)
            )));
        }
        Ok(())
    }
}

/// Names in the upload directory that uploads in progress own (their temporary file, then their
/// final name until their row is committed), counted: two uploads of the same bytes claim the
/// same final name.
#[derive(Debug, Default)]
pub(super) struct Claims(Mutex<HashMap<String, usize>>);

impl Claims {
    /// Whether an upload in progress owns the name (or the claims cannot be read: then keep it).
    pub(super) fn holds(&self, name: &str) -> bool {
        self.0.lock().map_or(true, |names| names.contains_key(name))
    }
}

/// The names one upload claimed, released when it is dropped.
struct Claimed {
    claims: Arc<Claims>,
    mine: Vec<String>,
}

impl Claimed {
    fn claim(&mut self, name: &str) {
        if let Ok(mut names) = self.claims.0.lock() {
            *names.entry(name.to_owned()).or_default() += 1;
            self.mine.push(name.to_owned());
        }
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if let Ok(mut names) = self.claims.0.lock() {
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

/// Removes a temporary upload file unless the upload completed.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An uploaded package's file, in place under its final name, not yet listed. Its names stay
/// claimed until it is dropped: drop it after its row committed, or after [`Staged::discard`].
pub struct Staged {
    /// What the package is, from its manifest or as given ([`package::identify`]).
    pub platform: Platform,
    pub version: DriverVersion,
    pub size: u64,
    pub sha256: String,
    /// Under the upload directory.
    pub file_name: String,
    path: PathBuf,
    uploads: PathBuf,
    _claimed: Claimed,
}

impl Staged {
    /// Make the rename durable, and the modification time to record.
    pub async fn settle(&self) -> Result<String> {
        sync_dir(&self.uploads).await?;
        let meta = tokio::fs::metadata(&self.path).await?;
        Ok(recorded_mtime(&meta, SystemTime::now()))
    }

    /// Remove the file, whose row did not commit, unless `shared`: another package has the same
    /// bytes, so the same file.
    pub async fn discard(self, shared: bool) {
        if !shared {
            let _ = tokio::fs::remove_file(&self.path).await;
        }
    }
}

impl PackageStore {
    /// The bytes of an upload, as a file in place: streamed to a temporary file while hashed and
    /// counted against [`UploadLimit`], checked to be a zip for this platform and version,
    /// fsynced and renamed to its SHA-256. The stream's errors (see
    /// [`crate::error::upload_cut_short`]) end the upload, and its temporary file goes.
    /// Store an upload's bytes under a temporary name, check it is a package, and name it by its
    /// SHA-256. The platform and version are the manifest's when a package has one (and must
    /// agree with any given), else those given.
    pub async fn stage<S>(
        &self,
        platform: Option<Platform>,
        version: Option<DriverVersion>,
        body: S,
    ) -> Result<Staged>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        tokio::fs::create_dir_all(&self.uploads).await?;
        let mut claimed = Claimed {
            claims: Arc::clone(&self.in_flight),
            mine: Vec::new(),
        };
        let temp_name = format!(".tmp-{}.part", Uuid::new_v4());
        claimed.claim(&temp_name);
        let temp_path = self.uploads.join(&temp_name);
        let mut temp = TempFile(Some(temp_path.clone()));
        let mut file = tokio::fs::File::create(&temp_path).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            self.upload_limit.check(size)?;
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        drop(file);
        let sha256 = hex::encode(hasher.finalize());

        let check_path = temp_path.clone();
        let (platform, version) =
            tokio::task::spawn_blocking(move || -> Result<(Platform, DriverVersion)> {
                let file = std::fs::File::open(check_path)?;
                package::identify(file, platform, version)
                    .map_err(|e| AppError::bad_request("InvalidPackage", e.to_string()))
            })
            .await
            .map_err(AppError::internal)??;

        let file_name = format!("{sha256}.package");
        claimed.claim(&file_name);
        let path = self.uploads.join(&file_name);
        tokio::fs::rename(&temp_path, &path).await?;
        temp.0 = None;
        Ok(Staged {
            platform,
            version,
            size,
            sha256,
            file_name,
            path,
            uploads: self.uploads.clone(),
            _claimed: claimed,
        })
    }
}

/// Make a rename durable: fsync the directory that holds the new name.
async fn sync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(AppError::internal)??;
    Ok(())
}
