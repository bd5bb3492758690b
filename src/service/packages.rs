//! The driver-package use cases: upload a package, rescan the package directory. Each lists its
//! changes and their events in one write transaction; the files are the store's
//! (`crate::drivers`). The JSON handlers and the pages parse the input and render the outcome.

use axum::body::Bytes;
use chrono::Utc;
use futures_util::Stream;

use crate::auth::{Caller, Role};
use crate::db::events::{self, kind};
use crate::db::packages::{self, NewPackage};
use crate::domain::model::{DriverPackage, PackageOrigin};
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::drivers::{Change, Gone, RescanReport};
use crate::error::{AppError, Result};
use crate::state::AppState;

/// Changing the packages is for administrators.
pub fn may_change(caller: &Caller) -> Result<()> {
    if caller.role != Role::Administrator {
        return Err(AppError::Forbidden(format!(
            "user {} may not upload driver packages: administrators only",
            caller.user
        )));
    }
    Ok(())
}

/// How a package's bytes arrive, which says what a request's declared length counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// As the request's body (the API): its length is the package's.
    Body,
    /// As the file field of a multipart form (the pages): its length is the package's and the
    /// form's envelope around it.
    Form,
}

impl Carrier {
    /// What a declared length may hold besides the package. A form's envelope (boundaries, part
    /// headers, the token, platform and version fields) is a few hundred bytes from a browser;
    /// 64 KiB is ample room for any, and a package over the limit by more than that is still
    /// refused before a byte of it is read. The bytes received are counted exactly either way.
    fn envelope(self) -> u64 {
        match self {
            Self::Body => 0,
            Self::Form => 64 * 1024,
        }
    }
}

/// An upload, its input parsed. Platform and version left out are read from the package's
/// manifest (the pages' form); given, they must agree with it (the API requires both).
pub struct Upload<S> {
    pub platform: Option<Platform>,
    pub version: Option<DriverVersion>,
    /// The request's `Content-Length`, if it has one.
    pub declared: Option<u64>,
    pub carrier: Carrier,
    /// The package's bytes; its errors end the upload (see [`crate::error::upload_cut_short`]).
    pub body: S,
}

/// Add an uploaded package: refused at once if its declared length is over the limit or its
/// version is taken, then its file is stored ([`crate::drivers::PackageStore::stage`]), and its
/// row and event committed together. A file whose row does not commit is removed.
pub async fn upload<S>(
    state: &AppState,
    caller: &Caller,
    upload: Upload<S>,
) -> Result<DriverPackage>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    may_change(caller)?;
    let Upload {
        platform,
        version,
        declared,
        carrier,
        body,
    } = upload;
    if let Some(declared) = declared {
        let limit = state.store.upload_limit();
        limit.check(declared.saturating_sub(carrier.envelope()))?;
    }
    // Known before a byte is read: refused at once. Read from the manifest: refused after.
    if let (Some(platform), Some(version)) = (platform, version) {
        refuse_duplicate(state, platform, version).await?;
    }
    let staged = state.store.stage(platform, version, body).await?;
    let (platform, version) = (staged.platform, staged.version);
    let committed = async {
        refuse_duplicate(state, platform, version).await?;
        let file_mtime = staged.settle().await?;
        let now = Utc::now();
        let mut tx = state.db.begin_write().await?;
        let new = NewPackage {
            platform,
            version,
            size: staged.size,
            sha256: &staged.sha256,
            origin: PackageOrigin::Upload,
            file_name: &staged.file_name,
            file_mtime: &file_mtime,
        };
        let pkg = packages::insert(&mut tx, &new, now).await?;
        let message = format!(
            "Driver package {platform} {version} uploaded ({} bytes, SHA-256 {})",
            staged.size, staged.sha256
        );
        events::insert(&mut tx, kind::DRIVER_PACKAGE_ADDED, None, &message, now).await?;
        tx.commit().await?;
        Ok::<_, AppError>(pkg)
    }
    .await;
    match committed {
        Ok(pkg) => {
            tracing::info!(by = %caller.user, package = %pkg.id, %platform, %version, size = pkg.size, "driver package uploaded");
            Ok(pkg)
        }
        Err(e) => {
            // Keep the file if another package has the same bytes; otherwise it is an orphan.
            let shared = state.db.catalog().await.map_or(true, |c| {
                c.list(None).iter().any(|p| p.file_name == staged.file_name)
            });
            staged.discard(shared).await;
            Err(e)
        }
    }
}

async fn refuse_duplicate(
    state: &AppState,
    platform: Platform,
    version: DriverVersion,
) -> Result<()> {
    if state
        .db
        .catalog()
        .await?
        .find_version(platform, version)
        .is_some()
    {
        return Err(AppError::conflict(
            "DuplicatePackage",
            format!("a {platform} driver package version {version} already exists"),
        ));
    }
    Ok(())
}

/// Index the sample repository and reconcile the uploads with their rows: new files are added,
/// changed files re-hashed, vanished files unlisted, left-over temporary and orphan upload files
/// removed. `caller` is `None` for the server's own rescan at start-up.
pub async fn rescan(state: &AppState, caller: Option<&Caller>) -> Result<RescanReport> {
    if let Some(caller) = caller {
        may_change(caller)?;
    }
    let _one_at_a_time = state.store.rescan_turn().await;
    let (uploads, samples) = {
        let mut conn = state.db.reader().await?;
        (
            packages::by_origin(&mut conn, PackageOrigin::Upload).await?,
            packages::by_origin(&mut conn, PackageOrigin::Sample).await?,
        )
    };
    let survey = state.store.survey(uploads, samples).await?;
    let mut report = RescanReport {
        skipped: survey.skipped,
        ..RescanReport::default()
    };
    if !survey.changes.is_empty() {
        apply(state, survey.changes, &mut report).await?;
    }
    if let Some(caller) = caller {
        tracing::info!(by = %caller.user, added = report.added.len(), changed = report.changed.len(), removed = report.removed.len(), "driver packages rescanned");
    }
    Ok(report)
}

/// Write a rescan's changes and their events, in one transaction, and note them in `report`.
async fn apply(state: &AppState, changes: Vec<Change>, report: &mut RescanReport) -> Result<()> {
    let now = Utc::now();
    let mut removed = Vec::new();
    let mut tx = state.db.begin_write().await?;
    for change in changes {
        let label = change.label();
        let event = match change {
            Change::Add {
                platform,
                version,
                file_name,
                facts,
            } => {
                let new = NewPackage {
                    platform,
                    version,
                    size: facts.size,
                    sha256: &facts.sha256,
                    origin: PackageOrigin::Sample,
                    file_name: &file_name,
                    file_mtime: &facts.mtime,
                };
                // A failed statement leaves the transaction as it was (SQLite undoes the
                // statement only), so the rescan goes on without this file.
                match packages::insert(&mut tx, &new, now).await {
                    Ok(_) => {
                        report.added.push(label.clone());
                        Some((
                            kind::DRIVER_PACKAGE_ADDED,
                            format!("Driver package {label} added from the sample repository"),
                        ))
                    }
                    Err(AppError::Conflict { message, .. }) => {
                        report
                            .skipped
                            .push(format!("{file_name}: {message} (uploaded)"));
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
            Change::Refresh {
                pkg,
                facts,
                changed,
            } => {
                packages::update_file_facts(
                    &mut tx,
                    pkg.id,
                    facts.size,
                    &facts.sha256,
                    &facts.mtime,
                )
                .await?;
                changed.then(|| {
                    report.changed.push(label.clone());
                    (
                        kind::DRIVER_PACKAGE_CHANGED,
                        format!(
                            "Driver package {label} changed on disk; re-indexed (SHA-256 {})",
                            facts.sha256
                        ),
                    )
                })
            }
            Change::Remove { pkg, why } => {
                packages::delete(&mut tx, pkg.id).await?;
                report.removed.push(label.clone());
                let reason = match why {
                    Gone::LeftSamples => "its file left the sample repository",
                    Gone::Missing => "its file is missing",
                };
                removed.push(pkg);
                Some((
                    kind::DRIVER_PACKAGE_REMOVED,
                    format!("Driver package {label} removed: {reason}"),
                ))
            }
        };
        if let Some((kind, message)) = event {
            events::insert(&mut tx, kind, None, &message, now).await?;
        }
    }
    tx.commit().await?;
    for pkg in &removed {
        state.store.forget_kept(pkg);
    }
    Ok(())
}
