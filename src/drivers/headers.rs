//! The headers of a download that follow from the package's content and name alone (validators,
//! digest, type, file name), made once per package and kept in the store: they die with the
//! state that owns the store, and a package's go when it leaves the index.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use uuid::Uuid;

use super::PackageStore;
use crate::domain::model::DriverPackage;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};

/// A package's fixed download headers. Formatting and checking them is a large share of a small
/// download's work (bench/RESULTS.md), so they are made once and cloned into each answer.
#[derive(Debug)]
pub struct FixedHeaders {
    /// What they were made from: a file changed on disk gets a new SHA-256, and new headers.
    sha256: String,
    platform: Platform,
    version: DriverVersion,
    /// `"<sha256>"`, as range requests compare it.
    pub etag: String,
    /// The headers of every answer: `ETag`, `Accept-Ranges`, `Cache-Control` and `Repr-Digest`.
    /// Cloned per response, which costs two allocations where inserting them one by one
    /// hashed each name and grew the map twice.
    pub validators: HeaderMap,
    /// Those and the ones of an answer with content: `Content-Type`, `Content-Disposition`.
    pub content: HeaderMap,
}

/// The [`FixedHeaders`] made, by package id.
#[derive(Debug, Default)]
pub(super) struct HeaderCache(Mutex<HashMap<Uuid, Arc<FixedHeaders>>>);

/// More entries than any repository holds packages: past it the cache starts again, so that
/// ids that come and go (uploads, resets) cannot grow it without bound.
const HEADERS_MAX: usize = 4096;

impl HeaderCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<FixedHeaders>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn forget(&self, id: Uuid) {
        self.lock().remove(&id);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl PackageStore {
    /// The fixed download headers of a package as it is indexed now: the ones made before if
    /// they were made from the same hash, platform and version.
    pub fn fixed_headers(&self, pkg: &DriverPackage) -> Result<Arc<FixedHeaders>> {
        if let Some(made) = self.headers.lock().get(&pkg.id)
            && made.sha256 == pkg.sha256
            && (made.platform, made.version) == (pkg.platform, pkg.version)
        {
            return Ok(Arc::clone(made));
        }
        let made = Arc::new(FixedHeaders::make(pkg)?);
        let mut kept = self.headers.lock();
        if kept.len() >= HEADERS_MAX {
            kept.clear();
        }
        kept.insert(pkg.id, Arc::clone(&made));
        Ok(made)
    }

    /// How many packages' fixed headers the store holds now.
    pub fn fixed_headers_held(&self) -> usize {
        self.headers.len()
    }
}

impl FixedHeaders {
    fn make(pkg: &DriverPackage) -> Result<Self> {
        let digest = hex::decode(&pkg.sha256).map_err(AppError::internal)?;
        let etag = format!("\"{}\"", pkg.sha256);
        // Room for what every response gets later (length, range, request id, version, date):
        // the clones never grow.
        let mut validators = HeaderMap::with_capacity(16);
        validators.insert(header::ETAG, header_value(etag.clone())?);
        validators.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        validators.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // RFC 9530: the digest of the whole representation, also on partial responses.
        validators.insert(
            header::HeaderName::from_static("repr-digest"),
            header_value(format!(
                "sha-256=:{}:",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ))?,
        );
        let mut content = validators.clone();
        content.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        );
        content.insert(
            header::CONTENT_DISPOSITION,
            header_value(format!("attachment; filename=\"{}\"", pkg.download_name()))?,
        );
        Ok(Self {
            sha256: pkg.sha256.clone(),
            platform: pkg.platform,
            version: pkg.version,
            etag,
            validators,
            content,
        })
    }
}

fn header_value(text: String) -> Result<HeaderValue> {
    HeaderValue::try_from(text).map_err(AppError::internal)
}
