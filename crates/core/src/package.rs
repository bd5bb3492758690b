//! The driver package format: a zip archive holding the (fake) driver files and `manifest.json`.
//!
//! Real PlateSpin servers keep numbered `.package` archives; ours add a small manifest so that the
//! server can tell a package for the wrong platform or version from the right one.

use std::io::{Read, Seek, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::platform::{OsFamily, Platform};
use crate::domain::version::DriverVersion;

pub const MANIFEST_NAME: &str = "manifest.json";

/// The sample repository shipped in `driver-packages/`: the agent's bundled 8.0.0.11 for every
/// platform, and a newer windows-x64 8.0.0.12 as on a patched server.
pub const SAMPLES: &[(Platform, DriverVersion)] = &[
    (Platform::WindowsX64, DriverVersion::new(8, 0, 0, 11)),
    (Platform::WindowsX64, DriverVersion::new(8, 0, 0, 12)),
    (Platform::WindowsX86, DriverVersion::new(8, 0, 0, 11)),
    (Platform::LinuxX64, DriverVersion::new(8, 0, 0, 11)),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub product: String,
    pub component: String,
    pub platform: Platform,
    pub version: DriverVersion,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// Why a file is not an acceptable package.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("not a zip archive ({0})")]
    NotZip(String),
    #[error("the package's manifest.json cannot be read: {0}")]
    BadManifest(String),
    #[error("the package's manifest says {found}, but the request says {expected}")]
    Mismatch { expected: String, found: String },
}

/// The fake driver files of a platform, deterministic for a version so that builds repeat.
fn driver_files(platform: Platform, version: DriverVersion) -> Vec<(String, Vec<u8>)> {
    let names: &[&str] = match platform.os_family() {
        OsFamily::Windows => &["psbbt.sys", "psbbt.inf", "psbbt.cat", "psctl.exe"],
        OsFamily::Linux => &["blkwatch.ko", "blkwatch.conf", "psctl"],
    };
    names
        .iter()
        .map(|name| {
            let header = format!(
                "PlateSpin block-based transfer driver (emulated)\nfile: {name}\nplatform: {platform}\nversion: {version}\n"
            );
            // Filler derived from a hash chain: incompressible like a real binary, same every build.
            let mut body = header.into_bytes();
            let mut block = Sha256::digest(format!("{platform}/{version}/{name}").as_bytes());
            while body.len() < 16 * 1024 {
                body.extend_from_slice(&block);
                block = Sha256::digest(block);
            }
            (name.to_string(), body)
        })
        .collect()
}

/// Build a package for `platform` and `version` into `out`.
pub fn build<W: Write + Seek>(
    out: W,
    platform: Platform,
    version: DriverVersion,
) -> zip::result::ZipResult<W> {
    let files = driver_files(platform, version);
    let manifest = Manifest {
        product: "PlateSpin Migrate".into(),
        component: "Block-based transfer drivers".into(),
        platform,
        version,
        files: files
            .iter()
            .map(|(name, data)| ManifestFile {
                name: name.clone(),
                size: data.len() as u64,
                sha256: hex::encode(Sha256::digest(data)),
            })
            .collect(),
    };
    // A fixed time keeps the archive's bytes, and so its SHA-256, the same on every build.
    let time = zip::DateTime::from_date_and_time(2026, 1, 1, 0, 0, 0).unwrap_or_default();
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(time);
    let mut zip = zip::ZipWriter::new(out);
    zip.start_file(MANIFEST_NAME, options)?;
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    zip.write_all(&json)?;
    for (name, data) in &files {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(data)?;
    }
    zip.finish()
}

/// Build a package in memory.
pub fn build_bytes(platform: Platform, version: DriverVersion) -> Vec<u8> {
    build(std::io::Cursor::new(Vec::new()), platform, version)
        .map(std::io::Cursor::into_inner)
        .unwrap_or_default()
}

/// Check that `reader` holds a zip archive and, if it carries a manifest, that the manifest is for
/// `platform` and `version`. Returns the manifest when there is one.
pub fn check<R: Read + Seek>(
    reader: R,
    platform: Platform,
    version: DriverVersion,
) -> Result<Option<Manifest>, PackageError> {
    let mut archive =
        zip::ZipArchive::new(reader).map_err(|e| PackageError::NotZip(e.to_string()))?;
    let manifest = match archive.by_name(MANIFEST_NAME) {
        Ok(file) => {
            // The manifest is small; refuse a "manifest" that would fill memory.
            let mut text = String::new();
            file.take(1024 * 1024)
                .read_to_string(&mut text)
                .map_err(|e| PackageError::BadManifest(e.to_string()))?;
            serde_json::from_str::<Manifest>(&text)
                .map_err(|e| PackageError::BadManifest(e.to_string()))?
        }
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(PackageError::NotZip(e.to_string())),
    };
    if manifest.platform != platform || manifest.version != version {
        return Err(PackageError::Mismatch {
            expected: format!("{platform} {version}"),
            found: format!("{} {}", manifest.platform, manifest.version),
        });
    }
    Ok(Some(manifest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const V: DriverVersion = DriverVersion::new(8, 0, 0, 11);

    #[test]
    fn build_is_deterministic_and_checks() {
        let a = build_bytes(Platform::WindowsX64, V);
        assert_eq!(a, build_bytes(Platform::WindowsX64, V));
        let manifest = check(Cursor::new(&a), Platform::WindowsX64, V)
            .unwrap()
            .unwrap();
        assert_eq!(manifest.files.len(), 4);
        assert_ne!(
            a,
            build_bytes(Platform::WindowsX64, DriverVersion::new(8, 0, 0, 12))
        );
    }

    #[test]
    fn committed_samples_match_the_build() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../driver-packages");
        for (platform, version) in SAMPLES {
            let path = root
                .join(platform.as_str())
                .join(format!("{version}.package"));
            let committed =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                committed,
                build_bytes(*platform, *version),
                "{} is stale: cargo run --example make_sample_packages",
                path.display()
            );
        }
    }

    #[test]
    fn check_refuses_wrong_platform_version_and_non_zip() {
        let a = build_bytes(Platform::LinuxX64, V);
        assert!(matches!(
            check(Cursor::new(&a), Platform::WindowsX64, V),
            Err(PackageError::Mismatch { .. })
        ));
        assert!(matches!(
            check(Cursor::new(b"not a zip at all"), Platform::LinuxX64, V),
            Err(PackageError::NotZip(_))
        ));
        assert!(matches!(
            check(Cursor::new(&a[..a.len() / 2]), Platform::LinuxX64, V),
            Err(PackageError::NotZip(_))
        ));
    }
}
