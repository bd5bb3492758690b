//! What the index records of a package file (size, SHA-256, modification time) and how to tell
//! whether a file on disk still matches it.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::{AppError, Result};

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
pub(super) fn mtime_is(meta: &std::fs::Metadata, recorded: &str) -> bool {
    match mtime_nanos(meta) {
        Some(nanos) => itoa::Buffer::new().format(nanos) == recorded,
        None => recorded == "unknown",
    }
}

/// The modification time to record for a file hashed at `hashed_at`. A racy time is recorded
/// marked, so that it never equals the file's time and the next `open` hashes the file again.
pub(super) fn recorded_mtime(meta: &std::fs::Metadata, hashed_at: SystemTime) -> String {
    let plain = mtime_of(meta);
    let racy = meta
        .modified()
        .ok()
        .and_then(|m| m.checked_add(RACY_WINDOW))
        .is_none_or(|m| m > hashed_at);
    if racy { format!("racy:{plain}") } else { plain }
}

/// Hash a file from its current position (blocking: call from `spawn_blocking`).
pub(super) fn hash_reader(mut file: std::fs::File) -> std::io::Result<FileFacts> {
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

pub(super) async fn hash_path(path: PathBuf) -> Result<FileFacts> {
    let facts = tokio::task::spawn_blocking(move || hash_reader(std::fs::File::open(path)?))
        .await
        .map_err(AppError::internal)??;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

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
