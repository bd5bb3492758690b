//! The tools `psserver` runs instead of serving: `psserver package build` writes a driver package
//! to patch a server with (the README's patch flow).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::{PackageTool, Tool};
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::drivers::package;

/// Run `tool`; what to print on success, or why it failed.
pub fn run(tool: &Tool) -> Result<String, String> {
    match tool {
        Tool::Package(PackageTool::Build {
            platform,
            version,
            from,
            output,
        }) => build(platform, version, from.as_deref(), output),
    }
}

/// The most a driver directory may hold: the server's default upload limit.
const MAX_BYTES: u64 = 512 * 1024 * 1024;

fn build(
    platform: &str,
    version: &str,
    from: Option<&Path>,
    output: &Path,
) -> Result<String, String> {
    let platform: Platform = platform.parse().map_err(|e| format!("--platform: {e}"))?;
    let version: DriverVersion = version
        .parse()
        .map_err(|e| format!("--version: driver version {version:?} {e}"))?;
    let files = match from {
        Some(dir) => read_drivers(dir)?,
        None => Vec::new(),
    };
    let temp = output.with_file_name(format!(
        ".{}.part",
        output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "package".into())
    ));
    let written = (|| -> Result<(), String> {
        let file = std::fs::File::create(&temp).map_err(|e| format!("{}: {e}", temp.display()))?;
        let file = if files.is_empty() {
            package::build(file, platform, version)
        } else {
            package::build_with(file, platform, version, &files)
        }
        .map_err(|e| format!("{}: {e}", output.display()))?;
        file.sync_all()
            .map_err(|e| format!("{}: {e}", output.display()))?;
        std::fs::rename(&temp, output).map_err(|e| format!("{}: {e}", output.display()))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let bytes = std::fs::read(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let count = match files.len() {
        0 => "emulated driver files".to_owned(),
        n => format!(
            "{n} file(s) from {}",
            from.map(|d| d.display().to_string()).unwrap_or_default()
        ),
    };
    Ok(format!(
        "wrote {}: {platform} {version}, {count}, {} bytes, SHA-256 {}",
        output.display(),
        bytes.len(),
        hex::encode(Sha256::digest(&bytes))
    ))
}

/// The regular files at the top of `dir`, by name; `manifest.json` is the package's own.
fn read_drivers(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("--from {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    let mut total = 0u64;
    for entry in entries {
        let entry = entry.map_err(|e| format!("--from {}: {e}", dir.display()))?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("--from: {n:?} is not a UTF-8 name"))?;
        if name == package::MANIFEST_NAME {
            return Err(format!(
                "--from: {} holds a {name}; the package's manifest is written by this tool",
                dir.display()
            ));
        }
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        total += data.len() as u64;
        if total > MAX_BYTES {
            return Err(format!(
                "--from: {} holds more than {} MiB of files",
                dir.display(),
                MAX_BYTES / (1024 * 1024)
            ));
        }
        files.push((name, data));
    }
    if files.is_empty() {
        return Err(format!("--from: {} has no files", dir.display()));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}
