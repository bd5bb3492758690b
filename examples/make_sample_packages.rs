//! Writes the sample driver repository, `driver-packages/<platform>/<version>.package`.
//!
//! The committed files were made with `cargo run --example make_sample_packages`; the build is
//! deterministic, and a test checks that the committed files still match it.

use psserver::drivers::package;

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("driver-packages");
    for (platform, version) in psserver::drivers::package::SAMPLES {
        let dir = root.join(platform.as_str());
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{version}.package"));
        std::fs::write(&path, package::build_bytes(*platform, *version))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
