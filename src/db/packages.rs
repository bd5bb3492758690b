//! The driver package index. The files themselves are the package store's (`crate::drivers`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::{Read, WriteTx, conn, parse_col, parse_ts, parse_uuid, ts};
use crate::domain::model::{DriverPackage, PackageOrigin};
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};

#[derive(sqlx::FromRow)]
struct PackageRow {
    id: String,
    platform: String,
    version: String,
    size: i64,
    sha256: String,
    origin: String,
    file_name: String,
    file_mtime: String,
    created_at: String,
}

impl PackageRow {
    fn into_package(self) -> Result<DriverPackage> {
        Ok(DriverPackage {
            id: parse_uuid(&self.id)?,
            platform: parse_col(&self.platform, "platform")?,
            version: parse_col(&self.version, "driver version")?,
            size: u64::try_from(self.size).map_err(AppError::internal)?,
            sha256: self.sha256,
            origin: if self.origin == "sample" {
                PackageOrigin::Sample
            } else {
                PackageOrigin::Upload
            },
            file_name: self.file_name,
            file_mtime: self.file_mtime,
            created_at: parse_ts(&self.created_at)?,
        })
    }
}

fn convert(rows: Vec<PackageRow>) -> Result<Vec<DriverPackage>> {
    rows.into_iter().map(PackageRow::into_package).collect()
}

/// All packages, newest version first within a platform: what [`Catalog`] is made of.
async fn load_all(pool: &SqlitePool) -> Result<Vec<DriverPackage>> {
    let rows = sqlx::query_as(
        "SELECT id, platform, version, size, sha256, origin, file_name, file_mtime, created_at
         FROM driver_packages ORDER BY platform, version_key DESC",
    )
    .fetch_all(pool)
    .await?;
    convert(rows)
}

/// The package index as one snapshot. It is tens of rows and changes only on uploads, rescans
/// and re-hashes, while every download, source view and version check reads it: each of those
/// reads would otherwise be a query, and a query is a round trip to SQLite's thread.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Ordered by platform, then newest version first. Shared: a download takes its package
    /// with a reference count, not a copy of its strings.
    packages: Vec<Arc<DriverPackage>>,
}

impl Catalog {
    /// All packages (of one platform, if given), newest version first within a platform.
    pub fn list(&self, platform: Option<Platform>) -> Vec<Arc<DriverPackage>> {
        self.packages
            .iter()
            .filter(|p| platform.is_none_or(|want| p.platform == want))
            .cloned()
            .collect()
    }

    pub fn get(&self, id: Uuid) -> Result<Arc<DriverPackage>> {
        self.packages
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("driver package {id} not found")))
    }

    pub fn find_version(
        &self,
        platform: Platform,
        version: DriverVersion,
    ) -> Option<Arc<DriverPackage>> {
        self.packages
            .iter()
            .find(|p| p.platform == platform && p.version == version)
            .cloned()
    }

    /// The latest (highest-version) package of a platform.
    pub fn latest(&self, platform: Platform) -> Option<Arc<DriverPackage>> {
        self.packages
            .iter()
            .find(|p| p.platform == platform)
            .cloned()
    }

    /// The latest version of every platform that has a package.
    pub fn latest_versions(&self) -> HashMap<Platform, DriverVersion> {
        let mut latest = HashMap::new();
        for p in &self.packages {
            latest.entry(p.platform).or_insert(p.version);
        }
        latest
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

/// The last [`Catalog`] read, with the catalog generation it was read at.
#[derive(Debug, Default)]
pub struct CatalogCache(std::sync::Mutex<Option<(u64, Arc<Catalog>)>>);

impl CatalogCache {
    /// The catalog as of `generation`, read from `pool` if the one kept is older. The generation
    /// is taken before the read, so a write during it only costs another read later.
    pub async fn get(&self, pool: &SqlitePool, generation: u64) -> Result<Arc<Catalog>> {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((at, catalog)) = lock().as_ref()
            && *at == generation
        {
            return Ok(Arc::clone(catalog));
        }
        let catalog = Arc::new(Catalog {
            packages: load_all(pool).await?.into_iter().map(Arc::new).collect(),
        });
        *lock() = Some((generation, Arc::clone(&catalog)));
        Ok(catalog)
    }
}

/// A package row to insert; its file is already in place.
pub struct NewPackage<'a> {
    pub platform: Platform,
    pub version: DriverVersion,
    pub size: u64,
    pub sha256: &'a str,
    pub origin: PackageOrigin,
    pub file_name: &'a str,
    pub file_mtime: &'a str,
}

/// Insert a package row; a second package for the same platform and version is a conflict.
pub async fn insert(
    tx: &mut WriteTx,
    new: &NewPackage<'_>,
    now: DateTime<Utc>,
) -> Result<DriverPackage> {
    tx.changes_packages();
    let id = Uuid::new_v4();
    let result = sqlx::query(
        "INSERT INTO driver_packages (id, platform, version, version_key, size, sha256, origin, file_name, file_mtime, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(new.platform.as_str())
    .bind(new.version.to_string())
    .bind(new.version.sort_key())
    .bind(i64::try_from(new.size).map_err(AppError::internal)?)
    .bind(new.sha256)
    .bind(new.origin.as_str())
    .bind(new.file_name)
    .bind(new.file_mtime)
    .bind(ts(now))
    .execute(tx.conn())
    .await;
    match result {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AppError::conflict(
                "DuplicatePackage",
                format!(
                    "a {} driver package version {} already exists",
                    new.platform, new.version
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let row: PackageRow = sqlx::query_as(
        "SELECT id, platform, version, size, sha256, origin, file_name, file_mtime, created_at
         FROM driver_packages WHERE id = ?",
    )
    .bind(id.to_string())
    .fetch_one(tx.conn())
    .await?;
    row.into_package()
}

/// Record a package file's new size, hash and time after it changed on disk.
pub async fn update_file_facts(
    tx: &mut WriteTx,
    id: Uuid,
    size: u64,
    sha256: &str,
    file_mtime: &str,
) -> Result<()> {
    tx.changes_packages();
    sqlx::query("UPDATE driver_packages SET size = ?, sha256 = ?, file_mtime = ? WHERE id = ?")
        .bind(i64::try_from(size).map_err(AppError::internal)?)
        .bind(sha256)
        .bind(file_mtime)
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn delete(tx: &mut WriteTx, id: Uuid) -> Result<()> {
    tx.changes_packages();
    sqlx::query("DELETE FROM driver_packages WHERE id = ?")
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Unlist every uploaded package (a reset); the rows they were.
pub async fn delete_uploads(tx: &mut WriteTx) -> Result<Vec<DriverPackage>> {
    let uploads = by_origin(tx, PackageOrigin::Upload).await?;
    tx.changes_packages();
    sqlx::query("DELETE FROM driver_packages WHERE origin = 'upload'")
        .execute(tx.conn())
        .await?;
    Ok(uploads)
}

/// Every package row of an origin (for rescans and the start-up reconciliation).
pub async fn by_origin(r: &mut impl Read, origin: PackageOrigin) -> Result<Vec<DriverPackage>> {
    let rows = sqlx::query_as(
        "SELECT id, platform, version, size, sha256, origin, file_name, file_mtime, created_at
         FROM driver_packages WHERE origin = ?",
    )
    .bind(origin.as_str())
    .fetch_all(conn(r))
    .await?;
    convert(rows)
}
