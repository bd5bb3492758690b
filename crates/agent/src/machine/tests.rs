use super::*;
use migrate_core::domain::version::DriverVersion;

fn dir() -> (tempfile::TempDir, StateDir) {
    let tmp = tempfile::tempdir().unwrap();
    let state = StateDir::resolve(Some(tmp.path().join("a").join("b"))).unwrap();
    (tmp, state)
}

#[test]
fn first_use_creates_the_directory_and_a_windows_machine() {
    let (_tmp, dir) = dir();
    assert_eq!(dir.load().unwrap(), None);
    let m = dir.open(None, None).unwrap();
    assert_eq!(m.platform, Platform::WindowsX64);
    assert!(m.host_name.starts_with("WIN-"), "{}", m.host_name);
    assert!(m.ip_address.starts_with("192.0.2."));
    assert_eq!(dir.load().unwrap(), Some(m.clone()));
    // The same machine next time, and no temp file left behind.
    assert_eq!(dir.open(None, None).unwrap(), m);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}"); // machine.json and the log
}

#[test]
fn kind_must_match_and_host_name_renames() {
    let (_tmp, dir) = dir();
    let linux = MachineKind {
        os: OsFamily::Linux,
        platform: Platform::LinuxX64,
    };
    let m = dir.open(Some(linux), Some("db01".into())).unwrap();
    assert_eq!(
        (m.os_family, m.host_name.as_str()),
        (OsFamily::Linux, "db01")
    );
    let windows = MachineKind {
        os: OsFamily::Windows,
        platform: Platform::WindowsX64,
    };
    let err = dir.open(Some(windows), None).unwrap_err();
    assert!(
        matches!(err, AgentError::Usage(ref m) if m.contains("linux-x64 machine")),
        "{err}"
    );
    let m = dir.open(Some(linux), Some("db02".into())).unwrap();
    assert_eq!(m.host_name, "db02");
    assert_eq!(dir.load().unwrap().unwrap().host_name, "db02");
}

#[test]
fn a_corrupt_file_is_reported_and_left_alone() {
    let (_tmp, dir) = dir();
    fs::create_dir_all(dir.path()).unwrap();
    for bad in [
        "{ not json".to_owned(),
        serde_json::to_string(&Machine {
            format: 9,
            ..Machine::new(None, None)
        })
        .unwrap(),
        serde_json::to_string(&Machine {
            os_family: OsFamily::Linux,
            ..Machine::new(None, None)
        })
        .unwrap(),
        serde_json::to_string(&Machine {
            os_family: OsFamily::Linux,
            platform: Platform::LinuxX64,
            driver: DriverState {
                installed: Some(DriverVersion::new(8, 0, 0, 11)),
                running: None,
            },
            ..Machine::new(None, None)
        })
        .unwrap(),
    ] {
        fs::write(dir.state_file(), &bad).unwrap();
        let err = dir.open(None, None).unwrap_err();
        assert!(
            matches!(err, AgentError::Failed(ref m) if m.contains("is corrupt")),
            "{err}"
        );
        assert_eq!(fs::read_to_string(dir.state_file()).unwrap(), bad);
    }
}

#[test]
fn log_keeps_the_last_lines() {
    let (_tmp, dir) = dir();
    assert!(dir.log_tail(5).unwrap().is_empty());
    for i in 0..10 {
        dir.log(&format!("line {i}"));
    }
    let tail = dir.log_tail(3).unwrap();
    assert_eq!(tail.len(), 3);
    assert!(tail[2].ends_with("line 9"), "{tail:?}");
}
