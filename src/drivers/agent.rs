//! The Migrate Agent binary the Downloads page offers, as the product's Downloads tab offers its
//! agent: this build's `migrate-agent` (`--agent-binary`, else the file of that name beside the
//! running `psserver`, where cargo and the Docker image put it).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::{AppError, Result};

/// The binary, with the facts the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBinary {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// The file to offer: the configured one, or `migrate-agent` beside this executable.
pub fn location(configured: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(path) => Some(path.to_owned()),
        None => std::env::current_exe()
            .ok()
            .map(|exe| exe.with_file_name("migrate-agent")),
    }
}

/// The binary at `path` if there is one. Its SHA-256 is computed once for each (size, time) the
/// file has: a rebuilt agent is hashed again, an unchanged one never.
pub async fn find(path: &Path) -> Result<Option<AgentBinary>> {
    static KNOWN: Mutex<Option<(PathBuf, u64, SystemTime, String)>> = Mutex::new(None);
    let meta = match tokio::fs::metadata(path).await {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let (size, modified) = (meta.len(), meta.modified()?);
    let cached = KNOWN
        .lock()
        .map_err(|_| AppError::internal("the agent binary's cache is poisoned"))?
        .as_ref()
        .filter(|(p, s, m, _)| p == path && *s == size && *m == modified)
        .map(|(_, _, _, sha)| sha.clone());
    let sha256 = match cached {
        Some(sha) => sha,
        None => {
            let owned = path.to_owned();
            let sha = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                let mut file = std::fs::File::open(owned)?;
                let mut hasher = Sha256::new();
                std::io::copy(&mut file, &mut hasher)?;
                Ok(hex::encode(hasher.finalize()))
            })
            .await
            .map_err(AppError::internal)??;
            if let Ok(mut known) = KNOWN.lock() {
                *known = Some((path.to_owned(), size, modified, sha.clone()));
            }
            sha
        }
    };
    Ok(Some(AgentBinary {
        path: path.to_owned(),
        size,
        sha256,
    }))
}
