//! End-to-end tests of `migrate-agent`: the built binary in a temp state directory, against the
//! server run in-process on a free port (`common`), or a tiny fake server that misbehaves on purpose.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use common::{ADMIN, Server};
use migrate_core::domain::model::{DriverPackage, PackageOrigin};
use migrate_core::domain::{DriverVersion, Platform};
use migrate_core::package::build_bytes;
use migrate_core::wire::PackageView;
use serde_json::Value;
use sha2::{Digest, Sha256};

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "stdout:\n{}\nstderr:\n{}", self.out, self.err);
        self
    }

    fn failed(self) -> Self {
        assert_eq!(self.code, 1, "stdout:\n{}\nstderr:\n{}", self.out, self.err);
        assert!(self.out.ends_with("The task failed\n"), "{}", self.out);
        // The reason is printed once: under the failing step on stdout, else on stderr.
        if self.out.contains("\n   Failed: ") {
            assert_eq!(self.err, "", "stdout already says why:\n{}", self.out);
        } else {
            assert!(self.err.starts_with("migrate-agent: "), "{}", self.err);
        }
        self
    }
}

/// Run the agent with a state directory and `args`.
fn agent(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_migrate-agent"))
        .args(args)
        .env("MIGRATE_AGENT_HOME", dir)
        .output()
        .expect("run migrate-agent");
    Run {
        code: output.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

fn get(server: &Server, path: &str) -> Value {
    let reply = http()
        .get(server.api(path))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .unwrap();
    assert_eq!(reply.status(), 200, "{path}");
    reply.json().unwrap()
}

fn active_tasks(server: &Server, source: &str) -> Vec<Value> {
    let tasks = get(server, &format!("/tasks?sourceId={source}&state=active"));
    tasks["tasks"].as_array().unwrap().clone()
}

/// The source id the agent printed when it registered.
fn source_id(register_output: &str) -> String {
    register_output
        .trim_end()
        .rsplit(" as source ")
        .next()
        .unwrap()
        .to_owned()
}

/// The end of `status`: the user guide's separator line (three spaces) and the driver lines.
fn driver_block(installed: &str, running: &str, upgrade: &str) -> String {
    format!(
        "   \nPlateSpin Driver Status\n    Installed Driver Version: {installed}\n    Running Driver Version: {running}\n    Upgrade Available: {upgrade}\n"
    )
}

#[test]
fn the_seed_story() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("agent-home");
    let ps = format!("/psserver={}", server.addr);

    let r = agent(
        &dir,
        &[
            "register",
            &ps,
            "/username=administrator",
            "/password=platespin",
        ],
    )
    .ok();
    assert!(
        r.out.starts_with("Step 1 of 3: Registering WIN-"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("Step 2 of 3: Installing the PlateSpin controller service\n   Done\n")
    );
    assert!(r.out.contains(
        "\nThe task completed successfully\nRegistered with the PlateSpin Server at http://"
    ));
    let id = source_id(&r.out);
    let source = get(&server, &format!("/sources/{id}"));
    assert_eq!(source["controllerService"], "running");
    assert_eq!(source["addedBy"], "agent", "{source}");
    assert!(source["driver"]["installedVersion"].is_null());

    // Install the server's latest driver (the sample set's windows-x64 8.0.0.12), no reboot.
    let r = agent(&dir, &["din", &ps]).ok();
    assert!(
        r.out
            .contains("Step 3 of 5: Downloading the PlateSpin driver package 8.0.0.12\n   Done\n"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("Step 5 of 5: Reporting the driver state to the PlateSpin Server at http://"),
        "{}",
        r.out
    );
    // Not a terminal: no progress bar on stderr.
    assert_eq!(r.err, "");
    // The agent asks for no body back (Prefer: return=minimal) and gets none.
    let journal: Value = http()
        .get(format!("http://{}/_emu/requests", server.addr))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let reports: Vec<&Value> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PUT" && r["path"].as_str().unwrap().ends_with("/driverState"))
        .collect();
    assert!(!reports.is_empty(), "{journal}");
    assert!(reports.iter().all(|r| r["status"] == 204), "{reports:?}");

    let r = agent(&dir, &["status"]).ok();
    assert!(
        r.out.ends_with(&format!(
            "    The PlateSpin Controller service is running\n{}",
            driver_block("8.0.0.12", "Not running. Reboot to load the driver.", "No")
        )),
        "{}",
        r.out
    );
    let tasks = active_tasks(&server, &id);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["kind"], "RebootRequired");
    let source = get(&server, &format!("/sources/{id}"));
    assert_eq!(source["driver"]["installedVersion"], "8.0.0.12");
    assert_eq!(source["driver"]["rebootPending"], true);

    agent(&dir, &["reboot"]).ok();
    assert!(active_tasks(&server, &id).is_empty());
    let all = get(&server, &format!("/tasks?sourceId={id}"));
    assert_eq!(all["tasks"][0]["state"], "resolved");
    let source = get(&server, &format!("/sources/{id}"));
    assert_eq!(source["driver"]["runningVersion"], "8.0.0.12");
    assert_eq!(source["serverSyncRequired"], true);
    let r = agent(&dir, &["status"]).ok();
    assert!(
        r.out.ends_with(&driver_block("8.0.0.12", "8.0.0.12", "No")),
        "{}",
        r.out
    );

    // Uninstalling never asks the server for packages, but tells it: a removal task.
    let r = agent(&dir, &["dun"]).ok();
    assert!(
        r.out.contains("Step 3 of 3: Reporting the driver state"),
        "{}",
        r.out
    );
    let tasks = active_tasks(&server, &id);
    assert!(
        tasks[0]["message"].as_str().unwrap().contains("removal"),
        "{tasks:?}"
    );

    // Registering again is idempotent: the same source, a fresh token that works.
    let r = agent(&dir, &["register", &ps]).ok();
    assert!(r.out.contains("Registered again with"), "{}", r.out);
    assert_eq!(source_id(&r.out), id);
    agent(&dir, &["reboot"]).ok();
    assert!(active_tasks(&server, &id).is_empty());
    assert_eq!(get(&server, "/sources")["totalCount"], 1);
}

#[test]
fn a_driver_installed_before_registering_shows_up_at_once() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    agent(tmp.path(), &["din", "--host-name", "WIN-EARLY"]).ok();
    let r = agent(
        tmp.path(),
        &["register", &format!("/psserver={}", server.addr)],
    )
    .ok();
    let id = source_id(&r.out);
    let source = get(&server, &format!("/sources/{id}"));
    assert_eq!(source["hostName"], "WIN-EARLY");
    assert_eq!(source["driver"]["installedVersion"], "8.0.0.11");
    assert_eq!(active_tasks(&server, &id).len(), 1);
}

#[test]
fn a_patched_server_offers_and_delivers_an_upgrade() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ps = format!("/psserver={}", server.addr);
    let id = source_id(&agent(dir, &["register", &ps]).ok().out);
    agent(dir, &["din", &ps]).ok();
    agent(dir, &["reboot"]).ok();
    let r = agent(dir, &["status", &ps]).ok();
    assert!(
        r.out.ends_with(&driver_block("8.0.0.12", "8.0.0.12", "No")),
        "{}",
        r.out
    );
    // Already the latest: refused, nothing downloaded, nothing changed.
    let r = agent(dir, &["dup", &ps]).failed();
    assert!(r.out.contains("Step 2 of 5: Checking the installed PlateSpin driver\n   Failed: version 8.0.0.12 is not newer than the installed version 8.0.0.12: the installed driver is already the latest (the latest on the PlateSpin Server at http://"), "{}", r.out);
    assert!(!r.out.contains("Downloading"));

    // Patch the server with 8.0.0.13.
    let v13 = DriverVersion::new(8, 0, 0, 13);
    let reply = http()
        .post(server.api("/driverPackages?platform=windows-x64&version=8.0.0.13"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("content-type", "application/zip")
        .body(build_bytes(Platform::WindowsX64, v13))
        .send()
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.text().unwrap());

    let r = agent(dir, &["status", &ps]).ok();
    assert!(
        r.out
            .contains("Step 3 of 3: Querying the PlateSpin Server at http://"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .ends_with(&driver_block("8.0.0.12", "8.0.0.12", "Yes")),
        "{}",
        r.out
    );
    // Without /psserver= the agent compares with its bundled 8.0.0.11.
    let r = agent(dir, &["status"]).ok();
    assert!(r.out.ends_with("    Upgrade Available: No\n"), "{}", r.out);

    let r = agent(dir, &["driver-upgrade", &ps]).ok();
    assert!(
        r.out
            .contains("Downloading the PlateSpin driver package 8.0.0.13\n   Done\n"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("Upgrading the PlateSpin driver to 8.0.0.13\n   Done\n"),
        "{}",
        r.out
    );
    let r = agent(dir, &["status", &ps]).ok();
    assert!(
        r.out.ends_with(&driver_block(
            "8.0.0.13",
            "8.0.0.12. Reboot to load the installed driver.",
            "No"
        )),
        "{}",
        r.out
    );
    let tasks = active_tasks(&server, &id);
    assert!(
        tasks[0]["message"].as_str().unwrap().contains("upgrade"),
        "{tasks:?}"
    );
    agent(dir, &["reboot"]).ok();
    assert!(active_tasks(&server, &id).is_empty());
}

#[test]
fn a_linux_machine_loads_at_once_and_needs_no_reboot_task() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let ps = format!("/psserver={}", server.addr);
    let r = agent(tmp.path(), &["register", &ps, "--os", "linux"]).ok();
    let id = source_id(&r.out);
    agent(tmp.path(), &["din", &ps]).ok();
    let source = get(&server, &format!("/sources/{id}"));
    assert_eq!(source["platform"], "linux-x64");
    assert_eq!(source["driver"]["runningVersion"], "8.0.0.11");
    assert!(active_tasks(&server, &id).is_empty());
}

#[test]
fn server_failures_are_explained() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let r = agent(
        dir,
        &[
            "register",
            &format!("/psserver={}", server.addr),
            "/password=wrong",
        ],
    )
    .failed();
    assert!(
        r.out.contains("   Failed: the PlateSpin Server at http://"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("refused the credentials of user \"administrator\" (401 Unauthorized)"),
        "{}",
        r.out
    );
    // Nothing was stored: a later change reports nowhere.
    assert!(
        !std::fs::read_to_string(dir.join("machine.json"))
            .unwrap()
            .contains("agentToken")
    );

    // https to a plain-HTTP server: a TLS error, named as such.
    let r = agent(
        dir,
        &["status", &format!("/psserver=https://{}", server.addr)],
    )
    .failed();
    assert!(
        r.out.contains(&format!(
            "TLS error talking to the PlateSpin Server at https://{}",
            server.addr
        )),
        "{}",
        r.out
    );

    // A usage error from the real binary.
    let r = agent(dir, &["driver-instal"]);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains("unknown command \"driver-instal\""),
        "{}",
        r.err
    );
    // No arguments at all: a usage error too, the usage on stderr and nothing on stdout.
    let r = agent(dir, &[]);
    assert_eq!((r.code, r.out.as_str()), (2, ""), "{}", r.err);
    assert!(
        r.err
            .starts_with("migrate-agent: give a command\n\nUsage: migrate-agent <command>"),
        "{}",
        r.err
    );
    // The help asked for: stdout, exit 0.
    let r = agent(dir, &["help"]).ok();
    assert!(
        r.out.starts_with("Usage: migrate-agent <command>"),
        "{}",
        r.out
    );
    assert_eq!(r.err, "");

    // A server that lost the machine's registration refuses its token; the agent says so.
    let ps = format!("/psserver={}", server.addr);
    let id = source_id(&agent(dir, &["register", &ps]).ok().out);
    let reply = http()
        .delete(server.api(&format!("/sources/{id}")))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .unwrap();
    assert!(reply.status().is_success());
    let r = agent(dir, &["din"]).failed();
    assert!(
        r.out
            .contains("the driver was changed here, but the server was not told"),
        "{}",
        r.out
    );
    assert!(r.out.contains("register the machine again"), "{}", r.out);
}

/// How the fake server misbehaves when serving the package's content.
#[derive(Clone, Copy)]
enum Fault {
    /// Advertise a SHA-256 that the bytes do not have.
    WrongChecksum,
    /// Promise the full length, send half, hang up.
    CutShort,
}

/// A one-thread HTTP server that answers the agent's two requests for a windows-x64 8.0.0.13
/// package and misbehaves as told. Returns its address.
fn fake_server(fault: Fault) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let bytes = build_bytes(Platform::WindowsX64, DriverVersion::new(8, 0, 0, 13));
    let sha = match fault {
        Fault::WrongChecksum => hex::encode(Sha256::digest(b"something else")),
        Fault::CutShort => hex::encode(Sha256::digest(&bytes)),
    };
    // The package as the server describes one: the wire contract's own view.
    let package = DriverPackage {
        id: uuid::Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0013),
        platform: Platform::WindowsX64,
        version: DriverVersion::new(8, 0, 0, 13),
        size: bytes.len() as u64,
        sha256: sha,
        origin: PackageOrigin::Upload,
        file_name: String::new(),
        file_mtime: String::new(),
        created_at: chrono::Utc::now(),
    };
    let info = serde_json::to_string(&PackageView::new(common::API, &package, true)).unwrap();
    assert!(info.contains(
        r#""href":"/MigrateApi/2019.8/driverPackages/00000000-0000-4000-8000-000000000013/content""#
    ));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut head).unwrap() > 2 && !head.ends_with("\r\n\r\n") {}
            let (body, length) = if head.contains("/latest?platform=windows-x64") {
                (info.as_bytes().to_vec(), info.len())
            } else {
                match fault {
                    Fault::WrongChecksum => (bytes.clone(), bytes.len()),
                    Fault::CutShort => (bytes[..bytes.len() / 2].to_vec(), bytes.len()),
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(&body);
            let _ = stream.flush();
            // Let the client see the end of the stream, then drain what it may still send.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = reader.read_to_end(&mut Vec::new());
        }
    });
    addr
}

#[test]
fn a_tampered_download_is_refused_and_nothing_is_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let addr = fake_server(Fault::WrongChecksum);
    let r = agent(tmp.path(), &["din", &format!("/psserver={addr}")]).failed();
    assert!(r.out.contains("Step 3 of 4: Downloading the PlateSpin driver package 8.0.0.13\n   Failed: the download of driver package 8.0.0.13 (windows-x64) was refused: its SHA-256 is "), "{}", r.out);
    assert!(!r.out.contains("Step 4 of 4"));
    let r = agent(tmp.path(), &["status"]).ok();
    assert!(
        r.out
            .ends_with(&driver_block("Not installed", "Not running", "No")),
        "{}",
        r.out
    );
}

#[test]
fn a_download_cut_short_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let addr = fake_server(Fault::CutShort);
    let r = agent(tmp.path(), &["din", &format!("/psserver={addr}")]).failed();
    assert!(
        r.out.contains(
            "   Failed: the download of driver package 8.0.0.13 (windows-x64) was cut short"
        ),
        "{}",
        r.out
    );
    let r = agent(tmp.path(), &["status"]).ok();
    assert!(
        r.out.contains("Installed Driver Version: Not installed"),
        "{}",
        r.out
    );
}
