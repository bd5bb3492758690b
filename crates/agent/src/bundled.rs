//! The drivers bundled in the agent: version 8.0.0.11 for every platform, like an agent that was
//! not patched when the server was (the server's samples add windows-x64 8.0.0.12).

use migrate_core::domain::platform::Platform;
use migrate_core::domain::version::DriverVersion;

pub const VERSION: DriverVersion = DriverVersion::new(8, 0, 0, 11);

const WINDOWS_X64: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../driver-packages/windows-x64/8.0.0.11.package"
));
const WINDOWS_X86: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../driver-packages/windows-x86/8.0.0.11.package"
));
const LINUX_X64: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../driver-packages/linux-x64/8.0.0.11.package"
));

/// The bundled package of a platform: its version and the archive's bytes.
pub fn package(platform: Platform) -> (DriverVersion, &'static [u8]) {
    let bytes = match platform {
        Platform::WindowsX64 => WINDOWS_X64,
        Platform::WindowsX86 => WINDOWS_X86,
        Platform::LinuxX64 => LINUX_X64,
    };
    (VERSION, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_core::package;

    #[test]
    fn bundled_packages_are_the_8_0_0_11_builds_and_check() {
        for platform in Platform::ALL {
            let (version, bytes) = package(platform);
            assert_eq!(version, VERSION);
            assert_eq!(bytes, package::build_bytes(platform, version), "{platform}");
            let manifest = package::check(std::io::Cursor::new(bytes), platform, version).unwrap();
            assert!(manifest.is_some());
        }
    }
}
