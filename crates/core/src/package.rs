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
    #[error("the package has no manifest.json to read its {0} from: give it")]
    Unidentified(&'static str),
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

/// Build a package for `platform` and `version` into `out`, with the emulated driver files.
pub fn build<W: Write + Seek>(
    out: W,
    platform: Platform,
    version: DriverVersion,
) -> zip::result::ZipResult<W> {
    build_with(out, platform, version, &driver_files(platform, version))
}

/// Build a package for `platform` and `version` into `out` holding `files` (name, bytes), listed
/// in its manifest with their sizes and SHA-256.
pub fn build_with<W: Write + Seek>(
    out: W,
    platform: Platform,
    version: DriverVersion,
    files: &[(String, Vec<u8>)],
) -> zip::result::ZipResult<W> {
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
    for (name, data) in files {
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
    let manifest = read_manifest(reader)?;
    if let Some(manifest) = &manifest
        && (manifest.platform != platform || manifest.version != version)
    {
        return Err(PackageError::Mismatch {
            expected: format!("{platform} {version}"),
            found: format!("{} {}", manifest.platform, manifest.version),
        });
    }
    Ok(manifest)
}

/// The platform and version of the package in `reader`: its manifest's, which must agree with
/// those given; without a manifest, those given, which must then be both.
pub fn identify<R: Read + Seek>(
    reader: R,
    platform: Option<Platform>,
    version: Option<DriverVersion>,
) -> Result<(Platform, DriverVersion), PackageError> {
    match read_manifest(reader)? {
        Some(manifest) => {
            let found = (manifest.platform, manifest.version);
            if platform.is_some_and(|p| p != found.0) || version.is_some_and(|v| v != found.1) {
                return Err(PackageError::Mismatch {
                    expected: format!(
                        "{} {}",
                        platform.map_or("(any platform)".to_owned(), |p| p.to_string()),
                        version.map_or("(any version)".to_owned(), |v| v.to_string())
                    ),
                    found: format!("{} {}", found.0, found.1),
                });
            }
            Ok(found)
        }
        None => match (platform, version) {
            (Some(platform), Some(version)) => Ok((platform, version)),
            (None, _) => Err(PackageError::Unidentified("platform")),
            (_, None) => Err(PackageError::Unidentified("version")),
        },
    }
}

/// The manifest of the zip archive in `reader`, if it has one.
fn read_manifest<R: Read + Seek>(reader: R) -> Result<Option<Manifest>, PackageError> {
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
    Ok(Some(manifest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const V: DriverVersion = DriverVersion::new(8, 0, 0, 11);

    #[test]
    fn a_package_is_identified_by_its_manifest_or_by_what_is_given() {
        let with = build_bytes(Platform::LinuxX64, V);
        let both = (Platform::LinuxX64, V);
        assert_eq!(identify(Cursor::new(&with), None, None).unwrap(), both);
        assert_eq!(
            identify(Cursor::new(&with), Some(Platform::LinuxX64), None).unwrap(),
            both
        );
        assert!(matches!(
            identify(Cursor::new(&with), Some(Platform::WindowsX64), None),
            Err(PackageError::Mismatch { .. })
        ));
        assert!(matches!(
            identify(
                Cursor::new(&with),
                None,
                Some(DriverVersion::new(8, 0, 0, 12))
            ),
            Err(PackageError::Mismatch { .. })
        ));
        // Without a manifest, both must be given.
        let mut bare = zip::ZipWriter::new(Cursor::new(Vec::new()));
        bare.start_file("psbbt.sys", zip::write::SimpleFileOptions::default())
            .unwrap();
        bare.write_all(b"driver").unwrap();
        let bare = bare.finish().unwrap().into_inner();
        assert_eq!(
            identify(Cursor::new(&bare), Some(Platform::LinuxX64), Some(V)).unwrap(),
            both
        );
        assert!(matches!(
            identify(Cursor::new(&bare), None, Some(V)),
            Err(PackageError::Unidentified("platform"))
        ));
        assert!(matches!(
            identify(Cursor::new(&bare), Some(Platform::LinuxX64), None),
            Err(PackageError::Unidentified("version"))
        ));
        assert!(matches!(
            identify(Cursor::new(b"not a zip"), None, None),
            Err(PackageError::NotZip(_))
        ));
    }

    #[test]
    fn a_package_built_with_given_files_lists_them() {
        let files = vec![("psbbt.sys".to_owned(), b"real bytes".to_vec())];
        let bytes = build_with(Cursor::new(Vec::new()), Platform::WindowsX64, V, &files)
            .unwrap()
            .into_inner();
        let manifest = check(Cursor::new(&bytes), Platform::WindowsX64, V)
            .unwrap()
            .unwrap();
        assert_eq!(manifest.files.len(), 1);
        assert_eq!(manifest.files[0].name, "psbbt.sys");
        assert_eq!(manifest.files[0].size, 10);
        assert_eq!(
            manifest.files[0].sha256,
            hex::encode(Sha256::digest(b"real bytes"))
        );
    }

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
