//! A rescan's look at the files: what the sample repository and the upload directory hold against
//! the index's rows. It reads, checks and hashes files, and removes upload files that no row and
//! no upload in progress owns; the changes it finds are written to the index, with their events,
//! by `service::packages::rescan`, in one transaction.

use super::PackageStore;
use super::facts::{FileFacts, hash_path};
use super::package;
use crate::domain::model::DriverPackage;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};

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

/// A change to the index that the files call for.
#[derive(Debug)]
pub enum Change {
    /// A sample package the index does not have, checked to be a package of its platform and
    /// version. `file_name` is its canonical name under the sample repository.
    Add {
        platform: Platform,
        version: DriverVersion,
        file_name: String,
        facts: FileFacts,
    },
    /// A sample package's file has other facts than indexed: `changed` when its content changed,
    /// not only its modification time.
    Refresh {
        pkg: DriverPackage,
        facts: FileFacts,
        changed: bool,
    },
    /// A package whose file is gone.
    Remove { pkg: DriverPackage, why: Gone },
}

/// Why a package's file is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// A sample package's file left the sample repository.
    LeftSamples,
    /// An uploaded package's file is missing from the upload directory.
    Missing,
}

/// The changes a rescan found, in the order to apply them (uploads first: a sample package may
/// take the place of an upload whose file is gone), and the files it skipped.
#[derive(Debug, Default)]
pub struct Survey {
    pub changes: Vec<Change>,
    pub skipped: Vec<String>,
}

impl PackageStore {
    /// The right to rescan: one rescan at a time, so that two never add or remove the same
    /// package twice. Held from the survey to the commit of its changes.
    pub async fn rescan_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rescan_lock.lock().await
    }

    /// Compare the files with the index's rows (`uploads` and `samples`, by origin), and remove
    /// left-over temporary and orphan upload files. Call with [`Self::rescan_turn`] held.
    pub async fn survey(
        &self,
        uploads: Vec<DriverPackage>,
        samples: Vec<DriverPackage>,
    ) -> Result<Survey> {
        let mut survey = Survey::default();
        self.survey_uploads(uploads, &mut survey).await?;
        self.survey_samples(samples, &mut survey).await?;
        Ok(survey)
    }

    async fn survey_uploads(&self, rows: Vec<DriverPackage>, survey: &mut Survey) -> Result<()> {
        tokio::fs::create_dir_all(&self.uploads).await?;
        let mut entries = tokio::fs::read_dir(&self.uploads).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let referenced = rows.iter().any(|p| p.file_name == name);
            if !referenced && !self.in_flight.holds(&name) {
                // An interrupted upload's temporary file, or a file whose row never committed.
                tracing::warn!(file = %name, "removing an upload file that no package refers to");
                tokio::fs::remove_file(entry.path()).await?;
            }
        }
        for pkg in rows {
            if !self.file_exists(&pkg).await? {
                tracing::warn!(package = %label(&pkg), "an uploaded package's file is missing; unlisting it");
                survey.changes.push(Change::Remove {
                    pkg,
                    why: Gone::Missing,
                });
            }
        }
        Ok(())
    }

    async fn survey_samples(&self, known: Vec<DriverPackage>, survey: &mut Survey) -> Result<()> {
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
                    Ok(version) => found.push((platform, version, name)),
                    Err(e) => survey
                        .skipped
                        .push(format!("{platform}/{name}: the file name's version {e}")),
                }
            }
        }
        for (platform, version, name) in found {
            let canonical = format!("{platform}/{version}.package");
            // `8.0.0.011.package` is the same version as `8.0.0.11.package`; index one name only.
            if name != format!("{version}.package") {
                survey.skipped.push(format!(
                    "{platform}/{name}: name it {version}.package (the canonical form of its version)"
                ));
                continue;
            }
            let path = self.samples.join(&canonical);
            let facts = match hash_path(path.clone()).await {
                Ok(f) => f,
                Err(e) => {
                    survey
                        .skipped
                        .push(format!("{canonical}: {}", e.public_message()));
                    continue;
                }
            };
            let indexed = known
                .iter()
                .find(|p| p.platform == platform && p.version == version);
            match indexed {
                Some(pkg) => {
                    let changed = pkg.sha256 != facts.sha256 || pkg.size != facts.size;
                    if changed || pkg.file_mtime != facts.mtime {
                        survey.changes.push(Change::Refresh {
                            pkg: pkg.clone(),
                            facts,
                            changed,
                        });
                    }
                }
                None => {
                    let checked = tokio::task::spawn_blocking(move || {
                        std::fs::File::open(path)
                            .map_err(|e| e.to_string())
                            .and_then(|f| {
                                package::check(f, platform, version).map_err(|e| e.to_string())
                            })
                    })
                    .await
                    .map_err(AppError::internal)?;
                    match checked {
                        Ok(_) => survey.changes.push(Change::Add {
                            platform,
                            version,
                            file_name: canonical,
                            facts,
                        }),
                        Err(why) => survey.skipped.push(format!("{canonical}: {why}")),
                    }
                }
            }
        }
        // Sample packages whose file is gone are no longer offered.
        for pkg in known {
            if !self.file_exists(&pkg).await? {
                survey.changes.push(Change::Remove {
                    pkg,
                    why: Gone::LeftSamples,
                });
            }
        }
        Ok(())
    }

    async fn file_exists(&self, pkg: &DriverPackage) -> Result<bool> {
        Ok(tokio::fs::try_exists(self.path_of(pkg)?)
            .await
            .unwrap_or(false))
    }
}

impl Change {
    /// The package it is about, as the report and the events name it: "linux-x64 8.0.0.11".
    pub fn label(&self) -> String {
        match self {
            Self::Add {
                platform, version, ..
            } => format!("{platform} {version}"),
            Self::Refresh { pkg, .. } | Self::Remove { pkg, .. } => label(pkg),
        }
    }
}

fn label(pkg: &DriverPackage) -> String {
    format!("{} {}", pkg.platform, pkg.version)
}
