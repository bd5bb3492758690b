//! The commands in-process, with the bundled drivers (no server): exact transcripts and exit codes.

use super::*;

struct Run {
    code: u8,
    out: String,
    err: String,
}

fn agent(dir: &std::path::Path, args: &[&str]) -> Run {
    let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    argv.push("--state-dir".into());
    argv.push(dir.into());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = main(&argv, None, &mut out, &mut err, false);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

const STATUS_STEPS: &str = "Step 1 of 2: Querying the PlateSpin controller service\n   Done\nStep 2 of 2: Querying the installed PlateSpin driver version\n   Done\n\nThe task completed successfully\nPlateSpin Controller Service Status\n    The PlateSpin Controller service is not installed\n   \n";

fn status_text(installed: &str, running: &str, upgrade: &str) -> String {
    format!(
        "{STATUS_STEPS}PlateSpin Driver Status\n    Installed Driver Version: {installed}\n    Running Driver Version: {running}\n    Upgrade Available: {upgrade}\n"
    )
}

#[test]
fn the_windows_story_with_the_bundled_driver() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("machine");

    let r = agent(&dir, &["status"]);
    assert_eq!(
        (r.code, r.out.as_str()),
        (
            0,
            status_text("Not installed", "Not running", "No").as_str()
        )
    );

    let r = agent(&dir, &["din"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(
        r.out,
        "Step 1 of 4: Locating the bundled windows-x64 driver package\n   Done\n\
         Step 2 of 4: Checking the installed PlateSpin driver\n   Done\n\
         Step 3 of 4: Unpacking the bundled PlateSpin driver package 8.0.0.11\n   Done\n\
         Step 4 of 4: Installing the PlateSpin driver 8.0.0.11\n   Done\n\n\
         The task completed successfully\nPlateSpin Driver Status\n    Installed Driver Version: 8.0.0.11\n    Running Driver Version: Not running. Reboot to load the driver.\n"
    );

    // Exactly the user guide's example.
    let r = agent(&dir, &["status"]);
    assert_eq!(
        r.out,
        status_text("8.0.0.11", "Not running. Reboot to load the driver.", "No")
    );

    // Installing again is refused and changes nothing.
    let r = agent(&dir, &["driver-install"]);
    assert_eq!(r.code, 1);
    assert!(
        r.out.contains("Step 2 of 4: Checking the installed PlateSpin driver\n   Failed: a driver is already installed (version 8.0.0.11)"),
        "{}",
        r.out
    );
    assert!(r.out.ends_with("\nThe task failed\n"), "{}", r.out);
    // The step showed why on stdout: said once, so nothing on stderr.
    assert_eq!(r.err, "");

    // The bundled driver is the latest the agent knows: no upgrade.
    let r = agent(&dir, &["dup"]);
    assert_eq!(r.code, 1);
    assert!(
        r.out
            .contains("is already the latest (the one bundled with this agent)"),
        "{}",
        r.out
    );

    let r = agent(&dir, &["reboot"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.starts_with("Step 1 of 1: Restarting WIN-"),
        "{}",
        r.out
    );
    let r = agent(&dir, &["status"]);
    assert_eq!(r.out, status_text("8.0.0.11", "8.0.0.11", "No"));

    let r = agent(&dir, &["dun"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let r = agent(&dir, &["status"]);
    assert_eq!(
        r.out,
        status_text(
            "Not installed",
            "8.0.0.11. Reboot to unload the driver.",
            "No"
        )
    );
    let r = agent(&dir, &["driver-uninstall"]);
    assert_eq!(r.code, 1);
    assert!(
        r.out
            .contains("Failed: no driver is installed; there is nothing to uninstall"),
        "{}",
        r.out
    );
    agent(&dir, &["reboot"]);
    let r = agent(&dir, &["status"]);
    assert_eq!(r.out, status_text("Not installed", "Not running", "No"));

    let r = agent(&dir, &["logs"]);
    assert_eq!(r.code, 0);
    assert!(
        r.out
            .contains(&format!("State directory: {}", dir.display())),
        "{}",
        r.out
    );
    assert!(r.out.contains("driver-uninstall: Step 1 of 2: Checking the installed PlateSpin driver: failed: no driver is installed"), "{}", r.out);
}

#[test]
fn linux_loads_and_unloads_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let r = agent(dir, &["din", "--os", "linux", "--host-name", "db01"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out
            .contains("Locating the bundled linux-x64 driver package"),
        "{}",
        r.out
    );
    let r = agent(dir, &["status"]);
    assert!(r.out.ends_with("    Installed Driver Version: 8.0.0.11\n    Running Driver Version: 8.0.0.11\n    Upgrade Available: No\n"), "{}", r.out);
    agent(dir, &["dun"]);
    let r = agent(dir, &["status"]);
    assert!(
        r.out.contains("Running Driver Version: Not running\n"),
        "{}",
        r.out
    );
    // The machine stays the machine it is.
    let r = agent(dir, &["status", "--platform", "windows-x86"]);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains("is a linux-x64 machine, not windows-x86"),
        "{}",
        r.err
    );
}

#[test]
fn usage_errors_exit_2_with_the_usage() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["frobnicate"][..],
        &["status", "/x=1"],
        &["status", "--nope"],
        &["register"],
    ] {
        let r = agent(tmp.path(), args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(
            r.err.contains("Usage: migrate-agent <command>"),
            "{}",
            r.err
        );
        assert!(r.out.is_empty());
    }
    for help in ["help", "h", "?"] {
        let r = agent(tmp.path(), &[help]);
        assert_eq!(
            (r.code, r.out.as_str(), r.err.as_str()),
            (0, args::USAGE, "")
        );
    }
}

#[test]
fn no_arguments_is_a_usage_error() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = main(&[], None, &mut out, &mut err, false);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert_eq!(
        String::from_utf8(err).unwrap(),
        format!("migrate-agent: give a command\n\n{}", args::USAGE)
    );
}

#[test]
fn a_corrupt_state_file_fails_the_task_and_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("machine.json"), "{\"format\": 1").unwrap();
    let r = agent(tmp.path(), &["status"]);
    assert_eq!(r.code, 1);
    // No step failed, so stdout says only that the task failed and stderr says why.
    assert_eq!(r.out, "The task failed\n");
    assert!(r.err.starts_with("migrate-agent: "), "{}", r.err);
    assert!(r.err.contains("machine.json is corrupt"), "{}", r.err);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("machine.json")).unwrap(),
        "{\"format\": 1"
    );
}

#[test]
fn an_unreachable_server_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = agent(
        tmp.path(),
        &["status", &format!("/psserver=127.0.0.1:{port}")],
    );
    assert_eq!(r.code, 1);
    let expected = format!("cannot reach the PlateSpin Server at http://127.0.0.1:{port}: ");
    assert!(
        r.out.contains(&format!("   Failed: {expected}")),
        "{}",
        r.out
    );
    assert!(
        r.out.to_lowercase().contains("connection refused"),
        "{}",
        r.out
    );
    assert_eq!(r.out.matches(&expected).count(), 1, "{}", r.out);
    assert_eq!(r.err, "");
}

#[test]
fn an_unreadable_ca_certificate_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.pem");
    let r = agent(
        tmp.path(),
        &[
            "status",
            "/psserver=https://127.0.0.1:1",
            "--ca-cert",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.err.contains("cannot read --ca-cert"), "{}", r.err);
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let r = agent(
        tmp.path(),
        &[
            "status",
            "/psserver=https://127.0.0.1:1",
            "--ca-cert",
            junk.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("holds no certificate") || r.err.contains("is not PEM"),
        "{}",
        r.err
    );
}
